// Attachments over HTTP (docs/protocol.md, "Attachments"): uploads as multipart with the client_msg_id first, and
// downloads with the page's credential (a bearer token, or the console's session cookie, which a same-origin
// fetch carries). Browsers cannot put a bearer token on <img src>, so a file is fetched and shown through a blob:
// URL, made once per file and page.

export class UploadError extends Error {
  constructor(status, code, message) {
    super(message || `upload refused: HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

// The upload's body: the client_msg_id part first, then the file.
export function uploadForm(clientMsgId, file) {
  const body = new FormData();
  body.append('client_msg_id', clientMsgId);
  body.append('file', file, file.name);
  return body;
}

export function attachmentsPath(conversationId) {
  return `/api/conversations/${conversationId}/attachments`;
}

// Store `file` in the conversation with a bearer token (the widget); resolves to the stored message frame (also
// for a resend the host recognises).
export async function uploadFile(token, conversationId, clientMsgId, file) {
  const body = uploadForm(clientMsgId, file);
  let response;
  try {
    response = await fetch(attachmentsPath(conversationId), {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body,
      cache: 'no-store',
    });
  } catch {
    throw new UploadError(0, 'network');
  }
  if (!response.ok) {
    let error = {};
    try {
      error = (await response.json()).error || {};
    } catch {
      error = {};
    }
    throw new UploadError(response.status, error.code || `http_${response.status}`, error.message);
  }
  return (await response.json()).message;
}

// Blob URLs of downloaded attachments for one credential (`headers`: {Authorization: 'Bearer ...'}, or none for a
// session cookie); `forget()` releases them all.
export function fileCache(headers = {}) {
  const urls = new Map(); // attachment url -> Promise<blob: URL>
  async function load(url) {
    const response = await fetch(url, { headers, credentials: 'same-origin', cache: 'no-store' });
    if (!response.ok) throw new Error(`attachment ${url}: HTTP ${response.status}`);
    return URL.createObjectURL(await response.blob());
  }
  return {
    url(url) {
      if (!urls.has(url)) {
        const loading = load(url);
        loading.catch(() => urls.delete(url)); // a later try fetches again
        urls.set(url, loading);
      }
      return urls.get(url);
    },
    async download(attachment) {
      const href = await this.url(attachment.url);
      const a = document.createElement('a');
      a.href = href;
      a.download = attachment.name;
      a.rel = 'noopener';
      document.body.append(a);
      a.click();
      a.remove();
    },
    forget() {
      for (const loading of urls.values()) loading.then((href) => URL.revokeObjectURL(href), () => {});
      urls.clear();
    },
  };
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
