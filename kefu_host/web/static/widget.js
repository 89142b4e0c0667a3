/*! kefu-host widget loader: a chat bubble and the chat frame, for any web page.
 * <script src="https://HOST/widget.js" data-lang="zh" data-position="right" async></script>
 * API: kefu('open'), kefu('close'), kefu('toggle'), kefu('setUser', {id, hash, name, email}).
 * See docs/widget.md. Plain ES5-level JavaScript on purpose: it runs on other people's pages. */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || (window.kefu && window.kefu.loaded)) return;

  var host = new URL(script.src, location.href).origin; // the only origin whose messages count
  var options = script.dataset;
  var position = options.position === 'left' ? 'left' : 'right';
  var lang = options.lang === 'zh' || options.lang === 'en' ? options.lang
    : (navigator.language || '').toLowerCase().indexOf('zh') === 0 ? 'zh' : 'en';
  var words = {
    zh: { open: '打开在线客服', close: '关闭在线客服', frame: '在线客服', unread: '条未读消息' },
    en: { open: 'Open chat', close: 'Close chat', frame: 'Chat', unread: 'unread messages' }
  }[lang];
  var queued = window.kefu && Array.isArray(window.kefu.q) ? window.kefu.q : [];
  var state = { open: false, ready: false, user: null };
  var button, badge, frame;

  function css(element, rules) { // CSSOM properties, allowed under a strict style-src (no style attribute)
    for (var name in rules) element.style.setProperty(name, rules[name]);
  }

  function post(message) {
    if (!state.ready || !frame.contentWindow) return;
    message.kefu = 1;
    frame.contentWindow.postMessage(message, host);
  }

  function setOpen(open) {
    state.open = open;
    if (!frame) return;
    css(frame, { display: open ? 'block' : 'none' });
    button.setAttribute('aria-expanded', open ? 'true' : 'false');
    button.setAttribute('aria-label', open ? words.close : words.open);
    post({ type: open ? 'open' : 'close' });
    if (open) frame.focus();
  }

  function setUnread(count) {
    var n = typeof count === 'number' && count > 0 ? Math.min(Math.floor(count), 99) : 0;
    badge.textContent = n ? String(n) : '';
    badge.setAttribute('aria-label', n ? n + ' ' + words.unread : '');
    css(badge, { display: n ? 'block' : 'none' });
  }

  function cleanUser(user) {
    if (!user || typeof user !== 'object') return null;
    var out = {};
    ['id', 'hash', 'name', 'email'].forEach(function (key) {
      if (typeof user[key] === 'string') out[key] = user[key];
    });
    return out;
  }

  function bubbleIcon() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '28');
    svg.setAttribute('height', '28');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    var path = document.createElementNS(ns, 'path');
    path.setAttribute('fill', 'currentColor');
    path.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z');
    svg.appendChild(path);
    return svg;
  }

  function build() {
    var side = {};
    side[position] = '20px';
    button = document.createElement('button');
    button.type = 'button';
    button.className = 'kefu-bubble';
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-label', words.open);
    button.appendChild(bubbleIcon());
    css(button, Object.assign({
      position: 'fixed', bottom: '20px', width: '56px', height: '56px', 'border-radius': '50%', border: 'none',
      background: '#1d4ed8', color: '#fff', cursor: 'pointer', 'box-shadow': '0 4px 14px rgba(0,0,0,.25)',
      'z-index': '2147483000', display: 'flex', 'align-items': 'center', 'justify-content': 'center', padding: '0'
    }, side));
    badge = document.createElement('span');
    badge.className = 'kefu-unread';
    css(badge, {
      position: 'absolute', top: '-4px', right: '-4px', 'min-width': '20px', height: '20px', padding: '0 5px',
      'border-radius': '10px', background: '#b91c1c', color: '#fff', font: 'bold 12px/20px sans-serif',
      'text-align': 'center', display: 'none', 'box-sizing': 'border-box'
    });
    button.appendChild(badge);
    button.addEventListener('click', function () { setOpen(!state.open); });

    var query = '?origin=' + encodeURIComponent(location.origin) + '&lang=' + lang;
    frame = document.createElement('iframe');
    frame.src = host + '/widget/frame' + query;
    frame.title = words.frame;
    frame.className = 'kefu-frame';
    css(frame, Object.assign({
      position: 'fixed', bottom: '88px', width: '370px', height: '560px', 'max-width': 'calc(100vw - 40px)',
      'max-height': 'calc(100vh - 108px)', border: '1px solid #d1d5db', 'border-radius': '12px', background: '#fff',
      'box-shadow': '0 8px 30px rgba(0,0,0,.2)', 'z-index': '2147483000', display: 'none'
    }, side));
    document.body.appendChild(frame);
    document.body.appendChild(button);
  }

  window.addEventListener('message', function (event) {
    if (!frame || event.origin !== host || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (!data || data.kefu !== 1) return;
    if (data.type === 'ready') {
      state.ready = true;
      post({ type: 'init', user: state.user, open: state.open });
    } else if (data.type === 'unread') {
      setUnread(data.count);
    } else if (data.type === 'close') {
      setOpen(false);
    }
  });

  var commands = {
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    toggle: function () { setOpen(!state.open); },
    setUser: function (user) {
      state.user = cleanUser(user);
      post({ type: 'setUser', user: state.user });
    }
  };

  function kefu(command) {
    var run = commands[command];
    if (!run) {
      if (window.console) console.warn('kefu: unknown command ' + command);
      return;
    }
    run.apply(null, Array.prototype.slice.call(arguments, 1));
  }
  kefu.loaded = true;
  window.kefu = kefu;

  function start() {
    build();
    if (options.open === 'true') setOpen(true);
    for (var i = 0; i < queued.length; i++) kefu.apply(null, queued[i]);
  }
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
