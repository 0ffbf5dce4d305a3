/**
 * Capped exponential backoff with full jitter: attempt 1 waits up to 5 s, doubling to a 10-minute
 * cap, so a flapping provider is not hammered and retries of many jobs spread out.
 */
export const MAX_SEND_ATTEMPTS = 8;
const BASE_MS = 5_000;
const CAP_MS = 10 * 60_000;

export function backoffMs(attempt: number, random: () => number): number {
  const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
