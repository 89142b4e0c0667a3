import { html } from 'htm/preact';
import { t } from '../shared/i18n.js';

function isFlat(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    && Object.values(value).every((v) => v === null || typeof v !== 'object');
}

// An action's answer: a flat object as a table of fields, anything else as JSON text.
export function ResultView({ entry }) {
  if (!entry) return null;
  if (entry.pending) return html`<p class="result pending" role="status">${t('action.running')}</p>`;
  if (!entry.ok) {
    return html`<p class="result error" role="status" data-error-code=${entry.error?.code}>
      ${t('action.failed', { code: entry.error?.code ?? '?', message: entry.error?.message ?? '' })}</p>`;
  }
  const { result } = entry;
  if (isFlat(result)) {
    return html`<dl class="result ok" role="status">
      ${Object.entries(result).map(([key, value]) => html`<dt>${key}</dt><dd>${String(value)}</dd>`)}</dl>`;
  }
  return html`<pre class="result ok" role="status">${JSON.stringify(result, null, 2)}</pre>`;
}
