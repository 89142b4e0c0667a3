import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from './i18n.js';

const MAX_BODY = 8000;

// The send box: Enter sends, Shift+Enter is a new line; Enter that confirms an IME composition (pinyin) does not.
export function Composer({ id, disabled = false, placeholder, onSend, onTyping }) {
  const [text, setText] = useState('');
  const submit = (event) => {
    event.preventDefault();
    const body = text.trim();
    if (!body || disabled) return;
    onSend(body);
    setText('');
  };
  const keyDown = (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) submit(event);
  };
  const input = (event) => {
    setText(event.currentTarget.value);
    onTyping?.();
  };
  return html`<form class="composer" onSubmit=${submit}>
    <label for=${id} class="visually-hidden">${t('composer.label')}</label>
    <textarea id=${id} rows="2" maxlength=${MAX_BODY} value=${text} placeholder=${placeholder}
      disabled=${disabled} onInput=${input} onKeyDown=${keyDown}></textarea>
    <button type="submit" disabled=${disabled || !text.trim()}>${t('composer.send')}</button>
  </form>`;
}
