import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';

// "... is typing" while `until` (a Date.now() value) lies ahead; hides itself when it passes.
export function TypingNote({ until, text }) {
  const [, tick] = useState(0);
  const left = until - Date.now();
  useEffect(() => {
    if (left <= 0) return undefined;
    const timer = setTimeout(() => tick((n) => n + 1), left + 50);
    return () => clearTimeout(timer);
  }, [until]);
  return html`<p class="typing" aria-live="polite">${left > 0 ? text : ''}</p>`;
}
