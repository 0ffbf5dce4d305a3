/**
 * Capped exponential backoff with full jitter: attempt 1 waits up to 5 s, doubling to a 10-minute
 * cap, so a flapping provider is not hammered and retries of many jobs spread out.
 */
export const MAX_SEND_ATTEMPTS = 8;
/**
 * A job (sync, webhook event, ...) whose handler throws this many times in a row is moved to
 * `dead_jobs` instead of being retried for ever: with the backoff below that is about 3 hours of
 * retries, long enough to ride out a database or provider outage. Failures a handler settles
 * itself (a connector's rate limit or transient error, which reschedule the job) are not thrown
 * and do not count; sends end `failed` after MAX_SEND_ATTEMPTS on their own.
 */
export const MAX_JOB_ATTEMPTS = 25;
const BASE_MS = 5_000;
const CAP_MS = 10 * 60_000;

export function backoffMs(attempt: number, random: () => number): number {
  const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
