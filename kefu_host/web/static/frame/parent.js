// The frame's side of the postMessage link with widget.js on the embedding page.
// Messages count only from the window that framed us AND from the origin the host checked (the page's
// ?origin=, which the CSP's frame-ancestors also pins); everything we post goes to that origin only.
export function parentLink(parentOrigin, onMessage) {
  const framed = window.parent !== window;
  window.addEventListener('message', (event) => {
    if (!framed || event.source !== window.parent || event.origin !== parentOrigin) return;
    const data = event.data;
    if (!data || data.kefu !== 1 || typeof data.type !== 'string') return;
    onMessage(data);
  });
  return {
    framed,
    post(message) {
      if (framed) window.parent.postMessage({ kefu: 1, ...message }, parentOrigin);
    },
  };
}
