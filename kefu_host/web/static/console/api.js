// The console's HTTP calls to the host. Signed by the session cookie (same-origin; every call that changes
// something carries the session's X-CSRF-Token), or by an agent token (Authorization: Bearer kfa_...).
// A 401 on a session means it ended (expired, signed out elsewhere, password changed): `onSignedOut` is told.

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(`HTTP ${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.detail = message;
    this.body = body;
  }
}

// auth: {kind: 'session', csrf} or {kind: 'token', token}; null before signing in.
// body: a value sent as JSON, or a FormData / Blob sent as it is (the browser sets its Content-Type).
export async function request(auth, method, path, body) {
  const headers = { Accept: 'application/json' };
  const raw = body instanceof FormData || body instanceof Blob;
  if (body !== undefined && !raw) headers['Content-Type'] = 'application/json';
  if (auth?.kind === 'token') headers.Authorization = `Bearer ${auth.token}`;
  else if (auth?.kind === 'session' && method !== 'GET') headers['X-CSRF-Token'] = auth.csrf;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined || raw ? body : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError(response.status, error.code ?? `http_${response.status}`, error.message ?? '', data);
  }
  return data;
}

export class Api {
  constructor(auth, { onSignedOut } = {}) {
    this.auth = auth;
    this.onSignedOut = onSignedOut;
  }

  async call(method, path, body) {
    try {
      return await request(this.auth, method, path, body);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && this.auth.kind === 'session' && this.onSignedOut) {
        this.onSignedOut('expired');
      }
      throw error;
    }
  }

  get(path) {
    return this.call('GET', path);
  }

  post(path, body) {
    return this.call('POST', path, body);
  }

  put(path, body) {
    return this.call('PUT', path, body);
  }

  delete(path) {
    return this.call('DELETE', path);
  }
}
