// Reconnect delays: exponential with "equal jitter" (half fixed, half random), so a host restart does not bring
// every browser back in the same instant, and no client retries faster than half its current step.
export const BASE_MS = 500;
export const CAP_MS = 10000;

export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
