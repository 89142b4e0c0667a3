import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';
import { ActionPanels } from './action_panels.js';
import { CannedPage } from './canned_page.js';
import { ConversationList } from './conversation_list.js';
import { ConversationView } from './conversation_view.js';
import { CustomerPanel } from './customer_panel.js';
import { Header } from './header.js';
import { RulesPage } from './rules_page.js';

export function Workspace({ link, state, me, api, onSignOut }) {
  const [page, setPage] = useState('conversations'); // 'canned', or 'rules' (admins)
  const selected = state.selected != null ? state.conversations[state.selected] : null;
  const shown = page === 'rules' && !me.agent.is_admin ? 'conversations' : page;
  return html`<div class="workspace">
    <${Header} link=${link} state=${state} me=${me} page=${shown} onPage=${setPage} onSignOut=${onSignOut} />
    ${state.notice && html`<div class="notice" role="alert">
      <span>${t('notice.error', { code: state.notice.code, message: state.notice.message })}</span>
      <button type="button" class="link" onClick=${() => link.store.dispatch({ type: 'dismiss_notice' })}>
        ${t('notice.dismiss')}</button></div>`}
    <nav class="conversations" aria-label=${t('list.label')}>
      <${ConversationList} state=${state} onSelect=${(id) => {
        link.select(id);
        setPage(shown === 'canned' ? 'conversations' : shown);
      }} onTake=${(id) => link.take(id)} />
    </nav>
    <main class="conversation">
      ${shown === 'rules' ? html`<${RulesPage} api=${api} conv=${selected} />`
        : shown === 'canned' ? html`<${CannedPage} link=${link} replies=${state.canned} teams=${state.teams} />`
        : selected ? html`<${ConversationView} link=${link} conv=${selected} agent=${state.agent}
            canned=${state.canned} />`
          : html`<p class="empty">${t('conversation.none')}</p>`}
    </main>
    <aside class="side" aria-label=${t('side.label')}>
      <${CustomerPanel} conv=${selected} />
      <${ActionPanels} link=${link} actions=${state.actions} results=${state.results} conv=${selected} />
    </aside>
  </div>`;
}
