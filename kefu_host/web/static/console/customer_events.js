import { html } from 'htm/preact';
import { t } from '../shared/i18n.js';

const DETAIL_CHARS = 160;

function label(type) {
  const key = `event.${type}`;
  const text = t(key);
  return text === key ? type : text;
}

// The event's own fields, as plain `name: value` text (not its nested objects, not the customer's uid).
function details(data) {
  const parts = Object.entries(data || {})
    .filter(([key, value]) => key !== 'uid' && (value === null || typeof value !== 'object'))
    .map(([key, value]) => `${key}: ${value}`);
  const text = parts.join(' · ');
  return text.length > DETAIL_CHARS ? `${text.slice(0, DETAIL_CHARS - 1)}…` : text;
}

function when(iso) {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? '' : at.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit',
    minute: '2-digit' });
}

// The customer's recent business events (logins, orders, payments, tickets...), newest first; those that arrived
// while the console was open are marked.
export function CustomerEvents({ events, fresh }) {
  if (events === null) return null;
  const isFresh = new Set(fresh);
  return html`<h3 id="customer-events-title">${t('customer.events')}</h3>
    ${events.length ? html`<ol class="events" aria-labelledby="customer-events-title">
      ${events.map((event) => html`<li key=${event.id} data-event-type=${event.type}
        class=${isFresh.has(event.id) ? 'changed' : ''}>
        <span class="event-type">${label(event.type)}</span>
        <time datetime=${event.occurred_at}>${when(event.occurred_at)}</time>
        <span class="event-details">${details(event.data)}</span>
      </li>`)}</ol>` : html`<p class="empty">${t('customer.no_events')}</p>`}`;
}
