import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';
import { ResultView } from './result_view.js';
import { SchemaForm } from './schema_form.js';

// One panel per action the plugins registered (the welcome frame's `actions`), all drawn from their schemas.
function ActionPanel({ link, action, results, conv }) {
  const [ref, setRef] = useState(null);
  const [errors, setErrors] = useState({});
  const entry = ref ? results[ref] : null;
  const run = (outcome) => {
    setErrors(outcome.errors || {});
    if (outcome.args) setRef(link.runAction(action.name, outcome.args, conv?.active ? conv.id : null));
  };
  const headingId = `action-${action.name}`.replace(/[^A-Za-z0-9_-]/g, '_');
  return html`<section class="action" aria-labelledby=${headingId} data-action=${action.name}>
    <h3 id=${headingId}>${action.name}</h3>
    ${action.description && html`<p class="hint">${action.description}</p>`}
    <${SchemaForm} schema=${action.params} idPrefix=${headingId} submitLabel=${t('action.run')}
      busy=${entry?.pending} errors=${errors} onSubmit=${run} />
    <${ResultView} entry=${entry} />
  </section>`;
}

export function ActionPanels({ link, actions, results, conv }) {
  if (!actions.length) return null;
  return html`<section class="actions" aria-labelledby="actions-title">
    <h2 id="actions-title">${t('actions.title')}</h2>
    ${actions.map((action) => html`<${ActionPanel} key=${action.name} link=${link} action=${action}
      results=${results} conv=${conv} />`)}
  </section>`;
}
