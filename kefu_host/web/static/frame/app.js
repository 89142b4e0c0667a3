import { html } from 'htm/preact';
import { Composer } from '../shared/composer.js';
import { t, useLanguage } from '../shared/i18n.js';
import { LangSwitch } from '../shared/lang_switch.js';
import { MessageList } from '../shared/message_list.js';
import { useStore } from '../shared/store.js';
import { TypingNote } from '../shared/typing.js';
import { OfflineForm } from './offline_form.js';
import { RatingForm } from './rating_form.js';
import { identified } from './session.js';
import { MINE } from './state.js';
import { StatusLine } from './status_line.js';

export function App({ link }) {
  useLanguage();
  const state = useStore(link.store);
  const who = (item) => {
    if (item.sender === MINE) return t('who.you');
    if (item.sender === 'agent') return item.sender_id || t('who.agent');
    return t('who.system');
  };
  const live = state.status === 'queued' || state.status === 'assigned';
  // nobody of the visitor's team online and no chat going on: leave a message instead
  const offline = !live && state.agentsOnline === false && state.connection.state === 'open';
  const kept = state.status === 'queued' && state.agentsOnline === false;
  return html`<div class="widget">
    <header class="widget-head">
      <div class="titles">
        <h1>${t('widget.title')}</h1>
        <${StatusLine} state=${state} />
      </div>
      <${LangSwitch} id="widget-lang" />
      ${link.parent.framed && html`<button type="button" class="icon" aria-label=${t('widget.minimize')}
        onClick=${() => link.minimize()}>−</button>`}
    </header>
    <main class="widget-body">
      <${MessageList} items=${state.transcript.items} mine=${MINE} who=${who} label=${t('widget.transcript')}
        files=${link.files} onRetry=${(clientMsgId) => link.retry(clientMsgId)} />
      <${TypingNote} until=${state.typingUntil} text=${t('typing.agent')} />
      ${kept && html`<p class="kept-note" role="status">${t('offline.kept')}</p>`}
      ${state.status === 'closed' && html`<${RatingForm} key=${state.conversationId} state=${state}
        onRate=${(score, comment) => link.rate(score, comment)} />`}
      ${state.status === 'closed' && !offline && html`<p class="closed-note">${t('widget.closed_note')}</p>`}
      ${state.notice && html`<p class="error" role="alert">${t('notice.error', state.notice)}</p>`}
    </main>
    <footer class="widget-foot">
      ${offline ? html`<${OfflineForm} state=${state} identified=${identified(link.user)}
        onLeave=${(form) => link.leaveMessage(form)} />`
        : html`<${Composer} id="visitor-composer" placeholder=${t('composer.placeholder_visitor')}
        onSend=${(body) => link.send(body)} onTyping=${() => link.typing()}
        onAttach=${(file) => link.attach(file)} attachDisabled=${state.conversationId === null} />`}
      ${live && html`<button type="button" class="link end-chat" onClick=${() => link.endChat()}>
        ${t('widget.end_chat')}</button>`}
    </footer>
  </div>`;
}
