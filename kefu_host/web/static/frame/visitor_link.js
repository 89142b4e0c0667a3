import { backoffDelay } from '../shared/backoff.js';
import { BusyRetries } from '../shared/busy_retry.js';
import { fileCache, uploadFile } from '../shared/files.js';
import { t } from '../shared/i18n.js';
import { newClientMsgId } from '../shared/ids.js';
import { ReconnectingSocket, readyz } from '../shared/socket.js';
import { createStore } from '../shared/store.js';
import { pendingSends } from '../shared/transcript.js';
import { parentLink } from './parent.js';
import { SessionError, identified, openSession } from './session.js';
import { MINE, initialState, reducer } from './state.js';

const TYPING_EVERY_MS = 2500;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The visitor's connection: a session token, one socket to /ws/visitor resuming from the last seq it has, and the
// link with widget.js on the embedding page (open/close, setUser in; unread count and "close me" out).
export class VisitorLink {
  constructor(parentOrigin) {
    this.store = createStore(reducer, initialState);
    this.token = null;
    this.files = fileCache();
    this.uploads = new Map(); // client_msg_id -> File, until the host has stored it (kept for Retry)
    this.user = null;
    this.generation = 0;
    this.started = false;
    this.typingSent = 0;
    this.postedUnread = 0;
    this.offlineContact = null;
    this.parent = parentLink(parentOrigin, (message) => this.onParent(message));
    // a send refused store_busy goes out again by itself, a few times, before it shows failed
    this.busy = new BusyRetries((clientMsgId) => this.resendOne(clientMsgId));
    this.socket = new ReconnectingSocket({
      url: () => `/ws/visitor?${new URLSearchParams({ token: this.token, last_seq: this.state.transcript.lastSeq })}`,
      onFrame: (frame) => this.onFrame(frame),
      onStatus: (status) => this.store.dispatch({ type: 'connection', status }),
      hostIsUp: readyz,
    });
    this.store.subscribe((state) => {
      if (state.unread !== this.postedUnread) {
        this.postedUnread = state.unread;
        this.parent.post({ type: 'unread', count: state.unread });
      }
    });
  }

  get state() {
    return this.store.state;
  }

  // Framed: wait for widget.js to say who the user is (its `init`). Opened on its own: an anonymous chat.
  begin() {
    if (this.parent.framed) this.parent.post({ type: 'ready' });
    else {
      this.store.dispatch({ type: 'open', open: true });
      this.startSession(null);
    }
  }

  onParent(message) {
    if (message.type === 'init' && !this.started) {
      this.store.dispatch({ type: 'open', open: Boolean(message.open) });
      this.startSession(message.user ?? null);
    } else if (message.type === 'setUser') {
      this.changeUser(message.user ?? null);
    } else if (message.type === 'open' || message.type === 'close') {
      this.store.dispatch({ type: 'open', open: message.type === 'open' });
    }
  }

  async startSession(user) {
    this.started = true;
    const generation = ++this.generation;
    let wanted = user;
    for (let attempt = 0; ; attempt++) {
      try {
        const session = await openSession(wanted);
        if (generation !== this.generation) return;
        this.user = wanted;
        this.token = session.token;
        this.files.forget();
        this.files = fileCache({ Authorization: `Bearer ${session.token}` });
        this.socket.start();
        return;
      } catch (error) {
        if (generation !== this.generation) return;
        if (error instanceof SessionError && error.code === 'identity_mismatch' && identified(wanted)) {
          console.warn('kefu: setUser refused (user_hash does not match user id); chatting anonymously');
          wanted = null;
          continue;
        }
        if (error instanceof SessionError && error.status < 500 && error.status !== 429) {
          this.store.dispatch({ type: 'connection', status: { state: 'refused', code: error.status } });
          return;
        }
        const delay = backoffDelay(attempt);
        this.store.dispatch({ type: 'connection', status: { state: 'waiting', attempt: attempt + 1,
          retryAt: Date.now() + delay } });
        await sleep(delay);
        if (generation !== this.generation) return;
      }
    }
  }

  changeUser(user) {
    const uid = identified(user) ? user.id : null;
    const current = identified(this.user) ? this.user.id : null;
    if (this.started && uid === current) return;
    this.socket.stop();
    this.busy.stop();
    this.store.dispatch({ type: 'identity_changed' });
    this.startSession(user);
  }

  onFrame(frame) {
    if (frame.type === 'error' && this.pendingSend(frame.ref) && this.busy.refused(frame)) return; // still pending
    if (frame.type === 'ack') this.busy.forget(frame.client_msg_id);
    this.store.dispatch({ type: 'frame', frame, now: Date.now() });
    if (frame.type === 'welcome') {
      for (const item of pendingSends(this.state.transcript)) {
        this.socket.send(this.sendFrame(item.client_msg_id, item.body));
      }
    } else if (frame.type === 'resync') {
      const reset = frame.reason === 'ahead_of_log';
      this.loadHistory(frame.conversation_id, reset ? 0 : frame.from_seq, reset);
    }
  }

  async loadHistory(conversationId, afterSeq, reset) {
    try {
      const response = await fetch(`/api/conversations/${conversationId}/messages?after_seq=${afterSeq}&limit=500`, {
        headers: { Authorization: `Bearer ${this.token}` },
        cache: 'no-store',
      });
      if (!response.ok) throw new Error(`history: HTTP ${response.status}`);
      const { messages } = await response.json();
      this.store.dispatch({ type: 'history', messages, reset });
    } catch (error) {
      console.warn(error);
    }
  }

  // --- what the visitor does ------------------------------------------------------------------------------

  send(body) {
    const clientMsgId = newClientMsgId();
    this.store.dispatch({ type: 'sending', clientMsgId, body });
    this.socket.send({ type: 'send', client_msg_id: clientMsgId, body });
  }

  // A message (or the offline form's) of this page still waiting to be stored, sent over the socket.
  pendingSend(clientMsgId) {
    if (!clientMsgId) return null;
    return pendingSends(this.state.transcript).find((i) => i.client_msg_id === clientMsgId) ?? null;
  }

  // Not connected: it stays pending and goes out with the others after the next welcome.
  resendOne(clientMsgId) {
    const item = this.pendingSend(clientMsgId);
    if (item) this.socket.send(this.sendFrame(clientMsgId, item.body));
  }

  retry(clientMsgId) {
    this.busy.forget(clientMsgId);
    this.store.dispatch({ type: 'retry', clientMsgId });
    const item = this.state.transcript.items.find((i) => i.sender === MINE && i.client_msg_id === clientMsgId);
    if (!item) return;
    if (item.kind === 'attachment') this.upload(clientMsgId);
    else this.socket.send(this.sendFrame(clientMsgId, item.body));
  }

  // A message, or the offline form's (re)sent with the contact details it was written with.
  sendFrame(clientMsgId, body) {
    if (clientMsgId === this.state.offlinePending && this.offlineContact) {
      return { type: 'offline_message', client_msg_id: clientMsgId, body, ...this.offlineContact };
    }
    return { type: 'send', client_msg_id: clientMsgId, body };
  }

  // The offline form: stored like a message, with the name and email an agent needs to answer later.
  leaveMessage({ name, email, body }) {
    const clientMsgId = newClientMsgId();
    this.offlineContact = {};
    if (name) this.offlineContact.name = name;
    if (email) this.offlineContact.email = email;
    this.store.dispatch({ type: 'offline_sending', clientMsgId, body });
    this.socket.send(this.sendFrame(clientMsgId, body)); // not connected: sent after the next welcome
  }

  rate(score, comment) {
    const ref = `rate-${newClientMsgId()}`;
    this.store.dispatch({ type: 'rating_sending', ref });
    const frame = { type: 'rate', ref, conversation_id: this.state.conversationId, score };
    if (comment) frame.comment = comment;
    if (!this.socket.send(frame)) {
      this.store.dispatch({ type: 'rating_failed', error: { code: 'offline', message: t('widget.reconnecting') } });
    }
  }

  // An image or file into the current conversation (there is one once the visitor has written).
  attach(file) {
    if (this.state.conversationId === null) return;
    const clientMsgId = newClientMsgId();
    this.uploads.set(clientMsgId, { file, conversationId: this.state.conversationId });
    this.store.dispatch({ type: 'sending', clientMsgId, body: file.name, kind: 'attachment' });
    this.upload(clientMsgId);
  }

  async upload(clientMsgId) {
    const upload = this.uploads.get(clientMsgId);
    if (!upload) return;
    try {
      const message = await uploadFile(this.token, upload.conversationId, clientMsgId, upload.file);
      this.uploads.delete(clientMsgId);
      this.store.dispatch({ type: 'frame', frame: message, now: Date.now() });
    } catch (error) {
      this.store.dispatch({ type: 'failed', clientMsgId, code: error.code || 'network' });
    }
  }

  typing() {
    const { conversationId, status } = this.state;
    const now = Date.now();
    if (conversationId === null || status === 'closed' || now - this.typingSent < TYPING_EVERY_MS) return;
    if (this.socket.send({ type: 'typing' })) this.typingSent = now;
  }

  endChat() {
    this.socket.send({ type: 'close' });
  }

  minimize() {
    this.store.dispatch({ type: 'open', open: false });
    this.parent.post({ type: 'close' });
  }
}
