import { html } from 'htm/preact';
import { t } from '../shared/i18n.js';

export function ConnectionStatus({ connection, onRetry }) {
  const { state } = connection;
  const text = t(`connection.${state}`, { attempt: connection.attempt ?? 0 });
  return html`<span class="connection" data-connection=${state} role="status">
    <span class=${`dot ${state}`} aria-hidden="true"></span>${text}
    ${(state === 'waiting' || state === 'refused') && html` <button type="button" class="link" onClick=${onRetry}>
      ${t('connection.retry')}</button>`}
  </span>`;
}
