import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';

// Close the conversation, or hand it to a team or a colleague (by name).
export function ConversationControls({ link, conv, agent }) {
  const [open, setOpen] = useState(false);
  const [team, setTeam] = useState('');
  const [colleague, setColleague] = useState('');
  const submit = (event) => {
    event.preventDefault();
    if (!team.trim() && !colleague.trim()) return;
    link.transfer(conv.id, { team: team.trim(), agent: colleague.trim() });
    setOpen(false);
  };
  return html`<div class="controls">
    <button type="button" onClick=${() => link.close(conv.id)}>${t('conversation.close')}</button>
    <button type="button" aria-expanded=${open ? 'true' : 'false'} aria-controls="transfer-form"
      onClick=${() => setOpen(!open)}>${t('transfer.open')}</button>
    ${open && html`<form id="transfer-form" class="transfer" onSubmit=${submit}>
      <label for="transfer-team">${t('transfer.team')}</label>
      <input id="transfer-team" list="transfer-teams" value=${team} onInput=${(e) => setTeam(e.currentTarget.value)} />
      <datalist id="transfer-teams">${(agent?.teams || []).map((name) => html`<option value=${name}></option>`)}</datalist>
      <label for="transfer-agent">${t('transfer.agent')}</label>
      <input id="transfer-agent" value=${colleague} onInput=${(e) => setColleague(e.currentTarget.value)} />
      <button type="submit" disabled=${!team.trim() && !colleague.trim()}>${t('transfer.submit')}</button>
    </form>`}
  </div>`;
}
