import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';

// Close the conversation, or hand it to a team or a colleague. Opening the transfer form asks the host where it
// may go (GET /api/agent/targets): every team with its agents online, and the colleagues with a console open.
export function ConversationControls({ link, conv, agent }) {
  const [open, setOpen] = useState(false);
  const [team, setTeam] = useState('');
  const [colleague, setColleague] = useState('');
  const [targets, setTargets] = useState(null);
  useEffect(() => {
    if (!open) return undefined;
    let live = true;
    link.transferTargets().then((found) => live && setTargets(found), (error) => {
      console.warn(error);
      if (live) setTargets({ teams: (agent?.teams || []).map((name) => ({ name })), agents: [], failed: true });
    });
    return () => {
      live = false;
    };
  }, [open]);
  const submit = (event) => {
    event.preventDefault();
    if (!team.trim() && !colleague.trim()) return;
    link.transfer(conv.id, { team: team.trim(), agent: colleague.trim() });
    setOpen(false);
  };
  const teams = targets ? targets.teams : (agent?.teams || []).map((name) => ({ name }));
  const colleagues = targets ? targets.agents : [];
  return html`<div class="controls">
    <button type="button" onClick=${() => link.close(conv.id)}>${t('conversation.close')}</button>
    <button type="button" aria-expanded=${open ? 'true' : 'false'} aria-controls="transfer-form"
      onClick=${() => setOpen(!open)}>${t('transfer.open')}</button>
    ${open && html`<form id="transfer-form" class="transfer" onSubmit=${submit}>
      <label for="transfer-team">${t('transfer.team')}</label>
      <input id="transfer-team" list="transfer-teams" value=${team} onInput=${(e) => setTeam(e.currentTarget.value)} />
      <datalist id="transfer-teams">${teams.map((target) => html`<option value=${target.name}>
        ${target.agents_online == null ? target.name : t('transfer.team_online', target)}</option>`)}</datalist>
      <label for="transfer-agent">${t('transfer.agent')}</label>
      <input id="transfer-agent" list="transfer-agents" value=${colleague}
        onInput=${(e) => setColleague(e.currentTarget.value)} />
      <datalist id="transfer-agents">${colleagues.map((target) => html`<option value=${target.name}></option>`)}
      </datalist>
      <button type="submit" disabled=${!team.trim() && !colleague.trim()}>${t('transfer.submit')}</button>
      ${targets && html`<div class="targets">
        <p class="hint">${colleagues.length ? t('transfer.colleagues') : t('transfer.no_colleagues')}</p>
        ${colleagues.length > 0 && html`<ul aria-label=${t('transfer.colleagues')}>${colleagues.map((target) => html`
          <li key=${target.name} data-agent=${target.name}>
            <button type="button" class="link" aria-pressed=${colleague === target.name ? 'true' : 'false'}
              onClick=${() => setColleague(target.name)}>${target.name}</button>
            <span class=${`presence ${target.presence}`}>${t(`presence.${target.presence}`)}</span>
            <span class="hint">${target.teams.join(', ')}</span>
          </li>`)}</ul>`}
      </div>`}
    </form>`}
  </div>`;
}
