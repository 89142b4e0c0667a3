import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from './i18n.js';

const MAX_BODY = 8000;

// A file picker styled as a button: choosing a file hands it to onFile at once (the same file may be chosen again).
function AttachButton({ id, disabled, onFile }) {
  const chosen = (event) => {
    const input = event.currentTarget;
    const file = input.files && input.files[0];
    input.value = '';
    if (file) onFile(file);
  };
  return html`<span class="attach">
    <input type="file" id=${id} class="visually-hidden" disabled=${disabled} onChange=${chosen} />
    <label for=${id} class=${`attach-button${disabled ? ' disabled' : ''}`}>${t('composer.attach')}</label>
  </span>`;
}

// The send box: Enter sends, Shift+Enter is a new line; Enter that confirms an IME composition (pinyin) does not.
// `note` ({on, onToggle}) adds the private-note switch (the console); `onAttach` a file picker.
export function Composer({ id, disabled = false, placeholder, onSend, onTyping, note = null, onAttach = null,
  attachDisabled = false }) {
  const [text, setText] = useState('');
  const noting = Boolean(note && note.on);
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
  return html`<form class=${`composer${noting ? ' note-mode' : ''}`} onSubmit=${submit}>
    ${onAttach && html`<${AttachButton} id=${`${id}-file`} disabled=${disabled || attachDisabled}
      onFile=${onAttach} />`}
    <label for=${id} class="visually-hidden">${noting ? t('note.label') : t('composer.label')}</label>
    <textarea id=${id} rows="2" maxlength=${MAX_BODY} value=${text} placeholder=${placeholder}
      disabled=${disabled} onInput=${input} onKeyDown=${keyDown}></textarea>
    <div class="composer-actions">
      ${note && html`<label class="note-toggle"><input type="checkbox" checked=${noting} disabled=${disabled}
        onChange=${(event) => note.onToggle(event.currentTarget.checked)} /> ${t('composer.note_toggle')}</label>`}
      <button type="submit" disabled=${disabled || !text.trim()}>
        ${noting ? t('composer.add_note') : t('composer.send')}</button>
    </div>
  </form>`;
}
