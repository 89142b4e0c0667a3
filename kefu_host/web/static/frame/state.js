import {
  emptyTranscript,
  unsentOnly,
  withAck,
  withFailed,
  withPending,
  withRetry,
  withStored,
} from '../shared/transcript.js';

// The visitor's side: one conversation, its queue position, the agent, and the widget's open/unread state.
export const MINE = 'visitor';
const TYPING_SHOWN_MS = 6000;

export const initialState = {
  connection: { state: 'starting' },
  conversationId: null,
  status: null, // 'queued', 'assigned', 'closed', or null before the first message
  team: null,
  position: null,
  agent: null,
  transcript: emptyTranscript(),
  typingUntil: 0,
  open: false,
  unread: 0,
  notice: null,
  agentsOnline: null, // whether the visitor's team has an agent online (null until the welcome says)
  rating: null, // {score, comment, rated_at} of the closed conversation
  rateUntil: null, // until when it may be rated (ISO), from the welcome or the closed frame
  ratingRef: null, // the rate frame waiting for its answer
  ratingError: null,
  offlinePending: null, // client_msg_id of the offline form's message until it is stored
  offlineError: null,
};

// Another conversation than the one shown: keep only what the visitor has not managed to send yet.
function switchTo(state, conversationId) {
  if (state.conversationId === null || state.conversationId === conversationId) {
    return { ...state, conversationId };
  }
  return { ...state, conversationId, transcript: unsentOnly(state.transcript), agent: null, position: null };
}

// After a reload the host's welcome names no agent; the last agent message says who it is.
function agentFromTranscript(transcript) {
  for (let n = transcript.items.length - 1; n >= 0; n--) {
    const item = transcript.items[n];
    if (item.sender === 'agent' && item.sender_id) return item.sender_id;
  }
  return null;
}

export function reducer(state, action) {
  switch (action.type) {
    case 'frame':
      return onFrame(state, action.frame, action.now);
    case 'connection':
      return { ...state, connection: action.status };
    case 'open':
      return { ...state, open: action.open, unread: action.open ? 0 : state.unread };
    case 'sending':
      return { ...state, transcript: withPending(state.transcript, { sender: MINE, client_msg_id: action.clientMsgId,
        body: action.body, kind: action.kind }) };
    case 'retry':
      return { ...state, transcript: withRetry(state.transcript, MINE, action.clientMsgId) };
    case 'failed':
      return { ...state, transcript: withFailed(state.transcript, MINE, action.clientMsgId, action.code) };
    case 'history': {
      let transcript = action.reset ? unsentOnly(state.transcript) : state.transcript;
      for (const message of action.messages) transcript = withStored(transcript, message);
      return { ...state, transcript };
    }
    case 'rating_sending':
      return { ...state, ratingRef: action.ref, ratingError: null };
    case 'rating_failed':
      return { ...state, ratingRef: null, ratingError: action.error };
    case 'offline_sending':
      return { ...state, offlinePending: action.clientMsgId, offlineError: null,
        transcript: withPending(state.transcript, { sender: MINE, client_msg_id: action.clientMsgId,
          body: action.body }) };
    case 'offline_failed':
      return offlineRefused(state, action.error);
    case 'identity_changed':
      return { ...initialState, open: state.open, connection: state.connection };
    case 'dismiss_notice':
      return { ...state, notice: null };
    default:
      return state;
  }
}

// The offline form's message was refused (a bad email...): it leaves the transcript, the form shows why.
function offlineRefused(state, error) {
  const ref = state.offlinePending;
  const items = state.transcript.items.filter((i) => !(i.state !== 'stored' && i.client_msg_id === ref));
  return { ...state, offlinePending: null, offlineError: error, transcript: { ...state.transcript, items } };
}

function onFrame(state, f, now) {
  switch (f.type) {
    case 'welcome': {
      const next = switchTo(state, f.conversation_id);
      const status = f.status;
      const agent = f.agent ?? next.agent ?? agentFromTranscript(next.transcript);
      return { ...next, status, position: status === 'queued' ? next.position : null,
        agent: status === 'assigned' ? agent : null, team: f.team ?? next.team,
        agentsOnline: f.agents_online ?? null, rating: f.rating ?? null, rateUntil: f.rate_until ?? null };
    }
    case 'conversation':
      // opened or reopened: a rating belongs to the next close
      return { ...switchTo(state, f.conversation_id), status: f.status, rating: null, rateUntil: null,
        ratingError: null };
    case 'availability':
      return { ...state, agentsOnline: f.agents_online };
    case 'rated':
      if (f.conversation_id !== state.conversationId) return state;
      return { ...state, rating: f.rating, ratingRef: null, ratingError: null };
    case 'queue':
      return { ...state, status: 'queued', team: f.team, position: f.position };
    case 'agent_joined':
      return { ...state, status: 'assigned', agent: f.agent, team: f.team, position: null };
    case 'requeued':
      return { ...state, status: 'queued', agent: null };
    case 'closed':
      return { ...state, status: 'closed', position: null, typingUntil: 0, rating: f.rating ?? null,
        rateUntil: f.rate_until ?? null, ratingError: null };
    case 'message': {
      const transcript = withStored(state.transcript, f);
      const theirs = f.sender !== MINE && transcript !== state.transcript;
      const agent = f.sender === 'agent' && f.sender_id ? f.sender_id : state.agent;
      return { ...state, transcript, agent: state.status === 'assigned' ? agent : state.agent,
        unread: theirs && !state.open ? state.unread + 1 : state.unread,
        typingUntil: f.sender === 'agent' ? 0 : state.typingUntil };
    }
    case 'ack': {
      const transcript = withAck(state.transcript, MINE, f);
      const kept = f.client_msg_id === state.offlinePending;
      return { ...state, transcript, offlinePending: kept ? null : state.offlinePending };
    }
    case 'typing':
      return f.from === 'agent' ? { ...state, typingUntil: now + TYPING_SHOWN_MS } : state;
    case 'error': {
      const error = { code: f.code, message: f.message };
      if (f.ref && f.ref === state.ratingRef) return { ...state, ratingRef: null, ratingError: error };
      if (f.ref && f.ref === state.offlinePending) return offlineRefused(state, error);
      if (f.ref) {
        const transcript = withFailed(state.transcript, MINE, f.ref, f.code);
        if (transcript !== state.transcript) return { ...state, transcript };
      }
      return { ...state, notice: { code: f.code, message: f.message } };
    }
    default:
      return state;
  }
}
