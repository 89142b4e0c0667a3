import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';

// The agent's canned replies: its own and its teams' (admins: every team's), added and deleted here, inserted in
// the send box by typing `/` and a few letters. The host checks who may change which (docs/protocol.md).
export function CannedPage({ link, replies, teams }) {
  const [shortcut, setShortcut] = useState('');
  const [body, setBody] = useState('');
  const [scope, setScope] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [editing, setEditing] = useState(null); // the id of the reply the form changes; null: a new one
  const reset = () => {
    setEditing(null);
    setShortcut('');
    setBody('');
  };
  const edit = (reply) => {
    setEditing(reply.id);
    setShortcut(reply.shortcut);
    setBody(reply.body);
    setScope(reply.team ?? '');
  };
  const run = async (work) => {
    setBusy(true);
    setError(null);
    try {
      await work();
      return true;
    } catch (failure) {
      setError({ code: failure.code ?? 'offline', message: failure.detail ?? String(failure) });
      return false;
    } finally {
      setBusy(false);
    }
  };
  const save = async (event) => {
    event.preventDefault();
    const reply = { shortcut: shortcut.trim(), body };
    if (editing != null) reply.id = editing;
    else if (scope) reply.team = scope;
    if (await run(() => link.saveCanned(reply))) reset();
  };
  return html`<section class="canned-page" aria-labelledby="canned-title">
    <h2 id="canned-title">${t('canned.title')}</h2>
    <p class="hint">${t('canned.help')}</p>
    ${error && html`<p class="error" role="alert">${t('canned.failed', error)}</p>`}
    ${replies.length ? html`<ul class="canned-list">${replies.map((reply) => html`<li key=${reply.id}
        data-canned-id=${reply.id}>
        <span class="canned-shortcut">/${reply.shortcut}</span>
        <span class="suggestion-tag">${reply.scope === 'team' ? reply.team : t('canned.personal')}</span>
        <span class="canned-body">${reply.body}</span>
        <span class="canned-buttons"><button type="button" class="link" disabled=${busy}
          aria-label=${t('canned.edit_one', { shortcut: reply.shortcut })}
          onClick=${() => edit(reply)}>${t('canned.edit')}</button>
        <button type="button" class="link" disabled=${busy}
          aria-label=${t('canned.delete_one', { shortcut: reply.shortcut })}
          onClick=${() => run(() => link.deleteCanned(reply.id))}>${t('canned.delete')}</button></span>
      </li>`)}</ul>` : html`<p class="empty">${t('canned.none')}</p>`}
    <form class="canned-form" onSubmit=${save}>
      <h3>${editing != null ? t('canned.change') : t('canned.add')}</h3>
      <label for="canned-shortcut">${t('canned.shortcut')}</label>
      <input id="canned-shortcut" value=${shortcut} maxlength="64" required
        onInput=${(e) => setShortcut(e.currentTarget.value)} />
      <label for="canned-body">${t('canned.body')}</label>
      <textarea id="canned-body" rows="3" maxlength="8000" required value=${body}
        onInput=${(e) => setBody(e.currentTarget.value)}></textarea>
      <label for="canned-scope">${t('canned.scope')}</label>
      <select id="canned-scope" value=${scope} disabled=${editing != null}
        onChange=${(e) => setScope(e.currentTarget.value)}>
        <option value="">${t('canned.personal')}</option>
        ${teams.map((team) => html`<option value=${team}>${t('canned.team', { team })}</option>`)}
      </select>
      <button type="submit" disabled=${busy || !shortcut.trim() || !body.trim()}>${t('canned.save')}</button>
      ${editing != null && html`<button type="button" class="link" onClick=${reset}>${t('canned.cancel')}</button>`}
    </form>
  </section>`;
}
