import { html } from 'htm/preact';
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import { AttachmentView } from './attachment_view.js';
import { t } from './i18n.js';

function time(iso) {
  if (!iso) return '';
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? '' : at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function StateMark({ item, onRetry }) {
  if (item.state === 'stored') return html`<span class="state stored">${t('msg.stored')}</span>`;
  if (item.state === 'pending') return html`<span class="state pending">${t('msg.pending')}</span>`;
  return html`<span class="state failed">${t('msg.failed', { code: item.error || '?' })}
    <button type="button" class="link" onClick=${() => onRetry(item.client_msg_id)}>${t('msg.retry')}</button></span>`;
}

function Body({ item, files }) {
  if (item.kind === 'attachment' && item.attachment) {
    return html`<${AttachmentView} attachment=${item.attachment} files=${files} />`;
  }
  if (item.kind === 'attachment') return html`<p class="body file-name">${item.body}</p>`; // still uploading
  return html`<p class="body">${item.body}</p>`;
}

// Older history at the top of the list: loaded by itself when scrolled into view, or with the button.
function Older({ older, onOlder, root }) {
  const mark = useRef(null);
  useEffect(() => {
    if (older !== 'more' || !mark.current || !root.current) return undefined;
    const seen = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) onOlder();
    }, { root: root.current });
    seen.observe(mark.current);
    return () => seen.disconnect();
  }, [older, onOlder, root]);
  if (older === 'more') {
    return html`<p class="older" ref=${mark}><button type="button" class="link" onClick=${onOlder}>
      ${t('history.older')}</button></p>`;
  }
  if (older === 'loading') return html`<p class="older" role="status">${t('history.loading_older')}</p>`;
  if (older === 'failed') {
    return html`<p class="older error">${t('history.failed')}
      <button type="button" class="link" onClick=${onOlder}>${t('msg.retry')}</button></p>`;
  }
  if (older === 'none') return html`<p class="older start">${t('history.start')}</p>`;
  return null;
}

// The transcript. Bodies, names and file names are text nodes (htm children), never parsed as HTML.
// New messages at the end scroll it down; older ones put in at the top keep what the reader was looking at in place.
export function MessageList({ items, mine, who, label, onRetry, files, older = null, onOlder = null }) {
  const root = useRef(null);
  const end = useRef(null);
  const seen = useRef({ first: null, height: 0 });
  const last = items[items.length - 1];
  // before the browser paints: no frame shows the top of a long transcript (which would load older history)
  useLayoutEffect(() => {
    end.current?.scrollIntoView({ block: 'end' });
  }, [last?.key, last?.state]);
  useLayoutEffect(() => {
    const box = root.current;
    const first = items[0]?.key ?? null;
    if (box && seen.current.first !== null && first !== seen.current.first && last?.key === seen.current.last) {
      box.scrollTop += box.scrollHeight - seen.current.height; // older messages came in above
    }
    seen.current = { first, last: last?.key, height: box ? box.scrollHeight : 0 };
  });
  return html`<div class="messages" role="log" aria-live="polite" aria-label=${label} tabindex="0" ref=${root}>
    ${onOlder && html`<${Older} older=${older} onOlder=${onOlder} root=${root} />`}
    <ol>
    ${items.map((item) => {
      const own = item.sender === mine;
      const note = item.kind === 'note';
      return html`<li key=${item.key} class=${`msg from-${item.sender}${own ? ' own' : ''}${note ? ' note' : ''}`}
        data-state=${item.state} data-kind=${item.kind} data-seq=${item.seq ?? ''}
        data-client-msg-id=${item.client_msg_id ?? ''}>
        <span class="meta"><span class="who">${who(item)}</span>${note && html` <span class="note-label">
          ${t('note.label')}</span>`} <time>${time(item.created_at)}</time></span>
        <${Body} item=${item} files=${files} />
        ${own && html`<${StateMark} item=${item} onRetry=${onRetry} />`}
      </li>`;
    })}
  </ol><div class="end" ref=${end}></div></div>`;
}
