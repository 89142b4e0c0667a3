// A send the host answered `store_busy` (its writer had too many writes waiting: nothing was stored) goes out again
// by itself, with the same client_msg_id, so the host never stores it twice: if an earlier copy did get stored the
// answer is a duplicate ack. Each try waits at least the advised retry_after, doubled per try and stretched by up
// to half again at random, so pages refused at the same moment do not all come back at the same moment. After
// MAX_BUSY_TRIES sends the message shows failed, with the manual Retry as any failure has.

export const MAX_BUSY_TRIES = 4;
export const BUSY_CAP_MS = 30000;

// How long before try `tries` + 1 (tries: the sends refused so far, at least 1).
export function busyDelay(retryAfter, tries, random = Math.random) {
  const advised = Math.max(0, Number(retryAfter) || 1) * 1000;
  const step = Math.min(BUSY_CAP_MS, advised * 2 ** Math.max(0, tries - 1));
  return Math.round(step + (random() * step) / 2);
}

export class BusyRetries {
  // resend(clientMsgId): send the message again; it is still pending on the page.
  constructor(resend, random = Math.random) {
    this.resend = resend;
    this.random = random;
    this.tries = new Map(); // client_msg_id -> sends refused so far
    this.timers = new Map(); // client_msg_id -> timer of its next try
  }

  // An error frame about one of the page's pending messages (`ref` is its client_msg_id). True when it is taken
  // care of here (a resend is scheduled: the message stays pending); false when it should show failed.
  refused(frame) {
    if (frame.code !== 'store_busy' || !frame.ref) return false;
    const id = frame.ref;
    const tries = (this.tries.get(id) || 0) + 1;
    if (tries >= MAX_BUSY_TRIES) {
      this.forget(id);
      return false;
    }
    this.tries.set(id, tries);
    clearTimeout(this.timers.get(id));
    this.timers.set(id, setTimeout(() => {
      this.timers.delete(id);
      this.resend(id);
    }, busyDelay(frame.retry_after, tries, this.random)));
    return true;
  }

  // Stored (its ack came), given up, or retried by hand: the count starts again.
  forget(id) {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    this.tries.delete(id);
  }

  stop() {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.tries.clear();
  }
}
