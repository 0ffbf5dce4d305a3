import type { Decision } from './limiter.js';

/**
 * The RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-ratelimit-headers-10 (September
 * 2025): Structured Field Lists (RFC 9651) with one item per policy that applied to the request,
 * named by a quoted string.
 *
 *   RateLimit-Policy: "key";q=600;w=60, "group";q=1200;w=60
 *   RateLimit: "key";r=599;t=42, "group";r=1187;t=42
 *
 * `q` is the quota per window of `w` seconds, `r` what is left, `t` the seconds until the quota
 * frees up. No `pk` (partition key) is sent: it would reveal key and group identities.
 */
export const RATE_LIMIT_DRAFT = 'draft-ietf-httpapi-ratelimit-headers-10';

export function policyHeader(decision: Decision): string {
  return decision.states.map(({ policy, rule }) => `"${policy}";q=${rule.points};w=${rule.windowSeconds}`).join(', ');
}

export function stateHeader(decision: Decision): string {
  return decision.states
    .map(({ policy, allowed, remaining, resetMs }) => {
      // On a 429 the rejected policy's t equals Retry-After: the draft asks that Retry-After never
      // point earlier than t, and clients give Retry-After precedence anyway.
      const t = allowed ? Math.max(0, Math.ceil(resetMs / 1000)) : decision.retryAfterSeconds;
      return `"${policy}";r=${allowed ? remaining : 0};t=${t}`;
    })
    .join(', ');
}
