import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';
import { LangSwitch } from '../shared/lang_switch.js';
import { enableAlerts } from './alerts.js';
import { ApiError } from './api.js';
import { runSetup } from './session.js';

// First run: the database has no agent. The token from the host's log (prefilled from /setup#token=...) creates
// the first agent, an admin in every team, and signs it in.
export function SetupForm({ setup, token: given, onDone, onAlreadyDone }) {
  const [token, setToken] = useState(given || '');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState({ field: null, text: '' });
  const [busy, setBusy] = useState(false);
  const min = setup.min_password_length;
  const submit = async (event) => {
    event.preventDefault();
    if (password !== again) {
      setError({ field: 'again', text: t('setup.mismatch') });
      return;
    }
    if (password.length < min) {
      setError({ field: 'password', text: t('setup.password_help', { min }) });
      return;
    }
    enableAlerts();
    setBusy(true);
    setError({ field: null, text: '' });
    try {
      onDone(await runSetup(token.trim(), name.trim(), password));
    } catch (failure) {
      setBusy(false);
      if (failure instanceof ApiError && failure.code === 'setup_done') {
        onAlreadyDone();
        return;
      }
      const field = failure instanceof ApiError ? failure.body?.error?.field ?? null : null;
      const text = !(failure instanceof ApiError) ? t('login.unreachable')
        : failure.code === 'invalid_setup_token' ? t('setup.bad_token')
          : t('setup.failed', { code: failure.code, message: failure.detail });
      setError({ field: field === 'password' ? 'password' : field, text });
    }
  };
  const invalid = (field) => (error.field === field ? 'true' : 'false');
  return html`<main class="signin setup">
    <h1>${t('setup.title')}</h1>
    <p>${t('setup.intro', { teams: setup.teams.join(', ') })}</p>
    <form onSubmit=${submit} aria-labelledby="setup-title">
      <h2 id="setup-title" class="visually-hidden">${t('setup.title')}</h2>
      <label for="setup-token">${t('setup.token')}</label>
      <input id="setup-token" autocomplete="off" spellcheck="false" required value=${token}
        aria-describedby="setup-token-help" aria-invalid=${invalid('token')}
        onInput=${(e) => setToken(e.currentTarget.value)} />
      <p id="setup-token-help" class="hint">${t('setup.token_help')}</p>
      <label for="setup-name">${t('login.name')}</label>
      <input id="setup-name" name="username" autocomplete="username" required spellcheck="false" value=${name}
        aria-invalid=${invalid('name')} onInput=${(e) => setName(e.currentTarget.value)} />
      <label for="setup-password">${t('login.password')}</label>
      <input id="setup-password" type="password" autocomplete="new-password" required value=${password}
        aria-describedby="setup-password-help" aria-invalid=${invalid('password')}
        onInput=${(e) => setPassword(e.currentTarget.value)} />
      <p id="setup-password-help" class="hint">${t('setup.password_help', { min })}</p>
      <label for="setup-again">${t('setup.password_again')}</label>
      <input id="setup-again" type="password" autocomplete="new-password" required value=${again}
        aria-describedby="setup-error" aria-invalid=${invalid('again')}
        onInput=${(e) => setAgain(e.currentTarget.value)} />
      <p id="setup-error" class="error" role="alert">${error.text}</p>
      <button type="submit" disabled=${busy}>${t('setup.submit')}</button>
    </form>
    <${LangSwitch} />
  </main>`;
}
