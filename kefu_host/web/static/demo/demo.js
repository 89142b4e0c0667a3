// The queue stub a page puts before widget.js, so kefu(...) works before the widget has loaded.
window.kefu = window.kefu || function () {
  (window.kefu.q = window.kefu.q || []).push(Array.prototype.slice.call(arguments));
};

document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('[data-kefu-open]').forEach(function (button) {
    button.addEventListener('click', function () { window.kefu('open'); });
  });
});
