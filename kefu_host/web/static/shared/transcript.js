// A conversation's transcript as the page shows it: stored messages in seq order, then the page's own messages
// that are not stored yet ('pending', or 'failed' with the host's error code).
//
// lastSeq is the resume point: the highest seq seen in the stream (message frames, non-duplicate acks) or in
// history pages. A duplicate ack is not part of the stream, so it never moves lastSeq.
// An own message is matched by its client_msg_id, so a resend that the host answers with a duplicate ack, or a
// replayed copy of a message stored before a disconnect, never shows twice.
// Items have a kind: 'text', 'note' (agents' private notes, never sent to visitors) or 'attachment' (with the
// host's `attachment` metadata once stored; a pending upload has only its file's name as body).

export function emptyTranscript() {
  return { items: [], lastSeq: 0, made: 0 };
}

function keyOf(sender, clientMsgId, seq) {
  return clientMsgId ? `c:${sender}:${clientMsgId}` : `s:${seq}`;
}

function sorted(items) {
  return items.slice().sort((a, b) => {
    const aStored = a.state === 'stored';
    const bStored = b.state === 'stored';
    if (aStored && bStored) return a.seq - b.seq;
    if (aStored !== bStored) return aStored ? -1 : 1;
    return a.made - b.made;
  });
}

function ownUnsent(t, sender, clientMsgId) {
  if (!clientMsgId) return -1;
  return t.items.findIndex((i) => i.state !== 'stored' && i.sender === sender && i.client_msg_id === clientMsgId);
}

// A stored message (a `message` frame, or one from a history page).
export function withStored(t, m) {
  const lastSeq = Math.max(t.lastSeq, m.seq);
  if (t.items.some((i) => i.state === 'stored' && i.seq === m.seq)) {
    return lastSeq === t.lastSeq ? t : { ...t, lastSeq };
  }
  const item = {
    key: keyOf(m.sender, m.client_msg_id, m.seq),
    id: m.id,
    seq: m.seq,
    sender: m.sender,
    sender_id: m.sender_id,
    client_msg_id: m.client_msg_id,
    kind: m.kind || 'text',
    body: m.body,
    attachment: m.attachment || null,
    created_at: m.created_at,
    state: 'stored',
    made: 0,
  };
  const at = ownUnsent(t, m.sender, m.client_msg_id);
  const items = at >= 0 ? t.items.map((i, n) => (n === at ? { ...item, key: i.key, made: i.made } : i)) : [...t.items, item];
  return { ...t, items: sorted(items), lastSeq };
}

export function withPending(t, { sender, client_msg_id, body, kind = 'text' }) {
  const made = t.made + 1;
  const item = { key: keyOf(sender, client_msg_id), id: null, seq: null, sender, sender_id: null, client_msg_id,
    kind, body, attachment: null, created_at: null, state: 'pending', made };
  return { ...t, made, items: [...t.items, item] };
}

export function withAck(t, sender, ack) {
  const lastSeq = ack.duplicate ? t.lastSeq : Math.max(t.lastSeq, ack.seq);
  const at = ownUnsent(t, sender, ack.client_msg_id);
  if (at < 0) return lastSeq === t.lastSeq ? t : { ...t, lastSeq };
  if (t.items.some((i) => i.state === 'stored' && i.seq === ack.seq)) {
    // the replay brought the stored copy first: drop the unsent one
    return { ...t, items: t.items.filter((_, n) => n !== at), lastSeq };
  }
  const items = t.items.map((i, n) => (n === at ? { ...i, id: ack.id, seq: ack.seq, state: 'stored', error: null } : i));
  return { ...t, items: sorted(items), lastSeq };
}

export function withFailed(t, sender, clientMsgId, code) {
  const at = ownUnsent(t, sender, clientMsgId);
  if (at < 0) return t;
  return { ...t, items: t.items.map((i, n) => (n === at ? { ...i, state: 'failed', error: code } : i)) };
}

export function withRetry(t, sender, clientMsgId) {
  const at = ownUnsent(t, sender, clientMsgId);
  if (at < 0) return t;
  return { ...t, items: t.items.map((i, n) => (n === at ? { ...i, state: 'pending', error: null } : i)) };
}

export function hasUnsent(t, sender, clientMsgId) {
  return ownUnsent(t, sender, clientMsgId) >= 0;
}

export function pendingItems(t) {
  return t.items.filter((i) => i.state === 'pending');
}

// Pending messages that go over the socket (attachments are uploads over HTTP, resent by their own code).
export function pendingSends(t) {
  return pendingItems(t).filter((i) => i.kind !== 'attachment');
}

// The lowest stored seq: where older history is read back from.
export function firstSeq(t) {
  const stored = t.items.filter((i) => i.state === 'stored');
  return stored.length ? stored[0].seq : null;
}

// Only the page's own unsent messages: what survives a switch to another conversation or a history reload.
export function unsentOnly(t) {
  return { ...t, items: t.items.filter((i) => i.state !== 'stored'), lastSeq: 0 };
}
