// The visitor's token (POST /api/visitor/sessions), kept in localStorage so a page reload is the same visitor.
// With a user from kefu('setUser', ...) the session is that customer's, verified by the company's user_hash.
const KEY = 'kefu.visitor';
let memory = null; // when storage is blocked

function load() {
  try {
    const text = localStorage.getItem(KEY);
    return text ? JSON.parse(text) : memory;
  } catch {
    return memory;
  }
}

function keep(saved) {
  memory = saved;
  try {
    localStorage.setItem(KEY, JSON.stringify(saved));
  } catch {
    // blocked: kept in memory for this page
  }
}

export class SessionError extends Error {
  constructor(status, code) {
    super(`visitor session refused: HTTP ${status} ${code || ''}`);
    this.status = status;
    this.code = code;
  }
}

function bodyFor(user) {
  const body = { user_id: user.id, user_hash: user.hash };
  if (typeof user.name === 'string' && user.name) body.name = user.name;
  if (typeof user.email === 'string' && user.email) body.email = user.email;
  return body;
}

export function identified(user) {
  return Boolean(user && typeof user.id === 'string' && user.id && typeof user.hash === 'string' && user.hash);
}

// A token for `user` (or an anonymous visitor): the saved one is sent along, so the host keeps the same visitor.
export async function openSession(user) {
  const saved = load();
  const uid = identified(user) ? user.id : null;
  const headers = { 'Content-Type': 'application/json' };
  if (saved && saved.token && saved.uid === uid) headers.Authorization = `Bearer ${saved.token}`;
  const response = await fetch('/api/visitor/sessions', {
    method: 'POST',
    headers,
    body: JSON.stringify(uid ? bodyFor(user) : {}),
    cache: 'no-store',
  });
  if (!response.ok) {
    let code = null;
    try {
      code = (await response.json()).error?.code ?? null;
    } catch {
      code = null;
    }
    throw new SessionError(response.status, code);
  }
  const session = await response.json();
  keep({ token: session.token, uid });
  return session;
}
