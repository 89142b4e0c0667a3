import { html } from 'htm/preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { useLanguage } from '../shared/i18n.js';
import { useStore } from '../shared/store.js';
import { AgentLink } from './agent_link.js';
import { Workspace } from './workspace.js';
import { TokenForm } from './token_form.js';
import { forgetToken, saveToken, savedToken } from './token_store.js';

export function App() {
  useLanguage();
  const [token, setToken] = useState(savedToken());
  if (!token) {
    return html`<${TokenForm} onToken=${(value) => {
      saveToken(value);
      setToken(value);
    }} />`;
  }
  return html`<${Connected} key=${token} token=${token} onSignOut=${() => {
    forgetToken();
    setToken(null);
  }} />`;
}

function Connected({ token, onSignOut }) {
  const link = useMemo(() => new AgentLink(token), [token]);
  useEffect(() => {
    link.start();
    return () => link.stop();
  }, [link]);
  const state = useStore(link.store);
  return html`<${Workspace} link=${link} state=${state} onSignOut=${onSignOut} />`;
}
