// Stored messages over HTTP (GET /api/conversations/{id}/messages), for conversations the socket does not replay:
// those listed in a welcome this page had no transcript for, and those a `resync` frame sends here.
const PAGE = 100;
const MAX_PAGES = 5;

export async function fetchMessages(api, conversationId, afterSeq) {
  const messages = [];
  let after = afterSeq;
  for (let page = 0; page < MAX_PAGES; page++) {
    const body = await api.get(`/api/conversations/${conversationId}/messages?after_seq=${after}&limit=${PAGE}`);
    messages.push(...body.messages);
    if (body.messages.length < PAGE) break;
    after = body.messages[body.messages.length - 1].seq;
  }
  return messages;
}

// The page of messages before `beforeSeq` (older history, scrolling back), and whether there are more before it.
export async function fetchOlder(api, conversationId, beforeSeq, limit = PAGE) {
  const body = await api.get(`/api/conversations/${conversationId}/messages?before_seq=${beforeSeq}&limit=${limit}`);
  return { messages: body.messages, more: body.more };
}
