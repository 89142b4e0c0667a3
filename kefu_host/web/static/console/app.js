import { html } from 'htm/preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { t, useLanguage } from '../shared/i18n.js';
import { useStore } from '../shared/store.js';
import { AgentLink } from './agent_link.js';
import { Api } from './api.js';
import { LoginForm } from './login_form.js';
import { setupStatus, signOut, takeSetupToken, whoAmI } from './session.js';
import { SetupForm } from './setup_form.js';
import { forgetToken, saveToken, savedToken } from './token_store.js';
import { Workspace } from './workspace.js';

// What the page shows: the setup form (no agent yet), the sign-in form, or the console of a signed-in agent.
// Signed in means a console session (the HttpOnly cookie, which this code never sees) or an agent token kept in
// this tab (token_store.js); either way /api/agent/me says who it is.
export function App() {
  useLanguage();
  const [view, setView] = useState({ kind: 'loading' });
  const setupToken = useMemo(() => takeSetupToken(), []);

  const start = async (message = null) => {
    const token = savedToken();
    const auth = token ? { kind: 'token', token } : { kind: 'session' };
    try {
      const me = await whoAmI(auth);
      if (me) {
        setView({ kind: 'console', me, auth: token ? auth : { kind: 'session', csrf: me.csrf_token } });
        return;
      }
      if (token) forgetToken();
      const setup = await setupStatus();
      setView(setup ? { kind: 'setup', setup } : { kind: 'login', message: token ? 'token_refused' : message });
    } catch (error) {
      console.warn(error);
      setView({ kind: 'login', message: 'unreachable' });
    }
  };
  useEffect(() => {
    start();
  }, []);

  const signedIn = (me) => setView({ kind: 'console', me, auth: { kind: 'session', csrf: me.csrf_token } });
  switch (view.kind) {
    case 'loading':
      return html`<main class="signin"><p role="status">${t('login.loading')}</p></main>`;
    case 'setup':
      return html`<${SetupForm} setup=${view.setup} token=${setupToken} onDone=${signedIn}
        onAlreadyDone=${() => setView({ kind: 'login', message: null })} />`;
    case 'login':
      return html`<${LoginForm} message=${view.message} onRetry=${() => start()} onSignedIn=${signedIn}
        onToken=${(token) => {
          saveToken(token);
          start();
        }} />`;
    default:
      return html`<${Console} key=${view.me.agent.id} me=${view.me} auth=${view.auth}
        onEnded=${(why) => {
          forgetToken();
          setView({ kind: 'login', message: why });
        }} />`;
  }
}

function Console({ me, auth, onEnded }) {
  const api = useMemo(() => new Api(auth, { onSignedOut: onEnded }), [auth]);
  const link = useMemo(() => new AgentLink(api), [api]);
  useEffect(() => {
    link.start();
    return () => link.stop();
  }, [link]);
  const state = useStore(link.store);
  const { connection } = state;
  useEffect(() => {
    // the host closed or refused the socket for good: find out whether the session is over
    if (connection.state !== 'refused' || auth.kind !== 'session') return;
    whoAmI(auth).then((still) => {
      if (!still) onEnded(connection.reason === 'session expired' ? 'expired' : 'ended');
    }, () => undefined);
  }, [connection.state]);
  const leave = async () => {
    link.stop();
    try {
      await signOut(auth);
    } catch (error) {
      console.warn(error);
    }
    onEnded('signed_out');
  };
  return html`<${Workspace} link=${link} state=${state} me=${me} api=${api} onSignOut=${leave} />`;
}
