/**
 * Misbehaviour the sandbox can be told to show, as probabilities per call (0 to 1) and a latency.
 * Set per process with SONARLY_SANDBOX_FAULTS='{"timeoutRate":0.1,"latencyMs":50}' or per account
 * in its settings (`faults`).
 */
export interface SandboxFaults {
  /** A transient 5xx-like failure: nothing was sent. */
  errorRate: number;
  /** The call times out before reaching LinkedIn: nothing was sent, but the caller cannot know. */
  timeoutRate: number;
  /** The message is delivered, then the call times out: the ambiguous case reconciliation exists for. */
  deliveredTimeoutRate: number;
  /** LinkedIn (or the vendor) answers 429. */
  rateLimitRate: number;
  /** The session expired: the account must be reconnected. */
  authExpiredRate: number;
  /** Added to every call, in milliseconds. */
  latencyMs: number;
}

export const NO_FAULTS: SandboxFaults = { errorRate: 0, timeoutRate: 0, deliveredTimeoutRate: 0, rateLimitRate: 0, authExpiredRate: 0, latencyMs: 0 };

export function parseFaults(raw: unknown): SandboxFaults {
  if (raw === undefined || raw === null || raw === '') return NO_FAULTS;
  const value = typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw;
  if (typeof value !== 'object' || value === null) throw new Error('Sandbox faults must be a JSON object.');
  const faults = { ...NO_FAULTS, ...(value as Partial<SandboxFaults>) };
  for (const [name, number] of Object.entries(faults)) {
    const limit = name === 'latencyMs' ? Number.MAX_SAFE_INTEGER : 1;
    if (typeof number !== 'number' || !(number >= 0 && number <= limit)) throw new Error(`Sandbox fault ${name} must be a number from 0 to ${limit === 1 ? 1 : 'any'}.`);
  }
  return faults;
}

export type FaultKind = 'transient' | 'timeout' | 'rate_limited' | 'auth_expired';

/**
 * One roll of the dice for a read call (listing, profiles): which fault, if any, it shows.
 * `deliveredTimeoutRate` only concerns sends and is ignored here.
 */
export function rollReadFault(faults: SandboxFaults, random: () => number): FaultKind | null {
  const roll = random();
  let threshold = 0;
  const hit = (rate: number) => roll < (threshold += rate);
  if (hit(faults.errorRate)) return 'transient';
  if (hit(faults.timeoutRate)) return 'timeout';
  if (hit(faults.rateLimitRate)) return 'rate_limited';
  if (hit(faults.authExpiredRate)) return 'auth_expired';
  return null;
}
