// Client message ids: random, so a resend after a reconnect can reuse them and the host stores the message once.
// crypto.getRandomValues works on plain http too (randomUUID needs a secure context).
export function newClientMsgId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return 'w' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
