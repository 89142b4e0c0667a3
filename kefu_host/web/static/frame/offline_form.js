import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';

const MAX_BODY = 8000;
const MAX_FIELD = 255;
const EMAIL = /^\S+@\S+$/; // a first check; the host checks the address itself

// Instead of the live chat while no agent of the visitor's team is online: name, email and a message, kept by the
// host for the first agent who comes online. A signed-in user (setUser) is known to the host already, so only
// anonymous visitors must give an email.
export function OfflineForm({ state, identified, onLeave }) {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [body, setBody] = useState('');
  const [problems, setProblems] = useState({});
  const sending = state.offlinePending !== null;
  const edit = (key, set) => (event) => {
    set(event.currentTarget.value);
    if (problems[key]) setProblems({ ...problems, [key]: undefined }); // the note goes once the field is changed
  };
  const submit = (event) => {
    event.preventDefault();
    if (sending) return;
    const found = {};
    if (!identified && !email.trim()) found.email = t('offline.required');
    else if (email.trim() && !EMAIL.test(email.trim())) found.email = t('offline.bad_email');
    if (!body.trim()) found.body = t('offline.required');
    setProblems(found);
    if (Object.keys(found).length) return;
    onLeave({ name: name.trim(), email: email.trim(), body: body.trim() });
  };
  const field = (key, label, value, set, { type = 'text', required = false, autocomplete } = {}) => html`
    <div class="field">
      <label for=${`offline-${key}`}>${label}${required
        ? html` <span class="req">${t('form.required_mark')}</span>` : ''}</label>
      <input id=${`offline-${key}`} type=${type} value=${value} maxlength=${MAX_FIELD} autocomplete=${autocomplete}
        aria-invalid=${problems[key] ? 'true' : 'false'} aria-describedby=${`offline-${key}-problem`}
        onInput=${edit(key, set)} />
      <p id=${`offline-${key}-problem`} class="error">${problems[key] || ''}</p>
    </div>`;
  return html`<form class="offline-form" onSubmit=${submit} novalidate aria-labelledby="offline-title">
    <h2 id="offline-title">${t('offline.title')}</h2>
    <p class="hint">${t('offline.help')}</p>
    ${field('name', t('offline.name'), name, setName, { autocomplete: 'name' })}
    ${!identified && field('email', t('offline.email'), email, setEmail,
      { type: 'email', required: true, autocomplete: 'email' })}
    <div class="field">
      <label for="offline-body">${t('offline.message')} <span class="req">${t('form.required_mark')}</span></label>
      <textarea id="offline-body" rows="3" maxlength=${MAX_BODY} value=${body}
        aria-invalid=${problems.body ? 'true' : 'false'} aria-describedby="offline-body-problem"
        onInput=${edit('body', setBody)}></textarea>
      <p id="offline-body-problem" class="error">${problems.body || ''}</p>
    </div>
    ${state.offlineError && html`<p class="error" role="alert">${t('notice.error', state.offlineError)}</p>`}
    <button type="submit" disabled=${sending}>${sending ? t('msg.pending') : t('offline.submit')}</button>
  </form>`;
}
