import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import { t } from './i18n.js';

function time(iso) {
  if (!iso) return '';
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? '' : at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function StateMark({ item, onRetry }) {
  if (item.state === 'stored') return html`<span class="state stored">${t('msg.stored')}</span>`;
  if (item.state === 'pending') return html`<span class="state pending">${t('msg.pending')}</span>`;
  return html`<span class="state failed">${t('msg.failed', { code: item.error || '?' })}
    <button type="button" class="link" onClick=${() => onRetry(item.client_msg_id)}>${t('msg.retry')}</button></span>`;
}

// The transcript. Bodies and names are text nodes (htm children), never parsed as HTML.
export function MessageList({ items, mine, who, label, onRetry }) {
  const end = useRef(null);
  useEffect(() => {
    end.current?.scrollIntoView({ block: 'end' });
  }, [items.length, items[items.length - 1]?.state]);
  return html`<div class="messages" role="log" aria-live="polite" aria-label=${label} tabindex="0"><ol>
    ${items.map((item) => {
      const own = item.sender === mine;
      return html`<li key=${item.key} class=${`msg from-${item.sender}${own ? ' own' : ''}`} data-state=${item.state}
        data-seq=${item.seq ?? ''} data-client-msg-id=${item.client_msg_id ?? ''}>
        <span class="meta"><span class="who">${who(item)}</span> <time>${time(item.created_at)}</time></span>
        <p class="body">${item.body}</p>
        ${own && html`<${StateMark} item=${item} onRetry=${onRetry} />`}
      </li>`;
    })}
  </ol><div class="end" ref=${end}></div></div>`;
}
