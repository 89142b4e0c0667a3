import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';
import { enableAlerts } from './alerts.js';

const TOKEN_SHAPE = /^kfa_\d+_\S+$/;

// Signing in with an agent token (kfa_...), for machines and tests; people use their name and password.
export function TokenForm({ onToken }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState('');
  const submit = (event) => {
    event.preventDefault();
    const token = value.trim();
    if (!TOKEN_SHAPE.test(token)) {
      setError(t('signin.bad_shape'));
      return;
    }
    enableAlerts(); // this click is the user gesture browsers want for sound and notifications
    onToken(token);
  };
  return html`<form onSubmit=${submit} novalidate>
    <label for="agent-token">${t('signin.label')}</label>
    <input id="agent-token" type="password" autocomplete="off" spellcheck="false" value=${value}
      aria-describedby="agent-token-help agent-token-error" aria-invalid=${error ? 'true' : 'false'}
      onInput=${(e) => setValue(e.currentTarget.value)} />
    <p id="agent-token-help" class="hint">${t('signin.help')}</p>
    <p id="agent-token-error" class="error" role="alert">${error}</p>
    <button type="submit">${t('signin.submit')}</button>
  </form>`;
}
