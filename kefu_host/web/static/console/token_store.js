// The agent's token lives in sessionStorage: it survives a reload of this tab and is gone when the tab closes.
const KEY = 'kefu.agentToken';

export function savedToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveToken(token) {
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    // storage blocked: the token lasts as long as the page
  }
}

export function forgetToken() {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing kept
  }
}
