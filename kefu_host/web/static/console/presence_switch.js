import { html } from 'htm/preact';
import { t } from '../shared/i18n.js';

// online: takes new conversations; away: keeps its conversations, gets no new ones.
export function PresenceSwitch({ presence, disabled, onChange }) {
  return html`<span class="presence">
    <label for="presence">${t('presence.label')}</label>
    <select id="presence" value=${presence} disabled=${disabled} onChange=${(e) => onChange(e.currentTarget.value)}>
      <option value="online">${t('presence.online')}</option>
      <option value="away">${t('presence.away')}</option>
    </select>
  </span>`;
}
