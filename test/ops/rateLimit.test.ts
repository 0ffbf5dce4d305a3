import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RateLimiter } from '../../src/http/rateLimit/limiter.js';
import { rateLimitStoreErrorsTotal, registry } from '../../src/observability/metrics.js';
import { backend } from '../helpers/testDb.js';
import { Harness } from '../helpers/harness.js';
import { appWith, bearer, memoryLimiter, parseLimitField, policyOf, rateLimitConfig, redisAvailable, redisClient, uniquePrefix } from './support.js';

/**
 * Rate limiting in one process, with the in-memory store (under a fake clock) and with Redis.
 * The limiter and its hooks do not depend on the database backend, so this file runs in the
 * PGlite project only; test/ops/rateLimit.processes.test.ts covers several processes on PostgreSQL.
 */
const run = backend === 'pglite' ? describe : describe.skip;

let h: Harness;
let groupA: string;
let groupB: string;
let keyA: string;
let keyB: string;
const apps: FastifyInstance[] = [];
const hasRedis = await redisAvailable();

beforeAll(async () => {
  if (backend !== 'pglite') return;
  h = await Harness.create();
  groupA = await h.group('Tenant A');
  groupB = await h.group('Tenant B');
  keyA = await h.key(['messages:read', 'messages:write'], [groupA]);
  keyB = await h.key(['messages:read', 'messages:write'], [groupB]);
});

afterEach(() => {
  vi.useRealTimers();
});

afterAll(async () => {
  for (const app of apps) await app.close();
  await h?.close();
});

async function limitedApp(limiter: RateLimiter): Promise<FastifyInstance> {
  const app = await appWith(h, { rateLimiter: limiter });
  apps.push(app);
  return app;
}

const messagesOf = (group: string) => `/v1/accounts/${group}/messages?limit=1`;

function get(app: FastifyInstance, url: string, key?: string, remoteAddress?: string) {
  return app.inject({ method: 'GET', url, headers: key ? bearer(key) : {}, ...(remoteAddress ? { remoteAddress } : {}) });
}

/** Sends `count` requests, `concurrency` at a time, and returns the responses in order. */
async function burst(count: number, send: () => Promise<LightMyRequestResponse>, concurrency = 8): Promise<LightMyRequestResponse[]> {
  const responses: LightMyRequestResponse[] = [];
  for (let sent = 0; sent < count; sent += concurrency) {
    responses.push(...(await Promise.all(Array.from({ length: Math.min(concurrency, count - sent) }, send))));
  }
  return responses;
}

function expectHeadersOnEvery(responses: LightMyRequestResponse[]) {
  for (const response of responses) {
    expect(parseLimitField(response.headers['ratelimit-policy']).length).toBeGreaterThan(0);
    expect(parseLimitField(response.headers['ratelimit']).length).toBeGreaterThan(0);
    if (response.statusCode === 429) {
      const retryAfter = Number(response.headers['retry-after']);
      expect(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After '${response.headers['retry-after']}'`).toBe(true);
      const body = response.json();
      expect(body).toMatchObject({ success: false, data: null, error: { code: 'RATE_LIMITED' } });
      expect(body.traceId).toBe(response.headers['x-trace-id']);
      // The draft: Retry-After must not point earlier than the rejected policy's `t`.
      const rejected = parseLimitField(response.headers['ratelimit']).filter((item) => item.params.r === 0);
      for (const item of rejected) expect(item.params.t).toBeLessThanOrEqual(retryAfter);
    }
  }
}

const CASES = [
  { n: 10, b: 0 },
  { n: 12, b: 5 },
  { n: 30, b: 1 },
];

run('accuracy, in memory', () => {
  it.each(CASES)('3N requests from one key: between N and N+b+1 accepted (N=$n, b=$b)', async ({ n, b }) => {
    const app = await limitedApp(memoryLimiter({ RATE_LIMIT_KEY: `${n}/1m,burst=${b}` }));
    const responses = await burst(3 * n, () => get(app, messagesOf(groupA), keyA));
    const accepted = responses.filter((response) => response.statusCode === 200).length;
    expect(accepted).toBeGreaterThanOrEqual(n);
    expect(accepted).toBeLessThanOrEqual(n + b + 1);
    expect(responses.filter((response) => response.statusCode !== 200 && response.statusCode !== 429)).toEqual([]);
    expectHeadersOnEvery(responses);
    expect(policyOf(responses[0]!, 'ratelimit-policy', 'key')).toEqual({ q: n, w: 60 });
    expect(policyOf(responses[0]!, 'ratelimit', 'key')).toEqual({ r: n - 1, t: 60 });
  });

  it('a client that waits as told by Retry-After gets no further 429 (fake clock)', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-05-01T12:00:00.000Z') });
    const app = await limitedApp(memoryLimiter({ RATE_LIMIT_KEY: '6/10s,burst=2/1m' }));
    let rejected = 0;
    let acceptedAfterWaiting = 0;
    for (let i = 0; i < 200; i++) {
      const response = await get(app, messagesOf(groupA), keyA);
      if (response.statusCode === 429) {
        rejected++;
        const retryAfter = Number(response.headers['retry-after']);
        vi.setSystemTime(Date.now() + retryAfter * 1000);
        const next = await get(app, messagesOf(groupA), keyA);
        expect(next.statusCode, `after waiting ${retryAfter}s as told`).toBe(200);
        acceptedAfterWaiting++;
      }
    }
    expect(rejected).toBeGreaterThan(10);
    expect(acceptedAfterWaiting).toBe(rejected);
  });

  it('the quota comes back when the window ends, and t counts down', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-05-01T12:00:00.000Z') });
    const app = await limitedApp(memoryLimiter({ RATE_LIMIT_KEY: '3/1m' }));
    const first = await get(app, messagesOf(groupA), keyA);
    expect(policyOf(first, 'ratelimit', 'key')).toEqual({ r: 2, t: 60 });
    vi.setSystemTime(Date.now() + 45_000);
    expect(policyOf(await get(app, messagesOf(groupA), keyA), 'ratelimit', 'key')).toEqual({ r: 1, t: 15 });
    await get(app, messagesOf(groupA), keyA);
    expect((await get(app, messagesOf(groupA), keyA)).statusCode).toBe(429);
    vi.setSystemTime(Date.now() + 15_000);
    expect(policyOf(await get(app, messagesOf(groupA), keyA), 'ratelimit', 'key')).toEqual({ r: 2, t: 60 });
  });
});

run('isolation', () => {
  it('tenant A at 10x its limit does not cause a single 429 for tenant B', async () => {
    const app = await limitedApp(memoryLimiter({ RATE_LIMIT_KEY: '20/1m,burst=5', RATE_LIMIT_GROUP: '30/1m,burst=5' }));
    // A also probes B's group (403): that must not spend B's group quota either.
    let sent = 0;
    const aSends = () => get(app, ++sent % 5 === 0 ? messagesOf(groupB) : messagesOf(groupA), keyA);
    const b: LightMyRequestResponse[] = [];
    const a: LightMyRequestResponse[] = [];
    for (let round = 0; round < 20; round++) {
      a.push(...(await burst(10, aSends, 10)));
      b.push(await get(app, messagesOf(groupB), keyB));
    }
    expect(a.length).toBe(200);
    expect(a.filter((response) => response.statusCode === 429).length).toBeGreaterThan(150);
    expect(b.map((response) => response.statusCode)).toEqual(Array(20).fill(200));
    expect(policyOf(b.at(-1)!, 'ratelimit', 'group')?.r).toBe(30 - 20);
  });

  it('requests with bad keys are limited by client address and never spend a tenant quota', async () => {
    const app = await limitedApp(memoryLimiter({ RATE_LIMIT_KEY: '5/1m', RATE_LIMIT_GROUP: '5/1m', RATE_LIMIT_ANONYMOUS: '10/1m,burst=2' }));
    const badKeys = ['sk_live_nonsense', keyA.slice(0, -1) + (keyA.endsWith('a') ? 'b' : 'a'), 'not-even-bearer'];
    let sent = 0;
    const attacker = await burst(40, () => app.inject({ url: messagesOf(groupA), headers: { authorization: `Bearer ${badKeys[sent++ % 3]}` }, remoteAddress: '203.0.113.7' }));
    expect(attacker.filter((response) => response.statusCode === 401).length).toBe(12);
    expect(attacker.filter((response) => response.statusCode === 429).length).toBe(28);
    expectHeadersOnEvery(attacker);
    for (const response of attacker) expect(parseLimitField(response.headers['ratelimit-policy']).map((item) => item.name)).toEqual(['anonymous']);
    // Tenant A, from the same address, still has its whole quota.
    const tenant = await get(app, messagesOf(groupA), keyA, '203.0.113.7');
    expect(tenant.statusCode).toBe(200);
    expect(policyOf(tenant, 'ratelimit', 'key')?.r).toBe(4);
    expect(policyOf(tenant, 'ratelimit', 'group')?.r).toBe(4);
    // Another address is not affected by the first one's bad keys.
    expect((await get(app, messagesOf(groupA), 'sk_live_nonsense', '198.51.100.1')).statusCode).toBe(401);
  });

  it('POST …/messages/responses also spends the lower send quota of its group', async () => {
    const app = await limitedApp(memoryLimiter({ RATE_LIMIT_KEY: '100/1m', RATE_LIMIT_SEND: '3/1m,burst=1' }));
    const post = () => app.inject({ method: 'POST', url: `/v1/accounts/${groupB}/messages/responses`, headers: bearer(keyB), payload: { prospectId: '507f1f77bcf86cd799439011', message: 'hi' } });
    const responses = await burst(8, post, 1);
    expect(responses.map((response) => response.statusCode === 429)).toEqual([false, false, false, false, true, true, true, true]);
    expect(parseLimitField(responses[0]!.headers['ratelimit-policy']).map((item) => item.name)).toEqual(['key', 'group', 'send']);
    expect(policyOf(responses[0]!, 'ratelimit-policy', 'send')).toEqual({ q: 3, w: 60 });
    expectHeadersOnEvery(responses);
    // Reading is not a send: the same key still lists messages.
    expect((await get(app, messagesOf(groupB), keyB)).statusCode).toBe(200);
  });

  it('connector webhooks are counted per connected account, not per (shared) provider address', async () => {
    const app = await limitedApp(memoryLimiter({ RATE_LIMIT_ANONYMOUS: '2/1m', RATE_LIMIT_WEBHOOK: '3/1m' }));
    const hook = (account: string) => app.inject({ method: 'POST', url: `/v1/webhooks/sandbox/${account}`, payload: { event: 'message' }, remoteAddress: '192.0.2.10' });
    const first = await burst(5, () => hook('account-1'), 1);
    expect(first.map((response) => response.statusCode === 429)).toEqual([false, false, false, true, true]);
    expect(parseLimitField(first[0]!.headers['ratelimit-policy']).map((item) => item.name)).toEqual(['webhook']);
    expectHeadersOnEvery(first);
    // Another account, same provider address: its own quota.
    expect((await hook('account-2')).statusCode).not.toBe(429);
  });

  it('URLs the router refuses (broken percent-encoding) carry the headers and pay from the client address', async () => {
    const app = await limitedApp(memoryLimiter({ RATE_LIMIT_ANONYMOUS: '2/1m' }));
    const broken = () => app.inject({ url: '/v1/accounts/%E0%A4%A/messages', remoteAddress: '192.0.2.44' });
    const brokenPath = () => app.inject({ url: '/v1/accounts/%zz/messages', headers: bearer(keyA), remoteAddress: '192.0.2.44' });
    const responses = [await brokenPath(), await broken(), await brokenPath(), await broken()];
    expect(responses.map((response) => response.statusCode)).toEqual([400, 400, 429, 429]);
    expectHeadersOnEvery(responses);
    for (const response of responses) expect(parseLimitField(response.headers['ratelimit-policy']).map((item) => item.name)).toEqual(['anonymous']);
    // The key's own quota was not touched by its broken URLs.
    expect(policyOf(await get(app, messagesOf(groupA), keyA, '192.0.2.44'), 'ratelimit', 'key')?.r).toBe(599);
  });

  it('operations endpoints are never limited and carry no rate-limit headers', async () => {
    const app = await limitedApp(memoryLimiter({ RATE_LIMIT_ANONYMOUS: '1/1m' }));
    for (let i = 0; i < 5; i++) {
      for (const url of ['/healthz', '/readyz', '/metrics']) {
        const response = await get(app, url);
        expect(response.statusCode, url).toBe(200);
        expect(response.headers['ratelimit']).toBeUndefined();
      }
    }
  });
});

const withRedis = backend === 'pglite' && hasRedis ? describe : describe.skip;

withRedis('accuracy, in Redis', () => {
  it.each(CASES)('3N requests from one key: between N and N+b+1 accepted (N=$n, b=$b)', async ({ n, b }) => {
    const client = redisClient();
    await client.connect();
    try {
      const app = await limitedApp(RateLimiter.redis(rateLimitConfig({ RATE_LIMIT_KEY: `${n}/1m,burst=${b}` }), client, { keyPrefix: uniquePrefix() }));
      const responses = await burst(3 * n, () => get(app, messagesOf(groupA), keyA), 16);
      const accepted = responses.filter((response) => response.statusCode === 200).length;
      expect(accepted).toBeGreaterThanOrEqual(n);
      expect(accepted).toBeLessThanOrEqual(n + b + 1);
      expectHeadersOnEvery(responses);
    } finally {
      client.disconnect();
    }
  });

  it('a client that waits as told by Retry-After gets no further 429 (Redis keeps time; 1 s window)', async () => {
    // Redis expires the window by its own clock, which a fake clock cannot move: the window is
    // 1 s and the client sleeps exactly as long as each 429 tells it to.
    const client = redisClient();
    await client.connect();
    try {
      const app = await limitedApp(RateLimiter.redis(rateLimitConfig({ RATE_LIMIT_KEY: '5/1s' }), client, { keyPrefix: uniquePrefix() }));
      let waited = 0;
      for (let i = 0; i < 14; i++) {
        const response = await get(app, messagesOf(groupA), keyA);
        if (response.statusCode !== 429) continue;
        await new Promise((resolve) => setTimeout(resolve, Number(response.headers['retry-after']) * 1000));
        waited++;
        expect((await get(app, messagesOf(groupA), keyA)).statusCode).toBe(200);
      }
      expect(waited).toBeGreaterThanOrEqual(1);
    } finally {
      client.disconnect();
    }
  });

  it('keeps limiting per process while Redis is unreachable', async () => {
    const client = redisClient('redis://127.0.0.1:1');
    client.on('error', () => {});
    await client.connect().catch(() => {});
    const errorsBefore = (await rateLimitStoreErrorsTotal.get()).values[0]?.value ?? 0;
    const app = await limitedApp(RateLimiter.redis(rateLimitConfig({ RATE_LIMIT_KEY: '10/1m,burst=2' }), client, { keyPrefix: uniquePrefix() }));
    const responses = await burst(30, () => get(app, messagesOf(groupA), keyA));
    expect(responses.filter((response) => response.statusCode === 200).length).toBe(12);
    expectHeadersOnEvery(responses);
    const errorsAfter = (await rateLimitStoreErrorsTotal.get()).values[0]?.value ?? 0;
    expect(errorsAfter - errorsBefore).toBeGreaterThanOrEqual(30);
    expect(await registry.getSingleMetricAsString('sonarly_rate_limit_store_errors_total')).toContain('sonarly_rate_limit_store_errors_total');
    client.disconnect();
  });
});

if (backend === 'pglite' && !hasRedis) {
  describe('accuracy, in Redis', () => {
    it.skip(`needs Redis at ${process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'} (.ci/run starts one)`, () => {});
  });
}
