import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';
import { LangSwitch } from '../shared/lang_switch.js';
import { alertsReady, enableAlerts } from './alerts.js';
import { ConnectionStatus } from './connection_status.js';
import { PresenceSwitch } from './presence_switch.js';

export function Header({ link, state, me, page, onPage, onSignOut }) {
  const [, rerender] = useState(0);
  const enable = async () => {
    await enableAlerts();
    rerender((n) => n + 1);
  };
  const tab = (name, label) => html`<button type="button" class=${`tab${page === name ? ' current' : ''}`}
    aria-pressed=${page === name ? 'true' : 'false'} onClick=${() => onPage(name)}>${label}</button>`;
  return html`<header class="topbar">
    <h1>${t('app.title')}</h1>
    <span class="agent-name">${state.agent ? state.agent.name : me.agent.name}</span>
    <span class="pages" role="group" aria-label=${t('nav.label')}>
      ${tab('conversations', t('nav.conversations'))}${tab('canned', t('nav.canned'))}
      ${me.agent.is_admin && tab('rules', t('nav.rules'))}</span>
    <${ConnectionStatus} connection=${state.connection} onRetry=${() => link.socket.retryNow()} />
    <${PresenceSwitch} presence=${state.presence} disabled=${state.connection.state !== 'open'}
      onChange=${(status) => link.setPresence(status)} />
    ${!alertsReady() && html`<button type="button" onClick=${enable}>${t('alerts.enable')}</button>`}
    <${LangSwitch} />
    <button type="button" onClick=${onSignOut}>${t('signout')}</button>
  </header>`;
}
