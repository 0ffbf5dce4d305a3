import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeRule } from '../../config.js';
import { ApiError } from '../../domain/errors.js';
import { rateLimitRejectionsTotal } from '../../observability/metrics.js';
import { policyHeader, stateHeader } from '../rateLimit/headers.js';
import type { Charge, RateLimiter } from '../rateLimit/limiter.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * false exempts the route (health probes, metrics: a load balancer or Prometheus must never be
     * throttled). `send: true` adds the lower `send` quota of the account group.
     */
    rateLimit?: false | { send?: boolean };
  }
  interface FastifyRequest {
    /** Set once the request has been counted, so the error path does not count it twice. */
    rateLimitCounted: boolean;
  }
  interface FastifyInstance {
    rateLimiter: RateLimiter | null;
  }
}

/** Routes that queue outbound LinkedIn messages get the lower `send` quota without opting in. */
const SEND_ROUTES = new Set(['POST /v1/accounts/:accountGroupId/messages/responses']);

/**
 * The connector's webhook is called without a key, by the provider, for many accounts from few
 * addresses: it is counted per connected account (the path's accountId), not per address.
 */
const WEBHOOK_ROUTES = new Set(['POST /v1/webhooks/:connector/:accountId']);

/**
 * Who pays for a request:
 * - a valid key pays from its own quota, and from its account group's when the path names a group
 *   the key may access (a key probing a foreign group id spends nothing of that tenant's);
 * - anything without a valid key (missing, malformed, unknown, revoked, or a public route) pays
 *   from the quota of its client address, so bad keys never spend a tenant's quota.
 */
function chargesFor(request: FastifyRequest): Charge[] {
  const key = request.apiKey;
  if (WEBHOOK_ROUTES.has(`${request.method} ${request.routeOptions.url}`)) {
    const { connector, accountId } = request.params as { connector?: string; accountId?: string };
    return [{ policy: 'webhook', partition: `${connector}:${accountId}` }];
  }
  if (!key) return [{ policy: 'anonymous', partition: request.ip }];
  const charges: Charge[] = [{ policy: 'key', partition: key.id }];
  const groupId = (request.params as { accountGroupId?: unknown } | undefined)?.accountGroupId;
  const group = typeof groupId === 'string' && key.accountGroupIds.has(groupId) ? groupId : null;
  if (group) charges.push({ policy: 'group', partition: group });
  const config = request.routeOptions.config.rateLimit;
  const sends = (config && config.send) || SEND_ROUTES.has(`${request.method} ${request.routeOptions.url}`);
  if (sends) charges.push({ policy: 'send', partition: group ?? `key:${key.id}` });
  return charges;
}

/**
 * Counts the request once, sets RateLimit-Policy and RateLimit, and throws RATE_LIMITED (with
 * Retry-After set) when a quota is spent. Runs as an onRequest hook after authentication, and
 * from the error handler for requests that failed before reaching it (401, 403 from auth).
 */
export async function enforceRateLimit(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.routeOptions.config.rateLimit === false) return;
  await charge(request, reply, () => chargesFor(request));
}

/**
 * For requests the router refused before any route or hook ran (a broken URL): they have no key
 * and no route, so they pay from their client address's quota like any keyless request.
 */
export async function enforceRateLimitOnRouterError(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  await charge(request, reply, () => [{ policy: 'anonymous', partition: request.ip }]);
}

async function charge(request: FastifyRequest, reply: FastifyReply, charges: () => Charge[]): Promise<void> {
  const limiter = request.server.rateLimiter;
  if (!limiter || request.rateLimitCounted) return;
  request.rateLimitCounted = true;
  const decision = await limiter.check(charges());
  reply.header('RateLimit-Policy', policyHeader(decision));
  reply.header('RateLimit', stateHeader(decision));
  if (decision.allowed) return;
  reply.header('Retry-After', String(decision.retryAfterSeconds));
  const rejected = decision.states.filter((state) => !state.allowed);
  for (const state of rejected) rateLimitRejectionsTotal.inc({ policy: state.policy });
  const first = rejected[0]!;
  throw new ApiError(
    'RATE_LIMITED',
    `Rate limit exceeded (${rejected.map((state) => `'${state.policy}'`).join(', ')} policy). Retry after ${decision.retryAfterSeconds} seconds.`,
    `The '${first.policy}' policy allows ${describeRule(first.rule)} ${POLICY_SCOPE[first.policy]}. ` +
      'Wait for the Retry-After header (seconds) before retrying; the RateLimit and RateLimit-Policy headers on every response show what is left.',
  );
}

const POLICY_SCOPE: Record<Charge['policy'], string> = {
  key: 'per API key',
  group: 'per account group, shared by all its keys',
  send: 'per account group for queueing message responses',
  anonymous: 'per client address for requests without a valid API key',
  webhook: 'per connected account for connector webhooks',
};

export function registerRateLimit(app: FastifyInstance, limiter: RateLimiter | null): void {
  app.decorate('rateLimiter', limiter);
  app.decorateRequest('rateLimitCounted', false);
  if (limiter) app.addHook('onRequest', enforceRateLimit);
}
