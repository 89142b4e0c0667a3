import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from './i18n.js';
import { Suggestions } from './suggestions.js';

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
// `note` ({on, onToggle}) adds the private-note switch (the console); `onAttach` a file picker. `suggest(text)`
// returns what the text may be replaced with ([{id, label, detail, tag, value}], or null for nothing to offer):
// a list under the box, Up/Down to choose, Enter (or a click) to put the choice in the box, Escape to close it.
export function Composer({ id, disabled = false, placeholder, onSend, onTyping, note = null, onAttach = null,
  attachDisabled = false, suggest = null }) {
  const [text, setText] = useState('');
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState(null); // the text the list was closed for with Escape
  const noting = Boolean(note && note.on);
  const offered = suggest && text !== dismissed ? suggest(text) : null;
  const open = Boolean(offered && offered.length);
  const listId = `${id}-suggestions`;
  const pick = (item) => {
    setText(item.value);
    setDismissed(item.value);
    setActive(0);
  };
  const submit = (event) => {
    event.preventDefault();
    const body = text.trim();
    if (!body || disabled) return;
    onSend(body);
    setText('');
  };
  const keyDown = (event) => {
    if (open && !event.isComposing) {
      const moves = { ArrowDown: 1, ArrowUp: -1 };
      if (event.key in moves) {
        event.preventDefault();
        setActive((active + moves[event.key] + offered.length) % offered.length);
        return;
      }
      if (event.key === 'Enter') {
        event.preventDefault();
        pick(offered[Math.min(active, offered.length - 1)]);
        return;
      }
      if (event.key === 'Escape') {
        event.preventDefault();
        setDismissed(text);
        return;
      }
    }
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) submit(event);
  };
  const input = (event) => {
    setText(event.currentTarget.value);
    setActive(0);
    onTyping?.();
  };
  return html`<form class=${`composer${noting ? ' note-mode' : ''}`} onSubmit=${submit}>
    ${onAttach && html`<${AttachButton} id=${`${id}-file`} disabled=${disabled || attachDisabled}
      onFile=${onAttach} />`}
    <label for=${id} class="visually-hidden">${noting ? t('note.label') : t('composer.label')}</label>
    ${open && html`<${Suggestions} id=${listId} items=${offered} active=${Math.min(active, offered.length - 1)}
      onPick=${pick} />`}
    <textarea id=${id} rows="2" maxlength=${MAX_BODY} value=${text} placeholder=${placeholder}
      disabled=${disabled} onInput=${input} onKeyDown=${keyDown}
      aria-autocomplete=${suggest ? 'list' : undefined} aria-controls=${open ? listId : undefined}
      aria-activedescendant=${open ? `${listId}-${Math.min(active, offered.length - 1)}` : undefined}></textarea>
    <div class="composer-actions">
      ${note && html`<label class="note-toggle"><input type="checkbox" checked=${noting} disabled=${disabled}
        onChange=${(event) => note.onToggle(event.currentTarget.checked)} /> ${t('composer.note_toggle')}</label>`}
      <button type="submit" disabled=${disabled || !text.trim()}>
        ${noting ? t('composer.add_note') : t('composer.send')}</button>
    </div>
  </form>`;
}
