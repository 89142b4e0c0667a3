import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';
import { customerName } from './names.js';

function failure(error) {
  return { code: error.code ?? 'offline', message: error.detail ?? String(error) };
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : '—';
}

function whenIso(iso) {
  return iso ? new Date(iso).toLocaleString() : '—';
}

// What every host on the database runs (the heartbeats in GET /api/rules' `nodes`): after a publish, an admin sees
// which hosts have the new revision. Node names come from each host's config: shown as text, like everything here.
function NodesTable({ nodes }) {
  if (!Array.isArray(nodes) || nodes.length === 0) return null;
  return html`<table class="rule-table nodes-table">
    <caption>${t('rules.nodes_title')}</caption>
    <thead><tr><th scope="col">${t('rules.col_node')}</th><th scope="col">${t('rules.col_revision')}</th>
      <th scope="col">${t('rules.col_loaded_at')}</th></tr></thead>
    <tbody>${nodes.map((node) => html`<tr data-node=${node.node} data-stale=${node.stale ? 'true' : 'false'}>
      <td class="node-name">${node.node}${node.stale ? ` (${t('rules.node_stale')})` : ''}</td>
      <td class="node-revision" title=${node.revision ?? ''}>${node.revision ? node.revision.slice(0, 12) : '—'}</td>
      <td class="node-loaded-at">${whenIso(node.loaded_at)}</td>
    </tr>`)}</tbody>
  </table>`;
}

// For admins: the active rule set (GET /api/rules), a reload (POST /api/rules/reload), and what the rules would
// decide now for the open conversation (GET /api/conversations/{id}/explain).
export function RulesPage({ api, conv }) {
  const [status, setStatus] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [reload, setReload] = useState(null);
  const load = async () => {
    try {
      setStatus(await api.get('/api/rules'));
      setLoadError(null);
    } catch (error) {
      setLoadError(failure(error));
    }
  };
  useEffect(() => {
    load();
  }, [api]);
  const runReload = async () => {
    setReload({ pending: true });
    try {
      setReload({ ok: true, ...(await api.post('/api/rules/reload', {})) });
    } catch (error) {
      // a refused set answers 422 with the reload's own {status, message, errors}, not the usual error shape
      const body = error.body ?? {};
      setReload({ ok: false, status: body.status ?? error.code ?? 'offline', message: body.message ?? error.detail ?? '',
        errors: body.errors ?? [] });
    }
    await load();
  };
  return html`<section class="rules-page" aria-labelledby="rules-title">
    <h2 id="rules-title">${t('rules.title')}</h2>
    ${loadError && html`<p class="error" role="alert">${t('rules.load_failed', loadError)}</p>`}
    ${status && html`<dl class="facts rules-status">
      <dt>${t('rules.revision')}</dt><dd class="revision" title=${status.revision}>
        ${status.revision ? status.revision.slice(0, 12) : '—'}</dd>
      <dt>${t('rules.count')}</dt><dd class="rule-count">${status.rules}</dd>
      <dt>${t('rules.loaded_at')}</dt><dd>${when(status.loaded_at)}</dd>
      <dt>${t('rules.last_error')}</dt><dd class="last-error">${status.last_error || t('rules.no_error')}</dd>
    </dl>`}
    ${status && html`<${NodesTable} nodes=${status.nodes} />`}
    <p><button type="button" onClick=${runReload} disabled=${reload?.pending}>${t('rules.reload')}</button></p>
    ${reload && !reload.pending && html`<div class=${`reload-result ${reload.ok ? 'ok' : 'error'}`} role="status">
      <p>${t('rules.reload_result', { status: reload.status ?? reload.code, message: reload.message ?? '' })}</p>
      ${(reload.errors || []).length > 0 && html`<ul>${reload.errors.map((e) => html`<li><code>${e.text}</code></li>`)}
      </ul>`}</div>`}
    ${reload?.pending && html`<p role="status">${t('rules.reloading')}</p>`}
    <${Explain} api=${api} conv=${conv} />
  </section>`;
}

function Explain({ api, conv }) {
  const [result, setResult] = useState(null);
  useEffect(() => setResult(null), [conv?.id]);
  if (!conv) return html`<section class="explain"><h3>${t('rules.explain_title')}</h3>
    <p class="empty">${t('rules.explain_none')}</p></section>`;
  const run = async () => {
    setResult({ pending: true });
    try {
      setResult({ ok: true, explanation: await api.get(`/api/conversations/${conv.id}/explain`) });
    } catch (error) {
      setResult({ ok: false, error: failure(error) });
    }
  };
  const explanation = result?.explanation;
  const decision = explanation?.decision;
  return html`<section class="explain" aria-labelledby="explain-title">
    <h3 id="explain-title">${t('rules.explain_title')}</h3>
    <p><button type="button" onClick=${run} disabled=${result?.pending}>
      ${t('rules.explain', { id: conv.id, name: customerName(conv) })}</button></p>
    ${result && !result.pending && !result.ok && html`<p class="error" role="alert">
      ${t('rules.explain_failed', result.error)}</p>`}
    ${decision && html`<div class="explanation" role="status">
      <p class="decision">${decision.team ? t('rules.explain_team', { team: decision.team, rule: decision.team_rule })
        : t('rules.explain_keep')}</p>
      <p>${t('rules.fired')}: <span class="fired">${decision.fired.length ? decision.fired.join(', ')
        : t('rules.fired_none')}</span></p>
      <table class="rule-table">
        <caption class="visually-hidden">${t('rules.explain_title')}</caption>
        <thead><tr><th scope="col">${t('rules.col_rule')}</th><th scope="col">${t('rules.col_priority')}</th>
          <th scope="col">${t('rules.col_status')}</th></tr></thead>
        <tbody>${explanation.rules.map((rule) => html`<tr data-rule=${rule.rule} data-status=${rule.status}>
          <td><code>${rule.rule}</code></td><td>${rule.priority}</td>
          <td>${t(`rule.${rule.status.replace(' ', '_')}`)}${rule.reason ? ` (${rule.reason})` : ''}</td>
        </tr>`)}</tbody>
      </table>
    </div>`}
  </section>`;
}
