import { html } from 'htm/preact';
import { t } from '../shared/i18n.js';

function waitingName(entry) {
  return entry.customer.name || t('customer.anonymous', { id: entry.customer.id });
}

function Waiting({ entry, onTake }) {
  const last = entry.last_message;
  return html`<li class="queue-item" data-conversation-id=${entry.conversation_id}>
    <span class="conv-name">${waitingName(entry)}</span>
    ${entry.customer.vip_level > 0 && html`<span class="vip">${t('customer.vip', { level: entry.customer.vip_level })}</span>`}
    ${entry.unread > 0 && html`<span class="unread" aria-label=${t('list.unread', { count: entry.unread })}>
      ${entry.unread}</span>`}
    <span class="conv-last">${last ? last.body : ''}</span>
    <button type="button" class="take" aria-label=${t('queue.take_one', { name: waitingName(entry) })}
      onClick=${() => onTake(entry.conversation_id)}>${t('queue.take')}</button>
  </li>`;
}

// "My teams' queues": what waits in each of the agent's teams, as the host's `queues` frames say, with a Take
// button (the host refuses it when the chat was just given to someone else, or this agent is full).
export function QueueList({ state, onTake }) {
  const teams = state.teams.filter((team) => state.queues[team]);
  if (!teams.length) return null;
  return html`<section class="queues" aria-labelledby="queues-title">
    <h2 id="queues-title">${t('queue.title')}</h2>
    ${teams.map((team) => {
      const queue = state.queues[team];
      return html`<div class="queue" key=${team} data-team=${team}>
        <h3><span>${team}</span> <span class="queue-count" aria-label=${t('queue.count', { count: queue.count })}>
          ${queue.count}</span></h3>
        ${queue.waiting.length > 0 && html`<ul class="conv-list">${queue.waiting.map((entry) => html`<${Waiting}
          key=${entry.conversation_id} entry=${entry} onTake=${onTake} />`)}</ul>`}
      </div>`;
    })}
  </section>`;
}
