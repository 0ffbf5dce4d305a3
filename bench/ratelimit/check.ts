/**
 * The CPU one request's rate-limit check costs, without HTTP or a database around it: its key and
 * its group quota against the in-memory store and against Redis (spent from a lease, and with one
 * script call for both), 16 in flight at a time, as the API runs them. CPU time is per process, so unlike a throughput figure it barely moves
 * with other load on a shared machine. `npx tsx bench/ratelimit/check.ts` (REDIS_URL, BENCH_CHECKS).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { RateLimiter } from '../../src/http/rateLimit/limiter.js';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const CHECKS = Number(process.env.BENCH_CHECKS ?? 50_000);
const config = loadConfig({ RATE_LIMIT_KEY: '100000000/1s', RATE_LIMIT_GROUP: '100000000/1s' }).rateLimit;

const redisCpu = () => {
  const out = execFileSync('redis-cli', ['-u', REDIS_URL, 'info', 'cpu']).toString();
  const value = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(out)?.[1] ?? 0);
  return value('used_cpu_user') + value('used_cpu_sys');
};

/**
 * `fresh`: every request on partitions never seen before, so none can be spent from a lease: the
 * cost of a Redis call, as paid by a partition's first request in a window and by every request
 * near its limit.
 */
async function measure(limiter: RateLimiter, fresh = false): Promise<{ node: number; redis: number }> {
  let n = 0;
  const charges = () =>
    fresh
      ? [{ policy: 'key' as const, partition: `bench-key-${++n}` }, { policy: 'group' as const, partition: `bench-group-${n}` }]
      : [{ policy: 'key' as const, partition: 'bench-key' }, { policy: 'group' as const, partition: 'bench-group' }];
  const redis0 = redisCpu();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < CHECKS; i += 16) await Promise.all(Array.from({ length: 16 }, () => limiter.check(charges())));
  const cpu = process.cpuUsage(cpu0);
  return { node: (cpu.user + cpu.system) / CHECKS, redis: ((redisCpu() - redis0) * 1e6) / CHECKS };
}

const client = new Redis(REDIS_URL, { enableAutoPipelining: true, enableOfflineQueue: false, lazyConnect: true });
await client.connect();
const memory = await measure(RateLimiter.memory(config));
const prefix = `bench:${randomBytes(4).toString('hex')}`;
const redis = await measure(RateLimiter.redis(config, client, { keyPrefix: prefix }));
const redisCall = await measure(RateLimiter.redis(config, client, { keyPrefix: `${prefix}:fresh` }), true);
// The fresh partitions' keys would otherwise linger until their windows end.
for (let cursor = '0'; ; ) {
  const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
  if (keys.length > 0) await client.unlink(...keys);
  cursor = next;
  if (cursor === '0') break;
}
client.disconnect();
process.stdout.write(
  [
    `${CHECKS} requests, each checking its key and its group quota, 16 in flight`,
    '',
    '| store | API process CPU per request | Redis server CPU per request |',
    '|---|---|---|',
    `| memory | ${memory.node.toFixed(1)} µs | – |`,
    `| Redis, a busy key and group (spent from leases) | ${redis.node.toFixed(1)} µs | ${redis.redis.toFixed(1)} µs |`,
    `| Redis, one script call per request (new partitions each time) | ${redisCall.node.toFixed(1)} µs | ${redisCall.redis.toFixed(1)} µs |`,
    '',
  ].join('\n'),
);
