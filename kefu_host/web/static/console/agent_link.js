import { BusyRetries } from '../shared/busy_retry.js';
import { newClientMsgId } from '../shared/ids.js';
import { t } from '../shared/i18n.js';
import { attachmentsPath, fileCache, uploadForm } from '../shared/files.js';
import { ReconnectingSocket, readyz } from '../shared/socket.js';
import { createStore } from '../shared/store.js';
import { firstSeq, pendingItems, pendingSends } from '../shared/transcript.js';
import { alertNewChat } from './alerts.js';
import { fetchMessages, fetchOlder } from './history.js';
import { MINE, initialState, profileFramesOf, reducer } from './state.js';

const HISTORY_WITH_WELCOME = 100; // messages fetched for a conversation this page had no transcript of
const OLDER_PAGE = 50; // messages fetched each time the agent scrolls back to the top
const TYPING_EVERY_MS = 2500;

function sendFrame(id, item) {
  const frame = { type: 'send', conversation_id: id, client_msg_id: item.client_msg_id, body: item.body };
  if (item.kind === 'note') frame.note = true;
  return frame;
}

// The agent's connection: one socket to /ws/agent, the state it feeds, and the frames the console sends.
// `api` (api.js) signs its HTTP calls; the socket is signed the same way: by the session cookie, which the browser
// sends with the handshake, or by the agent token in the query.
export class AgentLink {
  constructor(api) {
    this.api = api;
    this.store = createStore(reducer, initialState);
    this.typingSent = new Map();
    this.refs = 0;
    this.files = fileCache(api.auth.kind === 'token' ? { Authorization: `Bearer ${api.auth.token}` } : {});
    this.uploads = new Map(); // client_msg_id -> File, until the host has stored it (kept for Retry)
    this.readSent = new Map(); // conversation id -> the highest seq this page told the host it has read
    this.customersLoading = new Set();
    // a send refused store_busy goes out again by itself, a few times, before it shows failed
    this.busy = new BusyRetries((clientMsgId) => this.resendOne(clientMsgId));
    this.socket = new ReconnectingSocket({
      url: () => this.url(),
      onFrame: (frame) => this.onFrame(frame),
      onStatus: (status) => this.store.dispatch({ type: 'connection', status }),
      hostIsUp: readyz,
    });
  }

  get state() {
    return this.store.state;
  }

  // the agent token when the console was signed in with one; null for a session
  get token() {
    return this.api.auth.kind === 'token' ? this.api.auth.token : null;
  }

  start() {
    this.socket.start();
  }

  stop() {
    this.socket.stop();
    this.busy.stop();
    this.files.forget();
  }

  // ?resume=id:last_seq for every conversation whose transcript this page holds: the host replays what was missed.
  url() {
    const { conversations, order, presence } = this.state;
    const resume = order
      .map((id) => conversations[id])
      .filter((c) => c.active && c.history === 'loaded')
      .map((c) => `${c.id}:${c.transcript.lastSeq}`);
    const query = new URLSearchParams({ presence });
    if (this.token) query.set('token', this.token);
    if (resume.length) query.set('resume', resume.join(','));
    return `/ws/agent?${query}`;
  }

  onFrame(frame) {
    const before = this.state;
    if (frame.type === 'error' && this.pendingSend(frame.ref) && this.busy.refused(frame)) return; // still pending
    if (frame.type === 'ack') this.busy.forget(frame.client_msg_id);
    this.store.dispatch({ type: 'frame', frame, now: Date.now() });
    if (frame.type === 'welcome') this.afterWelcome(before);
    else if (frame.type === 'assigned') this.afterAssigned(before, frame);
    else if (frame.type === 'message' && frame.conversation_id === this.state.selected) this.markRead(frame.conversation_id);
    else if (frame.type === 'rated' && !before.conversations[frame.conversation_id]) {
      this.loadHistory(frame.conversation_id, 0); // what the rating is about
    }
    else if (frame.type === 'resync') {
      const reset = frame.reason === 'ahead_of_log';
      this.loadHistory(frame.conversation_id, reset ? 0 : frame.from_seq, reset);
    }
  }

  afterWelcome(before) {
    if (!before.agent) this.loadCanned();
    for (const id of this.state.order) {
      const conv = this.state.conversations[id];
      if (!conv.active) {
        for (const item of pendingItems(conv.transcript)) {
          this.store.dispatch({ type: 'failed', id, clientMsgId: item.client_msg_id, code: 'forbidden' });
        }
        continue;
      }
      const had = before.conversations[id];
      if (!had || had.history !== 'loaded' || !had.active) {
        this.loadHistory(id, Math.max(0, conv.lastSeqHint - HISTORY_WITH_WELCOME));
      }
      // read again after a reconnect too: events accepted while the socket was down came on no frame
      if (conv.events === null || before.agent) this.loadCustomer(conv.customer_id);
      this.resend(id);
    }
  }

  afterAssigned(before, frame) {
    const id = frame.conversation.id;
    const had = before.conversations[id];
    if (!had || !had.active) {
      const name = frame.customer?.name || t('customer.anonymous', { id: frame.conversation.customer_id });
      alertNewChat(t('alert.new_chat'), name);
    }
    if (this.state.conversations[id].events === null) this.loadCustomer(frame.conversation.customer_id);
    if (this.state.selected === id) this.markRead(id);
    this.resend(id);
  }

  async loadHistory(id, afterSeq, reset = false) {
    this.store.dispatch({ type: 'history_loading', id });
    try {
      const messages = await fetchMessages(this.api, id, afterSeq);
      this.store.dispatch({ type: 'history', id, messages, reset });
    } catch (error) {
      console.warn(error);
      this.store.dispatch({ type: 'history_failed', id });
    }
  }

  resend(id) {
    const conv = this.state.conversations[id];
    for (const item of pendingSends(conv.transcript)) this.socket.send(sendFrame(id, item));
  }

  // The conversation id and item of a message of this page still waiting to be stored, sent over the socket.
  pendingSend(clientMsgId) {
    if (!clientMsgId) return null;
    for (const id of this.state.order) {
      const item = pendingSends(this.state.conversations[id].transcript).find((i) => i.client_msg_id === clientMsgId);
      if (item) return { id, item };
    }
    return null;
  }

  // Not connected: it stays pending and goes out with the others after the next welcome.
  resendOne(clientMsgId) {
    const pending = this.pendingSend(clientMsgId);
    if (pending) this.socket.send(sendFrame(pending.id, pending.item));
  }

  async loadOlder(id) {
    const conv = this.state.conversations[id];
    const before = conv && firstSeq(conv.transcript);
    if (!before || conv.older === 'loading') return;
    this.store.dispatch({ type: 'older_loading', id });
    try {
      const { messages, more } = await fetchOlder(this.api, id, before, OLDER_PAGE);
      this.store.dispatch({ type: 'older', id, messages, more });
    } catch (error) {
      console.warn(error);
      this.store.dispatch({ type: 'older_failed', id });
    }
  }

  // --- what the agent does --------------------------------------------------------------------------------

  select(id) {
    this.store.dispatch({ type: 'select', id });
    this.markRead(id);
  }

  // Tell the host this agent has seen the conversation up to its last message (its unread count is then 0 on
  // every tab and after a reload). Only for the conversation on screen, and only once per seq.
  markRead(id) {
    const conv = this.state.conversations[id];
    if (!conv || !conv.active || document.visibilityState === 'hidden') return;
    const seq = conv.transcript.lastSeq;
    if (!seq || (this.readSent.get(id) || 0) >= seq) return;
    if (this.socket.send({ type: 'read', conversation_id: id, seq })) this.readSent.set(id, seq);
  }

  // The customer's record and recent business events (the panel); `customer_event` frames keep them current.
  async loadCustomer(customerId) {
    if (customerId == null || this.customersLoading.has(customerId)) return;
    this.customersLoading.add(customerId);
    try {
      const profileFrames = profileFramesOf(this.state, customerId);
      const { customer, events } = await this.api.get(`/api/customers/${customerId}`);
      this.store.dispatch({ type: 'customer', customer, events, profileFrames });
    } catch (error) {
      console.warn(error);
    } finally {
      this.customersLoading.delete(customerId);
    }
  }

  async loadCanned() {
    try {
      const { replies } = await this.api.get('/api/canned');
      this.store.dispatch({ type: 'canned', replies });
    } catch (error) {
      console.warn(error);
    }
  }

  // Create (no id) or change a canned reply, or delete one; the list is read again after. Errors are the caller's.
  async saveCanned(reply) {
    const { id, ...body } = reply;
    if (id == null) await this.api.post('/api/canned', body);
    else await this.api.put(`/api/canned/${id}`, body);
    await this.loadCanned();
  }

  async deleteCanned(id) {
    await this.api.delete(`/api/canned/${id}`);
    await this.loadCanned();
  }

  // Where a conversation may be transferred: {teams: [{name, agents_online}], agents: [{name, teams, presence}]}.
  transferTargets() {
    return this.api.get('/api/agent/targets');
  }

  // Take a chat waiting in one of this agent's teams' queues; an `assigned` frame follows (or an error frame).
  take(id) {
    this.socket.send({ type: 'take', conversation_id: id });
  }

  // A message, or with `note` a private note for colleagues (the visitor never receives it).
  send(id, body, { note = false } = {}) {
    const clientMsgId = newClientMsgId();
    const kind = note ? 'note' : 'text';
    this.store.dispatch({ type: 'sending', id, clientMsgId, body, kind });
    // not connected: the message stays pending and goes out after the next welcome
    this.socket.send(sendFrame(id, { client_msg_id: clientMsgId, body, kind }));
  }

  attach(id, file) {
    const clientMsgId = newClientMsgId();
    this.uploads.set(clientMsgId, file);
    this.store.dispatch({ type: 'sending', id, clientMsgId, body: file.name, kind: 'attachment' });
    this.upload(id, clientMsgId);
  }

  async upload(id, clientMsgId) {
    const file = this.uploads.get(clientMsgId);
    if (!file) return;
    try {
      const { message } = await this.api.post(attachmentsPath(id), uploadForm(clientMsgId, file));
      this.uploads.delete(clientMsgId);
      this.store.dispatch({ type: 'frame', frame: message, now: Date.now() });
    } catch (error) {
      this.store.dispatch({ type: 'failed', id, clientMsgId, code: error.code || 'network' });
    }
  }

  retry(id, clientMsgId) {
    this.busy.forget(clientMsgId);
    this.store.dispatch({ type: 'retry', id, clientMsgId });
    const item = this.state.conversations[id].transcript.items.find((i) => i.client_msg_id === clientMsgId);
    if (!item) return;
    if (item.kind === 'attachment') this.upload(id, clientMsgId);
    else this.socket.send(sendFrame(id, item));
  }

  typing(id) {
    const now = Date.now();
    if (now - (this.typingSent.get(id) || 0) < TYPING_EVERY_MS) return;
    if (this.socket.send({ type: 'typing', conversation_id: id })) this.typingSent.set(id, now);
  }

  close(id) {
    this.socket.send({ type: 'close', conversation_id: id });
  }

  transfer(id, { team, agent }) {
    const frame = { type: 'transfer', conversation_id: id };
    if (team) frame.team = team;
    if (agent) frame.agent = agent;
    this.socket.send(frame);
  }

  setPresence(status) {
    this.socket.send({ type: 'presence', status });
  }

  runAction(action, args, conversationId) {
    const ref = `a${++this.refs}-${newClientMsgId().slice(1, 9)}`;
    this.store.dispatch({ type: 'action_started', ref, action });
    const frame = { type: 'action', ref, action, args };
    if (conversationId != null) frame.conversation_id = conversationId;
    if (!this.socket.send(frame)) {
      this.store.dispatch({ type: 'frame', frame: { type: 'action_result', ref, ok: false,
        error: { code: 'offline', message: t('action.offline') } } });
    }
    return ref;
  }
}
