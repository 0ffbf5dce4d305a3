import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend, testDatabaseUrl } from '../helpers/testDb.js';
import { Harness } from '../helpers/harness.js';
import { type ServeProcess, startServe } from './processes.js';
import { REDIS_URL, bearer, parseLimitField, redisAvailable, uniquePrefix } from './support.js';

/**
 * Two real API processes (`sonarly serve`) on one PostgreSQL and one Redis share every quota:
 * together they accept what one would, within 1%. PGlite admits one process per database, so
 * this runs in the PostgreSQL project.
 */
const hasRedis = await redisAvailable();
const run = backend === 'postgres' && hasRedis ? describe : describe.skip;

const LIMIT = 300;
const BURST = 30;

let h: Harness;
let processes: ServeProcess[] = [];
let groupId: string;
let key: string;

run('two API processes on one Redis', () => {
  beforeAll(async () => {
    h = await Harness.create();
    groupId = await h.group('Shared');
    key = await h.key(['messages:read'], [groupId]);
    const url = new URL(testDatabaseUrl());
    url.searchParams.set('options', `-c search_path=${h.testDb.schema}`);
    const env = {
      DATABASE_URL: url.toString(),
      DATABASE_POOL_SIZE: '4',
      REDIS_URL,
      RATE_LIMIT_REDIS_PREFIX: uniquePrefix(),
      RATE_LIMIT_KEY: `${LIMIT}/1m,burst=${BURST}`,
      LOG_LEVEL: 'warn',
    };
    processes = await Promise.all([startServe(env, ['--no-worker', '--no-demo']), startServe(env, ['--no-worker', '--no-demo'])]);
  });

  afterAll(async () => {
    for (const process of processes) process.kill('SIGTERM');
    await Promise.all(processes.map((process) => process.exited));
    await h?.close();
  });

  it(`together accept within 1% of the shared limit (${LIMIT} + burst ${BURST})`, async () => {
    const perProcess = 2 * (LIMIT + BURST);
    const statuses: number[] = [];
    let allHeaders = true;
    // Both processes are driven at once, 8 requests in flight each.
    await Promise.all(
      processes.map(async (process) => {
        for (let sent = 0; sent < perProcess; sent += 8) {
          const batch = await Promise.all(
            Array.from({ length: 8 }, () => fetch(`${process.url}/v1/accounts/${groupId}/messages?limit=1`, { headers: bearer(key) })),
          );
          for (const response of batch) {
            statuses.push(response.status);
            allHeaders &&= parseLimitField(response.headers.get('ratelimit')).length > 0 && parseLimitField(response.headers.get('ratelimit-policy')).length > 0;
            if (response.status === 429) allHeaders &&= Number(response.headers.get('retry-after')) >= 1;
            await response.arrayBuffer();
          }
        }
      }),
    );
    const accepted = statuses.filter((status) => status === 200).length;
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    expect(Math.abs(accepted - (LIMIT + BURST))).toBeLessThanOrEqual(Math.ceil((LIMIT + BURST) * 0.01));
    expect(allHeaders).toBe(true);
  });
});
