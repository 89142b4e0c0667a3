import { ApiError, request } from './api.js';

// Signing in and out: the first-run setup, the password sign-in, who is signed in.

// The signed-in agent ({agent, auth, csrf_token, ...}), or null when nobody is (401).
export async function whoAmI(auth) {
  try {
    return await request(auth, 'GET', '/api/agent/me');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

// {required, teams, min_password_length} while the database has no agent; null once setup is done (410).
export async function setupStatus() {
  try {
    return await request(null, 'GET', '/api/setup');
  } catch (error) {
    if (error instanceof ApiError && error.status === 410) return null;
    throw error;
  }
}

export function signIn(name, password) {
  return request(null, 'POST', '/api/agent/login', { name, password });
}

export function runSetup(token, name, password) {
  return request(null, 'POST', '/api/setup', { token, name, password });
}

export async function signOut(auth) {
  if (auth.kind !== 'session') return;
  try {
    await request(auth, 'POST', '/api/agent/logout');
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) throw error; // already ended: signed out all the same
  }
}

// The setup token from the page's fragment (/setup#token=...), removed from the address bar and history at once.
export function takeSetupToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token') || '';
  if (location.hash || location.pathname === '/setup') history.replaceState(null, '', '/');
  return token;
}
