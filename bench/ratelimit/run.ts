/**
 * What rate limiting costs on the read path (issue "Production surface"): the GET …/messages rate
 * of `sonarly serve` with rate limiting off, against the same server with its limits in Redis
 * (and, for reference, in process memory). Goal: Redis-backed limiting costs at most 10 % of the
 * rate, i.e. redis/off ≥ 0.90, measured in the same run.
 *
 * Each round measures the servers twice. In turn: one server alone for a slice, as a deployment
 * runs, in an order that rotates between rounds; the goal is judged on the median over rounds of
 * these redis/off ratios. Side by side: one wrk per server at the same time, so all three meet
 * the same background load; reported as well, because on a machine shared with other work it is
 * the figure background load cannot tilt, but on this 2-core box three servers, three load
 * generators, PostgreSQL and Redis then fight for two cores and single rounds swing by ±40 %
 * (memory-backed limiting, whose check costs microseconds, lands anywhere in that range too).
 * The CPU each server process (and Redis) spends per request, read from /proc, is reported as an
 * upper bound of the cost that no scheduling can blur. Quotas are set far above what the load
 * generator can reach: every request is counted, none is refused, so the cost measured is the
 * check itself.
 *
 * `npm run bench:ratelimit`. Settings (env): BENCH_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/sonarly_bench_ratelimit, created when missing), REDIS_URL
 * (redis://127.0.0.1:6379), BENCH_MESSAGES (20000), BENCH_ROUNDS (25), BENCH_DURATION (seconds per
 * measurement, 3), BENCH_POOL (server pool size, 4), BENCH_CONNECTIONS (wrk connections, 16).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { authenticateKey, createApiKey } from '../../src/domain/apiKeys.js';
import { migrate } from '../../src/storage/migrate.js';
import { openPostgres } from '../../src/storage/postgres.js';
import { ensureDataset } from '../read/dataset.js';
import { type Server, ensureDatabase, log, median, startSonarly, wrk } from '../support/harness.js';

const run = promisify(execFile);
const env = process.env;
const DATABASE_URL = env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sonarly_bench_ratelimit';
const REDIS_URL = env.REDIS_URL || 'redis://127.0.0.1:6379';
const MESSAGES = Number(env.BENCH_MESSAGES ?? 20_000);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 25);
const DURATION = Number(env.BENCH_DURATION ?? 3);
const POOL = Number(env.BENCH_POOL ?? 4);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 16);
const RESULTS_DIR = path.resolve('bench/results');
const GOAL = 0.9;

/** CPU seconds (user + system) a process has used, from /proc: unaffected by other processes' load. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function redisCpuSeconds(): Promise<number> {
  const { stdout } = await run('redis-cli', ['-u', REDIS_URL, 'info', 'cpu']);
  const value = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(stdout)?.[1] ?? 0);
  return value('used_cpu_user') + value('used_cpu_sys');
}

const startBenchServer = (name: string, extraEnv: Record<string, string>, port: number) =>
  startSonarly(name, port, { LOG_LEVEL: 'warn', DATABASE_URL, DATABASE_POOL_SIZE: String(POOL), REDIS_URL: '', ...extraEnv });

async function main(): Promise<void> {
  await ensureDatabase(DATABASE_URL);
  const db = openPostgres({ connectionString: DATABASE_URL, poolSize: 2 });
  await migrate(db);
  const dataset = await ensureDataset(db, MESSAGES, log);
  const key = (await createApiKey(db, { name: 'rate-limit benchmark', permissions: ['messages:read'], accountGroupIds: [dataset.accountGroupId] })).secret;
  if (!(await authenticateKey(db, key))) throw new Error('the benchmark key does not authenticate');
  await db.close();

  const unreachable = '100000000/1s';
  const limits = { RATE_LIMIT_KEY: unreachable, RATE_LIMIT_GROUP: unreachable, RATE_LIMIT_ANONYMOUS: unreachable };
  const servers = [
    await startBenchServer('rate limiting off', { RATE_LIMIT_ENABLED: 'false' }, 18531),
    await startBenchServer('rate limiting in Redis', { ...limits, REDIS_URL, RATE_LIMIT_REDIS_PREFIX: `bench:${randomBytes(4).toString('hex')}` }, 18532),
    await startBenchServer('rate limiting in memory', limits, 18533),
  ];
  const [off, redis] = servers as [Server, Server, Server];
  const url = (server: Server) => `${server.url}/v1/accounts/${dataset.accountGroupId}/messages?limit=50`;

  // The headers prove each server runs the configuration it is named after.
  for (const server of servers) {
    const response = await fetch(url(server), { headers: { authorization: `Bearer ${key}` } });
    const items = ((await response.json()) as { data?: { items?: unknown[] } }).data?.items ?? [];
    const limited = response.headers.get('ratelimit') !== null;
    if (response.status !== 200 || items.length !== 50 || limited !== (server !== off)) {
      throw new Error(`${server.name} answered ${response.status}, ${items.length} items, RateLimit header ${limited ? 'present' : 'absent'}`);
    }
  }

  log('warming up');
  for (const server of servers) await wrk(url(server), key, 3, CONNECTIONS);

  // Two ways of comparing in the same run, each round doing both:
  // - side by side: one wrk per server at the same time, so every server meets the same background
  //   load at the same moment and competes for the same CPUs (the robust figure on a shared box);
  // - in turn: each server alone for a slice, in an order that rotates between rounds.
  const together: Record<string, number[]> = Object.fromEntries(servers.map((server) => [server.name, []]));
  const alone: Record<string, number[]> = Object.fromEntries(servers.map((server) => [server.name, []]));
  const togetherRatios: number[] = [];
  const aloneRatios: number[] = [];
  // CPU microseconds per request: the server process's own, plus Redis's for the Redis server.
  const cpuPerRequest: Record<string, number[]> = Object.fromEntries(servers.map((server) => [server.name, []]));
  const redisCpuPerRequest: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const rates = await Promise.all(servers.map(async (server) => (await wrk(url(server), key, DURATION, CONNECTIONS)).rate));
    servers.forEach((server, i) => together[server.name]!.push(rates[i]!));
    togetherRatios.push(rates[1]! / rates[0]!);
    const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
    const measured: Record<string, number> = {};
    for (const server of order) {
      const [cpu0, redis0] = [await cpuSeconds(server.pid), await redisCpuSeconds()];
      const { rate, requests } = await wrk(url(server), key, DURATION, CONNECTIONS);
      const [cpu1, redis1] = [await cpuSeconds(server.pid), await redisCpuSeconds()];
      measured[server.name] = rate;
      alone[server.name]!.push(rate);
      cpuPerRequest[server.name]!.push((1e6 * (cpu1 - cpu0)) / requests);
      if (server === redis) redisCpuPerRequest.push((1e6 * (redis1 - redis0)) / requests);
    }
    aloneRatios.push(measured[redis.name]! / measured[off.name]!);
    log(`round ${round + 1}/${ROUNDS}: redis/off side by side ${togetherRatios.at(-1)!.toFixed(3)} (${rates.map((r) => r.toFixed(0)).join(' / ')} req/s), in turn ${aloneRatios.at(-1)!.toFixed(3)}`);
  }
  for (const server of servers) await server.stop();

  const ratio = median(togetherRatios);
  const aloneRatio = median(aloneRatios);
  const met = aloneRatio >= GOAL;
  const table = (title: string, rates: Record<string, number[]>) => [
    `| ${title} | median requests/s | per round |`,
    '|---|---|---|',
    ...servers.map((server) => `| ${server.name} | ${median(rates[server.name]!).toFixed(0)} | ${rates[server.name]!.map((r) => r.toFixed(0)).join(', ')} |`),
  ];
  const cpu = (server: Server) => median(cpuPerRequest[server.name]!);
  const redisCpu = median(redisCpuPerRequest);
  const cpuCost = (cpu(redis) + redisCpu - cpu(off)) / cpu(off);
  const lines = [
    `GET /v1/accounts/{id}/messages?limit=50 on PostgreSQL (${MESSAGES} messages), ${ROUNDS} rounds of ${DURATION} s slices, wrk 1 thread ${CONNECTIONS} connections per server, server pool ${POOL}; ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`,
    '',
    ...table('side by side (all three loaded at once)', together),
    '',
    ...table('in turn (one server loaded at a time)', alone),
    '',
    `Redis-backed rate limiting / off, median of per-round ratios: in turn **${aloneRatio.toFixed(3)}** (goal ≥ ${GOAL}: ${met ? 'met' : 'NOT met'}); side by side ${ratio.toFixed(3)}.`,
    '',
    '| CPU per request, in turn | API process, median µs | Redis server, median µs |',
    '|---|---|---|',
    ...servers.map((server) => `| ${server.name} | ${cpu(server).toFixed(0)} | ${server === redis ? redisCpu.toFixed(0) : '–'} |`),
    '',
    `Rate limiting in Redis adds ${(100 * cpuCost).toFixed(1)} % to the API process's CPU per request (with Redis's); as the API process is only part of each request's cost (PostgreSQL, the client), this bounds the rate it can cost from above.`,
    '',
    `Per round, side by side: ${togetherRatios.map((r) => r.toFixed(3)).join(', ')}; in turn: ${aloneRatios.map((r) => r.toFixed(3)).join(', ')}`,
  ];
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(path.join(RESULTS_DIR, `ratelimit-${stamp}.md`), lines.join('\n') + '\n');
  await writeFile(path.join(RESULTS_DIR, `ratelimit-${stamp}.json`), JSON.stringify({ together, alone, togetherRatios, aloneRatios, ratio, aloneRatio, met, cpuPerRequest, redisCpuPerRequest, cpuCost, goal: GOAL, messages: MESSAGES, rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS, pool: POOL }, null, 2));
  process.stdout.write(lines.join('\n') + '\n');
  if (!met) process.exitCode = 1;
}

await main();
