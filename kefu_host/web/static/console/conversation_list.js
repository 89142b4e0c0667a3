import { html } from 'htm/preact';
import { t } from '../shared/i18n.js';
import { customerName } from './names.js';
import { QueueList } from './queue_list.js';
import { RatingBadge } from './rating_badge.js';

function Item({ conv, selected, onSelect }) {
  const last = conv.transcript.items[conv.transcript.items.length - 1];
  return html`<li>
    <button type="button" class=${`conv-item${selected ? ' selected' : ''}`} aria-current=${selected ? 'true' : 'false'}
      data-conversation-id=${conv.id} onClick=${() => onSelect(conv.id)}>
      <span class="conv-name">${customerName(conv)}</span>
      ${conv.customer?.vip_level > 0 && html`<span class="vip">${t('customer.vip', { level: conv.customer.vip_level })}</span>`}
      ${conv.unread > 0 && html`<span class="unread" aria-label=${t('list.unread', { count: conv.unread })}>${conv.unread}</span>`}
      <${RatingBadge} rating=${conv.rating} />
      <span class="conv-meta">${conv.ended ? t(`ended.${conv.ended}`) : `#${conv.id} · ${conv.team ?? ''}`}</span>
      <span class="conv-last">${last ? last.body : ''}</span>
    </button>
  </li>`;
}

export function ConversationList({ state, onSelect, onTake }) {
  const convs = state.order.map((id) => state.conversations[id]);
  const active = convs.filter((c) => c.active);
  const ended = convs.filter((c) => !c.active);
  const list = (items) => html`<ul class="conv-list">${items.map((c) => html`<${Item} key=${c.id} conv=${c}
    selected=${c.id === state.selected} onSelect=${onSelect} />`)}</ul>`;
  return html`
    <h2>${t('list.mine', { count: active.length })}</h2>
    ${active.length ? list(active) : html`<p class="empty">${t('list.empty')}</p>`}
    <${QueueList} state=${state} onTake=${onTake} />
    ${ended.length > 0 && html`<h2>${t('list.ended')}</h2>${list(ended)}`}`;
}
