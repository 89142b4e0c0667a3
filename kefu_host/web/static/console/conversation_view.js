import { html } from 'htm/preact';
import { useCallback, useMemo, useState } from 'preact/hooks';
import { Composer } from '../shared/composer.js';
import { t } from '../shared/i18n.js';
import { MessageList } from '../shared/message_list.js';
import { TypingNote } from '../shared/typing.js';
import { cannedSuggest } from './canned.js';
import { ConversationControls } from './conversation_controls.js';
import { customerName } from './names.js';
import { RatingBadge } from './rating_badge.js';
import { MINE } from './state.js';

export function ConversationView({ link, conv, agent, canned }) {
  const [noting, setNoting] = useState(false);
  const suggest = useMemo(() => cannedSuggest(canned || []), [canned]);
  const name = customerName(conv);
  const who = (item) => {
    if (item.sender === 'visitor') return name;
    if (item.sender === 'agent') return item.sender_id && item.sender_id !== agent?.name ? item.sender_id : t('who.me');
    return t('who.system');
  };
  const onOlder = useCallback(() => link.loadOlder(conv.id), [link, conv.id]);
  return html`<section class="conversation-view" aria-labelledby="conversation-title">
    <header class="conversation-head">
      <h2 id="conversation-title">${name} <small>#${conv.id}</small></h2>
      ${conv.ended ? html`<p class="ended" role="status">${t(`ended.${conv.ended}`)}</p>`
        : html`<${ConversationControls} link=${link} conv=${conv} agent=${agent} />`}
    </header>
    ${conv.rating && html`<p class="conversation-rating" role="status"><${RatingBadge} rating=${conv.rating} comment />
      </p>`}
    ${conv.tags?.includes('offline') && html`<p class="offline-note">${t('conversation.offline')}</p>`}
    ${conv.history === 'failed' && html`<p class="error" role="alert">${t('history.failed')}</p>`}
    <${MessageList} items=${conv.transcript.items} mine=${MINE} who=${who} label=${t('transcript.label', { name })}
      files=${link.files} older=${conv.older} onOlder=${onOlder}
      onRetry=${(clientMsgId) => link.retry(conv.id, clientMsgId)} />
    <${TypingNote} until=${conv.typingUntil} text=${t('typing.visitor', { name })} />
    <${Composer} id="agent-composer" disabled=${!conv.active}
      placeholder=${noting ? t('composer.placeholder_note') : t('composer.placeholder_agent')}
      note=${{ on: noting, onToggle: setNoting }}
      onSend=${(body) => link.send(conv.id, body, { note: noting })}
      onTyping=${() => !noting && link.typing(conv.id)}
      onAttach=${(file) => link.attach(conv.id, file)} suggest=${suggest} />
  </section>`;
}
