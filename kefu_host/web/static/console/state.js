import {
  emptyTranscript,
  firstSeq,
  unsentOnly,
  withAck,
  withFailed,
  withPending,
  withRetry,
  withStored,
} from '../shared/transcript.js';

// The console's state and every change to it, as a pure reducer over frames (docs/protocol.md) and UI actions.
export const MINE = 'agent';
const TYPING_SHOWN_MS = 6000;
const MAX_EVENTS = 20; // recent business events kept per customer panel

export const initialState = {
  agent: null,
  actions: [],
  presence: 'online',
  connection: { state: 'connecting' },
  conversations: {},
  order: [], // newest first
  selected: null,
  results: {}, // action ref -> {action, pending, ok, result, error}
  notice: null, // the last error frame that belongs to no message or action
  queues: {}, // team -> {team, count, waiting: [...]}: the chats waiting in this agent's teams (`queues` frames)
  teams: [], // the agent's teams, in the order the host lists them
  canned: [], // canned replies this agent may insert (GET /api/canned)
  // customer id -> how many `profile_update` frames came for that customer: a record read before the last of them
  // (GET /api/customers/{id} in flight while the frame arrived) is older than the frame's and must not replace it
  profileFrames: {},
};

// How many `profile_update` frames have come for this customer; loadCustomer passes it back with what it read.
export function profileFramesOf(state, customerId) {
  return state.profileFrames[customerId] || 0;
}

// The events read from the store, with those that came on frames since (newest first, once each).
function mergedEvents(conv, read) {
  const readIds = new Set(read.map((e) => e.id));
  const live = (conv.events || []).filter((e) => conv.freshEvents.includes(e.id) && !readIds.has(e.id));
  return [...live, ...read].slice(0, MAX_EVENTS);
}

function blank(id) {
  return {
    id,
    status: 'assigned',
    team: null,
    customer_id: null,
    priority: 0,
    tags: [],
    customer: null,
    changed: [],
    active: true,
    ended: null, // 'closed', 'transferred', 'gone' (no longer ours after a reconnect)
    transcript: emptyTranscript(),
    unread: 0,
    typingUntil: 0,
    history: 'none', // 'none', 'loading', 'loaded', 'failed'
    older: null, // messages before the first one shown: 'more', 'loading', 'failed', 'none' (the start is shown)
    lastSeqHint: 0,
    rating: null, // the visitor's {score, comment, rated_at}, once the conversation has closed and been rated
    events: null, // the customer's recent business events, newest first (GET /api/customers/{id}, then live)
    freshEvents: [], // ids of events that arrived while the console was open
  };
}

// Agents see every seq (notes too), so the first stored message is seq 1 exactly when nothing older exists.
function olderGuess(transcript) {
  const first = firstSeq(transcript);
  if (first === null) return null;
  return first > 1 ? 'more' : 'none';
}

function fromView(view) {
  const { id, status, team, customer_id: customerId, priority, tags, last_seq: lastSeq } = view;
  // lastSeqHint: the host's last seq when it sent the view; where a history fetch for this page starts from
  return { id, status, team, customer_id: customerId, priority, tags: tags || [], lastSeqHint: lastSeq ?? 0 };
}

function get(state, id) {
  return state.conversations[id] || blank(id);
}

function put(state, conv, { toFront = false } = {}) {
  const known = state.order.includes(conv.id);
  let order = state.order;
  if (!known || toFront) order = [conv.id, ...state.order.filter((id) => id !== conv.id)];
  return { ...state, conversations: { ...state.conversations, [conv.id]: conv }, order };
}

function update(state, id, change) {
  if (!state.conversations[id]) return state;
  return put(state, { ...state.conversations[id], ...change(state.conversations[id]) });
}

export function reducer(state, action) {
  switch (action.type) {
    case 'frame':
      return onFrame(state, action.frame, action.now);
    case 'connection':
      return { ...state, connection: action.status };
    case 'select':
      return { ...update(state, action.id, () => ({ unread: 0 })), selected: action.id };
    case 'customer': {
      // the customer's record and recent events, for every conversation of that customer; frames that arrived
      // while the record was being read are newer than it and win
      const stale = profileFramesOf(state, action.customer.id) !== (action.profileFrames ?? 0);
      let next = state;
      for (const id of state.order) {
        if (state.conversations[id].customer_id === action.customer.id) {
          next = update(next, id, (conv) => ({
            customer: stale && conv.customer ? conv.customer : action.customer,
            events: mergedEvents(conv, action.events),
          }));
        }
      }
      return next;
    }
    case 'canned':
      return { ...state, canned: action.replies };
    case 'sending':
      return update(state, action.id, (c) => ({
        transcript: withPending(c.transcript, { sender: MINE, client_msg_id: action.clientMsgId, body: action.body,
          kind: action.kind }),
      }));
    case 'retry':
      return update(state, action.id, (c) => ({ transcript: withRetry(c.transcript, MINE, action.clientMsgId) }));
    case 'failed':
      return update(state, action.id, (c) => ({
        transcript: withFailed(c.transcript, MINE, action.clientMsgId, action.code),
      }));
    case 'history_loading':
      return update(state, action.id, () => ({ history: 'loading' }));
    case 'history': {
      const conv = get(state, action.id);
      let transcript = action.reset ? unsentOnly(conv.transcript) : conv.transcript;
      for (const message of action.messages) transcript = withStored(transcript, message);
      return put(state, { ...conv, transcript, history: 'loaded', older: olderGuess(transcript) });
    }
    case 'history_failed':
      return update(state, action.id, () => ({ history: 'failed' }));
    case 'older_loading':
      return update(state, action.id, () => ({ older: 'loading' }));
    case 'older':
      return update(state, action.id, (c) => {
        let transcript = c.transcript;
        for (const message of action.messages) transcript = withStored(transcript, message);
        return { transcript, older: action.more ? 'more' : 'none' };
      });
    case 'older_failed':
      return update(state, action.id, () => ({ older: 'failed' }));
    case 'action_started':
      return { ...state, results: { ...state.results, [action.ref]: { action: action.action, pending: true } } };
    case 'dismiss_notice':
      return { ...state, notice: null };
    case 'signed_out':
      return initialState;
    default:
      return state;
  }
}

function onFrame(state, f, now) {
  switch (f.type) {
    case 'welcome': {
      const held = new Set(f.conversations.map((c) => c.id));
      const queues = {};
      for (const q of f.queues || []) queues[q.team] = q;
      let next = { ...state, agent: f.agent, actions: f.actions || [], notice: null, queues,
        teams: f.agent.teams || [] };
      for (const id of state.order) {
        if (!held.has(id) && state.conversations[id].active) {
          next = update(next, id, () => ({ active: false, ended: 'gone' }));
        }
      }
      for (const view of f.conversations) {
        const unread = view.id === next.selected ? 0 : view.unread ?? get(next, view.id).unread;
        next = put(next, { ...get(next, view.id), ...fromView(view), active: true, ended: null, unread });
      }
      return next;
    }
    case 'assigned': {
      const id = f.conversation.id;
      const conv = get(state, id);
      let transcript = conv.transcript;
      for (const message of f.messages || []) transcript = withStored(transcript, message);
      const fresh = !conv.active || !state.conversations[id];
      const selected = state.selected ?? id; // the first conversation opens by itself
      const next = put(state, {
        ...conv,
        ...fromView(f.conversation),
        customer: f.customer ?? conv.customer,
        active: true,
        ended: null,
        transcript,
        history: 'loaded',
        older: olderGuess(transcript),
        rating: null, // a reopened conversation is rated again at its next close
        unread: selected === id ? 0 : f.conversation.unread ?? conv.unread + (fresh ? 1 : 0),
      }, { toFront: true });
      return { ...next, selected };
    }
    case 'unassigned':
      return update(state, f.conversation_id, () => ({ active: false, ended: 'transferred', typingUntil: 0 }));
    case 'closed':
      return update(state, f.conversation_id, () => ({ active: false, ended: 'closed', status: 'closed',
        typingUntil: 0, rating: f.rating ?? null }));
    case 'rated': {
      // also for a conversation this page no longer lists (closed before a reload): it shows up under Ended
      const known = state.conversations[f.conversation_id];
      const conv = known || { ...blank(f.conversation_id), active: false, ended: 'closed', status: 'closed' };
      return put(state, { ...conv, rating: f.rating });
    }
    case 'message':
      return update(state, f.conversation_id, (c) => ({
        transcript: withStored(c.transcript, f),
        older: c.older ?? olderGuess(withStored(c.transcript, f)),
        unread: f.sender !== MINE && state.selected !== c.id ? c.unread + 1 : c.unread,
        typingUntil: f.sender === 'visitor' ? 0 : c.typingUntil,
      }));
    case 'ack':
      return update(state, f.conversation_id, (c) => ({ transcript: withAck(c.transcript, MINE, f) }));
    case 'typing':
      if (f.from !== 'visitor') return state;
      return update(state, f.conversation_id, () => ({ typingUntil: now + TYPING_SHOWN_MS }));
    case 'presence':
      return { ...state, presence: f.status };
    case 'queues': {
      const queues = { ...state.queues };
      for (const q of f.teams) queues[q.team] = q;
      return { ...state, queues };
    }
    case 'customer_event': {
      let next = state;
      for (const id of state.order) {
        const c = state.conversations[id];
        if (c.id === f.conversation_id || c.customer_id === f.customer_id) {
          next = update(next, id, (conv) => ({
            events: [f.event, ...(conv.events || []).filter((e) => e.id !== f.event.id)].slice(0, MAX_EVENTS),
            freshEvents: [...conv.freshEvents, f.event.id],
          }));
        }
      }
      return next;
    }
    case 'profile_update': {
      let next = state;
      if (f.customer) {
        const n = profileFramesOf(state, f.customer.id) + 1;
        next = { ...next, profileFrames: { ...next.profileFrames, [f.customer.id]: n } };
      }
      for (const id of state.order) {
        const c = state.conversations[id];
        if (c.id === f.conversation_id || (f.customer && c.customer_id === f.customer.id)) {
          next = update(next, id, () => ({ customer: f.customer, changed: f.changed || [] }));
        }
      }
      return next;
    }
    case 'action_result': {
      const before = state.results[f.ref] || {};
      return { ...state, results: { ...state.results, [f.ref]: { ...before, pending: false, ok: f.ok,
        result: f.result, error: f.error } } };
    }
    case 'error':
      return onError(state, f);
    default:
      return state;
  }
}

function onError(state, f) {
  if (f.ref) {
    for (const id of state.order) {
      const t = state.conversations[id].transcript;
      const failed = withFailed(t, MINE, f.ref, f.code);
      if (failed !== t) return update(state, id, () => ({ transcript: failed }));
    }
    if (state.results[f.ref]) {
      return { ...state, results: { ...state.results, [f.ref]: { ...state.results[f.ref], pending: false, ok: false,
        error: { code: f.code, message: f.message } } } };
    }
  }
  return { ...state, notice: { code: f.code, message: f.message } };
}
