import { backoffDelay } from './backoff.js';

const SESSION_ENDED = 4001; // the host ended the session (signed out, expired, agent disabled): do not retry

function socketUrl(path) {
  const url = new URL(path, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

// A WebSocket that reconnects with backoff and jitter.
// url() is called before every attempt, so each reconnect carries the client's latest resume point.
// The link counts as up once the welcome frame arrives; a socket closed before its welcome is a failed attempt.
// Browsers hide a refused handshake's status (401, 403), so after such a failure `hostIsUp()` is asked: when the
// host answers, the socket is retried at once, and a second failure while the host is up means "refused".
export class ReconnectingSocket {
  constructor({ url, onFrame, onStatus, hostIsUp = async () => false }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.hostIsUp = hostIsUp;
    this.ws = null;
    this.ready = false;
    this.stopped = true;
    this.attempt = 0;
    this.suspect = false;
    this.timer = null;
    this.onOnline = () => this.retryNow();
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.onOnline);
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    if (ws) ws.close(1000);
    this.onStatus({ state: 'stopped' });
  }

  // Send a frame if the link is up; false when it is not (the caller keeps the frame and resends it later).
  send(frame) {
    if (!this.ready || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  retryNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.connect();
  }

  connect() {
    this.onStatus({ state: 'connecting', attempt: this.attempt });
    const ws = new WebSocket(socketUrl(this.url()));
    this.ws = ws;
    this.ready = false;
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!this.ready && frame.type === 'welcome') {
        this.ready = true;
        this.attempt = 0;
        this.suspect = false;
        this.onStatus({ state: 'open' });
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => this.closed(ws, event.code, event.reason);
  }

  async closed(ws, code, reason = '') {
    if (this.ws !== ws) return;
    const wasReady = this.ready;
    this.ws = null;
    this.ready = false;
    if (this.stopped) return;
    if (code === SESSION_ENDED) {
      this.onStatus({ state: 'refused', code, reason });
      return;
    }
    if (!wasReady) {
      let up = false;
      try {
        up = await this.hostIsUp();
      } catch {
        up = false;
      }
      if (this.stopped) return;
      if (up && this.suspect) {
        this.onStatus({ state: 'refused', code });
        return;
      }
      this.suspect = up;
      if (up) {
        this.connect();
        return;
      }
    }
    const delay = backoffDelay(this.attempt++);
    this.onStatus({ state: 'waiting', attempt: this.attempt, retryAt: Date.now() + delay });
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

export async function readyz() {
  const response = await fetch('/readyz', { cache: 'no-store' });
  return response.ok;
}
