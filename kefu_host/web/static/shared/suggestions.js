import { html } from 'htm/preact';
import { t } from './i18n.js';

// The list under the send box that `/` opens (canned replies): a listbox the text box drives with the arrow keys
// (aria-activedescendant), so the focus never leaves what the agent is typing. Options are text only.
export function Suggestions({ id, items, active, onPick }) {
  return html`<div class="suggestions">
    <ul id=${id} role="listbox" aria-label=${t('canned.list')}>
      ${items.map((item, n) => html`<li id=${`${id}-${n}`} key=${item.id} role="option"
        aria-selected=${n === active ? 'true' : 'false'} class=${n === active ? 'active' : ''}
        onMouseDown=${(event) => {
          event.preventDefault(); // keep the focus in the text box
          onPick(item);
        }}>
        <span class="suggestion-label">${item.label}</span>
        ${item.tag && html`<span class="suggestion-tag">${item.tag}</span>`}
        <span class="suggestion-detail">${item.detail}</span>
      </li>`)}
    </ul>
    <p class="visually-hidden" role="status">${t('canned.count', { count: items.length })}</p>
  </div>`;
}
