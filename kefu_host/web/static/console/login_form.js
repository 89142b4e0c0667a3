import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';
import { LangSwitch } from '../shared/lang_switch.js';
import { enableAlerts } from './alerts.js';
import { ApiError } from './api.js';
import { signIn } from './session.js';
import { TokenForm } from './token_form.js';

// Why the form is shown again: the session ran out, ended elsewhere, the agent signed out, or the host is away.
const NOTES = {
  expired: () => t('login.expired'),
  ended: () => t('login.ended'),
  signed_out: () => t('login.signed_out'),
  unreachable: () => t('login.unreachable'),
  token_refused: () => t('connection.refused'),
};

function refusal(error) {
  if (!(error instanceof ApiError)) return t('login.unreachable');
  if (error.code === 'invalid_credentials') return t('login.failed');
  if (error.status === 429) return t('login.too_many', { seconds: error.body?.error?.retry_after ?? '?' });
  return t('login.error', { code: error.code, message: error.detail });
}

export function LoginForm({ message, onSignedIn, onToken, onRetry }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    enableAlerts(); // this click is the user gesture browsers want for sound and notifications
    setBusy(true);
    setError('');
    try {
      onSignedIn(await signIn(name.trim(), password));
    } catch (failure) {
      setError(refusal(failure));
      setPassword('');
      setBusy(false);
    }
  };
  const note = message && NOTES[message] ? NOTES[message]() : '';
  return html`<main class="signin">
    <h1>${t('app.title')}</h1>
    ${note && html`<p class="note" role="status" data-note=${message}>${note}
      ${message === 'unreachable' && html` <button type="button" class="link" onClick=${onRetry}>
        ${t('login.retry')}</button>`}</p>`}
    <form class="login" onSubmit=${submit} aria-labelledby="login-title">
      <h2 id="login-title">${t('login.title')}</h2>
      <label for="login-name">${t('login.name')}</label>
      <input id="login-name" name="username" autocomplete="username" required spellcheck="false" value=${name}
        onInput=${(e) => setName(e.currentTarget.value)} />
      <label for="login-password">${t('login.password')}</label>
      <input id="login-password" name="password" type="password" autocomplete="current-password" required
        value=${password} aria-describedby="login-error" aria-invalid=${error ? 'true' : 'false'}
        onInput=${(e) => setPassword(e.currentTarget.value)} />
      <p id="login-error" class="error" role="alert">${error}</p>
      <button type="submit" disabled=${busy}>${t('login.submit')}</button>
    </form>
    <details class="token-signin">
      <summary>${t('login.token_toggle')}</summary>
      <${TokenForm} onToken=${onToken} />
    </details>
    <${LangSwitch} />
  </main>`;
}
