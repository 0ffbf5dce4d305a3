/**
 * Scheduler benchmark (issue "Outbound scheduler"), on PostgreSQL:
 *  1. HTTP: `POST …/messages/responses` with a new Idempotency-Key per request, against
 *     `GET …/messages?limit=50` on the same server, same run (goal: POST ≥ 0.5× GET).
 *  2. Drain: with pacing off, how fast one in-process worker empties a queue of 1,000 and of
 *     100,000 sends through the sandbox connector (goal: 100k rate ≥ 0.8× 1k rate), and the
 *     queue-to-sent latency (p50/p99) of replies arriving at a steady rate while it runs.
 * Env: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/sonarly_bench_scheduler),
 * BENCH_SECONDS (wrk duration, 10), BENCH_BIG (100000), BENCH_SMALL (1000).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { systemClock } from '../../src/clock.js';
import { defaultConnectorRegistry } from '../../src/connectors/registry.js';
import { createApiKey } from '../../src/domain/apiKeys.js';
import { MESSAGING_PERMISSIONS } from '../../src/domain/permissions.js';
import { seedDemoWorkspace } from '../../src/demo/seed.js';
import { SEND_RESPONSE_JOB } from '../../src/domain/responses/create.js';
import { jobHandlers } from '../../src/scheduler/handlers.js';
import { Worker } from '../../src/scheduler/worker.js';
import { migrate } from '../../src/storage/migrate.js';
import { openPostgres } from '../../src/storage/postgres.js';

const run = promisify(execFile);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sonarly_bench_scheduler';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const BIG = Number(process.env.BENCH_BIG ?? 100_000);
const SMALL = Number(process.env.BENCH_SMALL ?? 1_000);
const PORT = 18_480;
const log = (message: string) => process.stderr.write(`[bench:scheduler] ${message}\n`);

async function recreateDatabase(): Promise<void> {
  const admin = new URL(DATABASE_URL);
  const name = admin.pathname.slice(1);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await client.query(`CREATE DATABASE "${name}"`);
  await client.end();
}

const children = new Set<ChildProcess>();
process.on('exit', () => children.forEach((child) => child.kill('SIGTERM')));

async function startServer(): Promise<() => Promise<void>> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--no-worker', '--port', String(PORT)], {
    env: { ...process.env, DATABASE_URL, LOG_LEVEL: 'warn', RATE_LIMIT_ENABLED: 'false' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  for (let i = 0; i < 300; i++) {
    try {
      await fetch(`http://127.0.0.1:${PORT}/`);
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return async () => {
    const done = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await done;
  };
}

async function wrk(args: string[], env: Record<string, string> = {}): Promise<number> {
  const { stdout } = await run('wrk', ['-t1', '-c16', `-d${SECONDS}s`, '--timeout', '10s', ...args], { env: { ...process.env, ...env }, maxBuffer: 1 << 20 });
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!rate || /Non-2xx|Socket errors/.test(stdout)) throw new Error(`wrk failed:\n${stdout}`);
  return Number(rate[1]);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function main(): Promise<void> {
  await recreateDatabase();
  const db = openPostgres({ connectionString: DATABASE_URL, poolSize: 10 });
  await migrate(db);
  log('seeding the demo workspace');
  const demo = await seedDemoWorkspace(db);
  // Pacing off: this measures the scheduler's own throughput, not LinkedIn-safe pacing.
  await db.query(`UPDATE connected_accounts SET pacing = '{"enabled": false}'`);
  const [target] = await db.query<{ prospect_id: string }>(
    `SELECT p.id AS prospect_id FROM prospects p JOIN conversations c ON c.participant_provider_id = p.provider_id AND c.account_group_id = p.account_group_id
     WHERE p.account_group_id = $1 GROUP BY p.id HAVING count(*) = 1 LIMIT 1`,
    [demo.accountGroupId],
  );
  const { secret } = await createApiKey(db, { permissions: MESSAGING_PERMISSIONS, accountGroupIds: [demo.accountGroupId] });

  log('HTTP: GET messages vs POST responses');
  const stop = await startServer();
  const base = `http://127.0.0.1:${PORT}/v1/accounts/${demo.accountGroupId}`;
  const getRates: number[] = [];
  const postRates: number[] = [];
  for (let round = 0; round < 3; round++) {
    getRates.push(await wrk(['-H', `Authorization: Bearer ${secret}`, `${base}/messages?limit=50`]));
    postRates.push(
      await wrk(['-s', 'bench/scheduler/post.lua', `http://127.0.0.1:${PORT}`], {
        BENCH_KEY: secret,
        BENCH_PROSPECT: target!.prospect_id,
        BENCH_PATH: `/v1/accounts/${demo.accountGroupId}/messages/responses`,
      }),
    );
  }
  await stop();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

  const drain = async (count: number) => {
    await db.query('DELETE FROM jobs');
    await db.query('DELETE FROM scheduled_responses');
    await db.query('DELETE FROM sandbox_sends');
    await db.query(`DELETE FROM messages WHERE is_sender AND provider_message_id LIKE 'sandbox-msg-%'`);
    // Bulk-queue `count` replies spread over the demo's conversations, as POST would have.
    await db.query(
      `WITH targets AS (
         SELECT p.id AS prospect_id, c.id AS conversation_id, c.account_id, p.provider_id, row_number() OVER () - 1 AS n
         FROM conversations c JOIN prospects p ON p.provider_id = c.participant_provider_id AND p.account_group_id = c.account_group_id
         WHERE c.account_group_id = $1),
       total AS (SELECT count(*) AS t FROM targets),
       rows AS (
         SELECT lpad(to_hex(g), 24, '0') AS id, t.* FROM generate_series(1, $2) g, total JOIN targets t ON true WHERE t.n = g % total.t)
       INSERT INTO scheduled_responses (id, account_group_id, prospect_id, account_id, conversation_id, recipient_provider_id, channel, message, status, scheduled_for, created_at, updated_at)
       SELECT id, $1, prospect_id, account_id, conversation_id, provider_id, 'direct_message', 'bench reply', 'queued', now(), now(), now() FROM rows`,
      [demo.accountGroupId, count],
    );
    await db.query(
      `INSERT INTO jobs (id, kind, payload, available_at, created_at)
       SELECT id, $1, jsonb_build_object('responseId', id), now(), now() FROM scheduled_responses`,
      [SEND_RESPONSE_JOB],
    );
    await db.query('ANALYZE jobs');
    const worker = new Worker({ db, clock: systemClock, concurrency: 16, handlers: jobHandlers({ db, clock: systemClock, connectors: defaultConnectorRegistry(db, systemClock) }) });
    const started = performance.now();
    worker.start();
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs');
      if (row!.n === 0) break;
    }
    const seconds = (performance.now() - started) / 1000;
    await worker.stop();
    const [sent] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM scheduled_responses WHERE status = 'sent'`);
    if (sent!.n !== count) throw new Error(`drain of ${count} sent ${sent!.n}`);
    return count / seconds;
  };

  log(`drain: ${SMALL} queued`);
  const smallRate = await drain(SMALL);
  log(`drain: ${BIG} queued`);
  const bigRate = await drain(BIG);

  log('latency: replies arriving at 100/s for 10 s while a worker runs');
  await db.query('DELETE FROM jobs');
  const worker = new Worker({ db, clock: systemClock, concurrency: 16, idlePollMs: 50, handlers: jobHandlers({ db, clock: systemClock, connectors: defaultConnectorRegistry(db, systemClock) }) });
  worker.start();
  const { scheduleResponse } = await import('../../src/domain/responses/create.js');
  const ids: string[] = [];
  const arrivalStart = performance.now();
  for (let i = 0; i < 1000; i++) {
    const due = arrivalStart + i * 10;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    ids.push((await db.transaction((tx) => scheduleResponse(tx, systemClock, demo.accountGroupId, { prospectId: target!.prospect_id, message: `latency ${i}` }))).id);
  }
  for (;;) {
    const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM scheduled_responses WHERE id = ANY($1) AND status <> 'sent'`, [ids]);
    if (row!.n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await worker.stop();
  // updated_at is stamped when the response becomes `sent`: the end of its journey.
  const latencies = (
    await db.query<{ ms: number }>(`SELECT extract(epoch FROM (updated_at - created_at)) * 1000 AS ms FROM scheduled_responses WHERE id = ANY($1) ORDER BY 1`, [ids])
  ).map((row) => Number(row.ms));
  await db.close();

  const getRate = median(getRates);
  const postRate = median(postRates);
  const lines = [
    `Scheduler benchmark, ${new Date().toISOString()}, PostgreSQL (${DATABASE_URL.replace(/\/\/[^@]*@/, '//')})`,
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version} (shared with other work)`,
    '',
    '| figure | value | goal | met |',
    '| --- | ---: | --- | --- |',
    `| GET …/messages?limit=50, req/s (median of 3 × ${SECONDS} s) | ${getRate.toFixed(0)} | baseline | |`,
    `| POST …/messages/responses with Idempotency-Key, req/s | ${postRate.toFixed(0)} | | |`,
    `| POST / GET | ${(postRate / getRate).toFixed(2)} | >= 0.50 | ${postRate / getRate >= 0.5 ? 'yes' : 'no'} |`,
    `| drain rate, ${SMALL} queued (sends/s, pacing off) | ${smallRate.toFixed(0)} | baseline | |`,
    `| drain rate, ${BIG} queued (sends/s, pacing off) | ${bigRate.toFixed(0)} | | |`,
    `| drain ${BIG} / drain ${SMALL} | ${(bigRate / smallRate).toFixed(2)} | >= 0.80 | ${bigRate / smallRate >= 0.8 ? 'yes' : 'no'} |`,
    `| queue-to-sent latency p50 / p99 at 100 replies/s (ms) | ${percentile(latencies, 50).toFixed(0)} / ${percentile(latencies, 99).toFixed(0)} | report | |`,
  ];
  const report = lines.join('\n');
  process.stdout.write(report + '\n');
  await mkdir('bench/results', { recursive: true });
  await writeFile(path.join('bench/results', `scheduler-${new Date().toISOString().replace(/[:.]/g, '-')}.md`), report + '\n');
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
