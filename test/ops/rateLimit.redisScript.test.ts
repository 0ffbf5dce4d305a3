import { once } from 'node:events';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import fc from 'fast-check';
import { BurstyRateLimiter, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RateLimitConfig, RateLimitPolicyName } from '../../src/config.js';
import { type Charge, type Decision, RateLimiter } from '../../src/http/rateLimit/limiter.js';
import { REDIS_PAUSE_AFTER_FAILURE_MS } from '../../src/http/rateLimit/redisQuotas.js';
import { openRateLimitStore } from '../../src/http/rateLimit/store.js';
import { rateLimitStoreErrorsTotal } from '../../src/observability/metrics.js';
import { backend } from '../helpers/testDb.js';
import { rateLimitConfig, redisAvailable, redisClient, uniquePrefix } from './support.js';

/**
 * The Redis store counts with its own script (one call for all of a request's quotas) instead of
 * rate-limiter-flexible's one call per quota. These tests hold it to the library: the same
 * decisions as the library's memory counters for any sequence of requests, and the same keys as
 * the library's RateLimiterRedis, so both count together during a rolling upgrade.
 */
const hasRedis = backend === 'pglite' && (await redisAvailable());
const run = hasRedis ? describe : describe.skip;
const client = redisClient();

beforeAll(async () => {
  if (hasRedis) await client.connect();
});

afterAll(() => {
  client.disconnect();
});

const POLICIES: RateLimitPolicyName[] = ['key', 'group', 'send'];

function configOf(rules: { points: number; burst: number }[]): RateLimitConfig {
  // Windows of an hour: no window can end within a test, so Redis's clock and the process's agree.
  return rateLimitConfig(Object.fromEntries(rules.map(({ points, burst }, i) => [`RATE_LIMIT_${POLICIES[i]!.toUpperCase()}`, `${points}/1h,burst=${burst}/2h`])));
}

run('the Redis script decides as rate-limiter-flexible does', () => {
  it('same allowed, remaining and rejected policies as the library for any request sequence (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ points: fc.integer({ min: 1, max: 6 }), burst: fc.integer({ min: 0, max: 3 }) }), { minLength: 3, maxLength: 3 }),
        // Each request is charged to some of the three policies, on one of two partitions each.
        fc.array(fc.array(fc.record({ policy: fc.constantFrom(...POLICIES), partition: fc.constantFrom('p1', 'p2') }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 40 }),
        async (rules, requests) => {
          const config = configOf(rules);
          const inRedis = RateLimiter.redis(config, client, { keyPrefix: uniquePrefix(), random: () => 0 });
          const inMemory = RateLimiter.memory(config, { random: () => 0 });
          for (const charges of requests) {
            const unique = dedupe(charges);
            const [fromRedis, fromMemory] = [await inRedis.check(unique), await inMemory.check(unique)];
            expect(fromRedis.allowed).toBe(fromMemory.allowed);
            expect(fromRedis.states.map(({ policy, allowed, remaining }) => ({ policy, allowed, remaining }))).toEqual(
              fromMemory.states.map(({ policy, allowed, remaining }) => ({ policy, allowed, remaining })),
            );
            for (const state of fromRedis.states) {
              const window = 1000 * (state.remaining > 0 ? state.rule.windowSeconds : Math.max(state.rule.windowSeconds, state.rule.burstWindowSeconds));
              expect(state.resetMs).toBeGreaterThan(0);
              expect(state.resetMs).toBeLessThanOrEqual(window);
            }
          }
        },
      ),
      { numRuns: 60, seed: 20261127 },
    );
  });

  it('counts on the keys rate-limiter-flexible uses, so both count together during an upgrade', async () => {
    const prefix = uniquePrefix();
    const config = rateLimitConfig({ RATE_LIMIT_KEY: '5/1h,burst=2/1h' });
    const ours = RateLimiter.redis(config, client, { keyPrefix: prefix });
    const library = new BurstyRateLimiter(
      new RateLimiterRedis({ storeClient: client, keyPrefix: `${prefix}:key`, points: 5, duration: 3600 }),
      new RateLimiterRedis({ storeClient: client, keyPrefix: `${prefix}:key:burst`, points: 2, duration: 3600 }),
    );
    const charge: Charge[] = [{ policy: 'key', partition: 'k1' }];
    // Four by the new release, two by the old: the window (5) is spent and one burst token used.
    for (let i = 0; i < 4; i++) expect((await ours.check(charge)).allowed).toBe(true);
    expect((await library.consume('k1')).remainingPoints).toBe(0);
    await library.consume('k1');
    const seventh = await ours.check(charge);
    expect(seventh.allowed).toBe(true);
    expect(seventh.states[0]).toMatchObject({ remaining: 0 });
    expect((await ours.check(charge)).allowed).toBe(false);
    await expect(library.consume('k1')).rejects.toBeInstanceOf(RateLimiterRes);
  });

  it('makes one Redis call per request, whatever the number of quotas charged', async () => {
    const prefix = uniquePrefix();
    const limiter = RateLimiter.redis(rateLimitConfig({}), client, { keyPrefix: prefix });
    const calls = await scriptCallsDuring(prefix, () => limiter.check([{ policy: 'key', partition: 'k' }, { policy: 'group', partition: 'g' }, { policy: 'send', partition: 'g' }]));
    expect(calls).toBe(1);
  });
});

run('leases', () => {
  const charge: Charge[] = [{ policy: 'key', partition: 'busy' }];

  it('a busy partition spends its quota exactly, request by request in its headers, with far fewer Redis calls', async () => {
    const prefix = uniquePrefix();
    const limiter = RateLimiter.redis(rateLimitConfig({ RATE_LIMIT_KEY: '1000/1h,burst=10/1h' }), client, { keyPrefix: prefix });
    const decisions: Decision[] = [];
    const calls = await scriptCallsDuring(prefix, async () => {
      for (let i = 0; i < 1500; i++) decisions.push(await limiter.check(charge));
    });
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(1010);
    expect(decisions.slice(0, 1010).every((decision) => decision.allowed)).toBe(true);
    // What each answer reports left counts down by one, as without leases.
    expect(decisions.slice(0, 1000).map((decision) => decision.states[0]!.remaining)).toEqual(Array.from({ length: 1000 }, (_, i) => 999 - i));
    // Leases are at most an eighth of what is left, so the window takes some dozens of calls; the
    // burst reserve is never leased (10 calls); once both are spent, refusals need no call (1).
    console.log(`[leases] 1,500 requests, ${calls} Redis calls`);
    expect(calls).toBeLessThan(150);
    expect(calls).toBeGreaterThan(11);
  });

  it('processes sharing a partition, driven at once, together admit exactly the quota and burst (fast-check interleavings)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ process: fc.integer({ min: 0, max: 2 }), inFlight: fc.integer({ min: 1, max: 8 }) }), { minLength: 80, maxLength: 80 }), async (steps) => {
        const config = rateLimitConfig({ RATE_LIMIT_KEY: '400/1h,burst=20/1h' });
        const prefix = uniquePrefix();
        // Three processes: three limiters, each with its own connection, as three API processes have.
        const clients = [redisClient(), redisClient(), redisClient()];
        try {
          await Promise.all(clients.map((c) => c.connect()));
          const limiters = clients.map((c) => RateLimiter.redis(config, c, { keyPrefix: prefix }));
          let admitted = 0;
          for (const { process, inFlight } of steps) {
            const decisions = await Promise.all(Array.from({ length: inFlight }, () => limiters[process]!.check(charge)));
            admitted += decisions.filter((decision) => decision.allowed).length;
          }
          // Every process keeps getting requests until all quotas are long spent (80 steps of up to
          // 8 > 420 is not guaranteed, so finish with a sweep over every process).
          for (let round = 0; round < 60; round++) {
            for (const limiter of limiters) admitted += (await limiter.check(charge)).allowed ? 1 : 0;
          }
          expect(admitted).toBe(420);
        } finally {
          for (const c of clients) c.disconnect();
        }
      }),
      { numRuns: 15, seed: 20261128 },
    );
  });

  it('a lease never outlives its window', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const prefix = uniquePrefix();
      const limiter = RateLimiter.redis(rateLimitConfig({ RATE_LIMIT_KEY: '800/1h' }), client, { keyPrefix: prefix });
      for (let i = 0; i < 200; i++) await limiter.check(charge);
      expect(await scriptCallsDuring(prefix, () => limiter.check(charge)), 'spent from a lease').toBe(0);
      // This process's clock says the window has ended: the leased rest is void, and the next
      // request asks Redis.
      vi.setSystemTime(Date.now() + 3_600_000);
      expect(await scriptCallsDuring(prefix, () => limiter.check(charge)), 'asked Redis').toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

/** How many script calls on keys under `prefix` Redis ran while `work` ran. */
async function scriptCallsDuring(prefix: string, work: () => Promise<unknown>): Promise<number> {
  const monitor = await client.duplicate().monitor();
  let calls = 0;
  const marker = `end-of-work-${Math.random()}`;
  const seen = new Promise<void>((resolve) => {
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase().startsWith('eval') && args.some((arg) => arg.startsWith(prefix))) calls++;
      if (args[1] === marker) resolve();
    });
  });
  try {
    await work();
    // Redis runs one connection's commands in order: once the monitor shows the marker, it has
    // shown every call the work made.
    await client.echo(marker);
    await seen;
  } finally {
    monitor.disconnect();
  }
  return calls;
}

/** A request is charged at most once per policy (the plugin never repeats one). */
function dedupe(charges: Charge[]): Charge[] {
  const seen = new Set<string>();
  return charges.filter(({ policy }) => !seen.has(policy) && seen.add(policy));
}

/**
 * A Redis that accepts connections and answers the ready check but, while `silent`, never answers
 * a script call (overloaded, paused, a half-open connection); once told to `recover`, it drops its
 * connections and answers every script call with "allowed, a lease of 50". RESP as far as ioredis
 * needs it.
 */
async function sickRedis() {
  let scriptCalls = 0;
  let silent = true;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let pending = '';
    // Replies go out in command order, so once a script call goes unanswered nothing else is.
    let stuck = false;
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      for (let command = takeCommand(); command; command = takeCommand()) {
        const name = command[0]!.toLowerCase();
        const script = name === 'eval' || name === 'evalsha';
        if (script) scriptCalls++;
        if (script && silent) stuck = true;
        if (stuck) continue;
        const info = '# Server\r\nredis_version:7.0.0\r\nloading:0\r\n';
        // allowed, 50 leased, 50 counted in the window, 1 h left
        if (script) socket.write('*4\r\n:1\r\n:50\r\n:50\r\n:3600000\r\n');
        else socket.write(name === 'info' ? `$${info.length}\r\n${info}\r\n` : '+OK\r\n');
      }
    });
    /** Removes one complete RESP command (an array of bulk strings) from `pending`, if there is one. */
    function takeCommand(): string[] | null {
      const header = /^\*(\d+)\r\n/.exec(pending);
      if (!header) return null;
      let at = header[0].length;
      const parts: string[] = [];
      for (let i = 0; i < Number(header[1]); i++) {
        const bulk = /^\$(\d+)\r\n/.exec(pending.slice(at));
        if (!bulk) return null;
        const start = at + bulk[0].length;
        if (pending.length < start + Number(bulk[1]) + 2) return null;
        parts.push(pending.slice(start, start + Number(bulk[1])));
        at = start + Number(bulk[1]) + 2;
      }
      pending = pending.slice(at);
      return parts;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    scriptCalls: () => scriptCalls,
    recover() {
      silent = false;
      for (const socket of sockets) socket.destroy();
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const storeErrors = async () => (await rateLimitStoreErrorsTotal.get()).values[0]?.value ?? 0;
const onPglite = backend === 'pglite' ? describe : describe.skip;

onPglite('a Redis that stops answering', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds no request past the command timeout: the store counts in memory instead', async () => {
    const sick = await sickRedis();
    const store = openRateLimitStore({ rateLimit: rateLimitConfig({ RATE_LIMIT_KEY: '3/1h' }), redisUrl: sick.url });
    try {
      await store.connect(() => {});
      const errorsBefore = await storeErrors();
      const decisions = [];
      // Without a command timeout the first check would wait for ever (and the test time out).
      for (let i = 0; i < 5; i++) decisions.push(await store.limiter!.check([{ policy: 'key', partition: 'k' }]));
      expect(decisions.map((decision) => decision.allowed)).toEqual([true, true, true, false, false]);
      expect(sick.scriptCalls()).toBe(1);
      expect((await storeErrors()) - errorsBefore).toBe(5);
    } finally {
      await store.close();
      await sick.close();
    }
  });

  it('after a failed call counts in memory for a while, then goes back to Redis', async () => {
    const sick = await sickRedis();
    const client = new Redis(sick.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true, commandTimeout: 100, lazyConnect: true });
    client.on('error', () => {});
    try {
      await client.connect();
      vi.useFakeTimers({ toFake: ['Date'] });
      const limiter = RateLimiter.redis(rateLimitConfig({ RATE_LIMIT_KEY: '3/1h' }), client, { keyPrefix: uniquePrefix() });
      const charge: Charge[] = [{ policy: 'key', partition: 'k' }];
      expect((await limiter.check(charge)).states[0]).toMatchObject({ allowed: true, remaining: 2 });
      expect(sick.scriptCalls()).toBe(1);
      // Redis answers again on a new connection, but the pause is not over: memory still decides
      // (memory says 1 and 0 left; the sick Redis's lease would say 49).
      sick.recover();
      await once(client, 'ready');
      expect((await limiter.check(charge)).states[0]).toMatchObject({ allowed: true, remaining: 1 });
      vi.setSystemTime(Date.now() + REDIS_PAUSE_AFTER_FAILURE_MS - 1);
      expect((await limiter.check(charge)).states[0]).toMatchObject({ allowed: true, remaining: 0 });
      // The sick Redis leases 50 on every script call: 49 left can only come from it.
      vi.setSystemTime(Date.now() + 1);
      expect((await limiter.check(charge)).states[0]).toMatchObject({ allowed: true, remaining: 49 });
    } finally {
      client.disconnect();
      await sick.close();
    }
  });
});
