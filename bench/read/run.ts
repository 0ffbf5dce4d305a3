/**
 * Read-path benchmark of GET /v1/accounts/{id}/messages (issue "Message history API").
 * `npm run bench:read` runs it all and prints a table; see BENCHMARKS.md for what each row means.
 *
 * Every goal is a ratio of two rates measured in the same round of the same run, because the
 * machine is small and shared: each round runs pgbench and then wrk against each server, one after
 * the other, and the reported ratio is the median over rounds.
 *
 * Settings (env): BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/sonarly_bench,
 * created when missing), BENCH_MESSAGES (1000000), BENCH_ROUNDS (7), BENCH_DURATION (seconds per
 * measurement, 6), BENCH_POOL (server pool size = pgbench clients, 4), BENCH_CONNECTIONS (wrk
 * connections, 16), BENCH_PGLITE_DIR (bench/results/pglite), BENCH_SKIP (comma list of
 * pglite, baseline, breakdown, walk, deep).
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { authenticateKey, createApiKey } from '../../src/domain/apiKeys.js';
import { CursorCodec } from '../../src/domain/cursor.js';
import { MESSAGE_PAGE_SQL } from '../../src/domain/messages.js';
import { serverSecret } from '../../src/domain/serverSecrets.js';
import type { Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { openPglite } from '../../src/storage/pglite.js';
import { openPostgres } from '../../src/storage/postgres.js';
import { type Server, ensureDatabase, log, median, startServer, wrk } from '../support/harness.js';
import { type Dataset, ensureDataset } from './dataset.js';

const run = promisify(execFile);
const env = process.env;
const DATABASE_URL = env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sonarly_bench';
const MESSAGES = Number(env.BENCH_MESSAGES ?? 1_000_000);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 7);
const DURATION = Number(env.BENCH_DURATION ?? 6);
const POOL = Number(env.BENCH_POOL ?? 4);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 16);
const PGLITE_DIR = path.resolve(env.BENCH_PGLITE_DIR ?? 'bench/results/pglite');
const SKIP = new Set((env.BENCH_SKIP ?? '').split(',').filter(Boolean));
const PAGE = 50;
const DEEP = 900_000;
const RESULTS_DIR = path.resolve('bench/results');


// ---------------------------------------------------------------------------------------------
// Data: the dataset, an API key, and a signed cursor 900,000 messages deep.

interface Target {
  dataset: Dataset;
  key: string;
  /** Sent time and id of the DEEP-th newest message: the cursor resumes right after it. */
  deep: { t: string; i: string; cursor: string };
}

const KEY_SETTING = 'bench_read_api_key';

async function prepareTarget(db: Db): Promise<Target> {
  await migrate(db);
  const dataset = await ensureDataset(db, MESSAGES, log);
  // The database keeps only the key's hash; the benchmark keeps its secret beside the data.
  const [stored] = await db.query<{ value: string }>('SELECT value FROM settings WHERE name = $1', [KEY_SETTING]);
  let key = stored?.value;
  if (!key || !(await authenticateKey(db, key))) {
    key = (await createApiKey(db, { name: 'read benchmark', permissions: ['messages:read'], accountGroupIds: [dataset.accountGroupId] })).secret;
    await db.query('INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value', [KEY_SETTING, key]);
  }
  // Signed with the server's own secret, exactly as the server would sign the 18,000th nextCursor.
  const cursors = new CursorCodec(await serverSecret(db, 'cursor_signing_key'));
  const [row] = await db.query<{ id: string; t: string }>(
    `SELECT id, to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS t FROM messages
     WHERE account_group_id = $1 ORDER BY sent_at DESC, id DESC OFFSET $2 LIMIT 1`,
    [dataset.accountGroupId, Math.min(DEEP, MESSAGES - PAGE - 1) - 1],
  );
  const deep = { t: row!.t, i: row!.id, cursor: cursors.encode({ v: 1, g: dataset.accountGroupId, c: null, t: row!.t, i: row!.id }) };
  return { dataset, key, deep };
}

// ---------------------------------------------------------------------------------------------
// Processes.

const startProcess = (name: string, command: string, args: string[], env: Record<string, string>, port: number) => startServer({ name, command, args, env, port });

function messagesUrl(server: Server, target: Target, cursor?: string, limit = PAGE): string {
  return `${server.url}/v1/accounts/${target.dataset.accountGroupId}/messages?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
}

/** Fails loudly when a URL does not answer a full page, so a broken server cannot post a fast rate. */
async function checkPage(url: string, key: string, expectFirstId?: string): Promise<void> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  const body = (await response.json()) as { data?: { items?: { id: string }[] } };
  const items = body.data?.items ?? [];
  if (response.status !== 200 || items.length !== PAGE) throw new Error(`${url} answered ${response.status} with ${items.length} items`);
  if (expectFirstId !== undefined && items[0]!.id !== expectFirstId) throw new Error(`${url} starts at ${items[0]!.id}, expected ${expectFirstId}`);
}

// ---------------------------------------------------------------------------------------------
// Load generators.

const rate = async (url: string, key: string, seconds = DURATION) => (await wrk(url, key, seconds, CONNECTIONS)).rate;

/**
 * pgbench runs MESSAGE_PAGE_SQL's text itself: each client PREPAREs it once (its own first
 * transaction) and then EXECUTEs it with the same five parameters the server binds, NULLs
 * included. (pgbench's own -M prepared cannot take this text: it reads the `:MI:SS` inside the
 * to_char format as variables, and it cannot bind NULL.)
 */
async function pgbenchScript(name: string, sql: string, args: string): Promise<string> {
  const file = path.join(RESULTS_DIR, `pgbench-${name}.sql`);
  const script = [
    '\\if :prepared = 0',
    `PREPARE page(text, text, text, text, int) AS ${sql.replace(/\s*\n\s*/g, ' ')};`,
    '\\set prepared 1',
    '\\endif',
    `EXECUTE page(${args});`,
    '',
  ].join('\n');
  await writeFile(file, script);
  return file;
}

const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;

async function pgbench(script: string, seconds = DURATION): Promise<number> {
  const url = new URL(DATABASE_URL);
  const args = ['-n', '-M', 'simple', '-c', String(POOL), '-j', String(Math.min(POOL, 2)), '-T', String(seconds), '-D', 'prepared=0', '-f', script];
  args.push('-h', url.hostname, '-p', url.port || '5432', '-U', decodeURIComponent(url.username || 'postgres'), decodeURIComponent(url.pathname.slice(1)));
  const { stdout } = await run('pgbench', args, { maxBuffer: 1 << 20 });
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  const failed = /number of failed transactions: (\d+)/.exec(stdout);
  if (!tps || (failed && failed[1] !== '0')) throw new Error(`pgbench ${script}:\n${stdout}`);
  return Number(tps[1]);
}

// ---------------------------------------------------------------------------------------------
// Memory while a client walks every page.

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

interface Walk {
  pages: number;
  messages: number;
  seconds: number;
  startMiB: number;
  peakMiB: number;
  endMiB: number;
  /** RSS after 10 % of the walk: growth from here on is what "flat" is about (warm caches aside). */
  tenthMiB: number;
}

async function walk(server: Server, target: Target): Promise<Walk> {
  const headers = { authorization: `Bearer ${target.key}` };
  const startMiB = await rssMiB(server.pid);
  let peakMiB = startMiB;
  let tenthMiB = 0;
  const sampler = setInterval(() => {
    rssMiB(server.pid).then((mib) => (peakMiB = Math.max(peakMiB, mib)), () => {});
  }, 100);
  const started = Date.now();
  let cursor: string | undefined;
  let pages = 0;
  let messages = 0;
  let lastId = '';
  try {
    for (;;) {
      const response = await fetch(messagesUrl(server, target, cursor, 100), { headers });
      const body = (await response.json()) as { data: { items: { id: string }[]; nextCursor: string | null; hasMore: boolean } };
      if (response.status !== 200) throw new Error(`walk: page ${pages} answered ${response.status}`);
      pages++;
      messages += body.data.items.length;
      if (body.data.items[0]?.id === lastId) throw new Error('walk: a page repeated the previous one');
      lastId = body.data.items.at(-1)?.id ?? '';
      if (tenthMiB === 0 && messages >= target.dataset.messages / 10) tenthMiB = await rssMiB(server.pid);
      if (!body.data.hasMore) break;
      cursor = body.data.nextCursor!;
    }
  } finally {
    clearInterval(sampler);
  }
  const endMiB = await rssMiB(server.pid);
  if (messages !== target.dataset.messages) throw new Error(`walk: saw ${messages} messages, the group holds ${target.dataset.messages}`);
  return { pages, messages, seconds: (Date.now() - started) / 1000, startMiB, peakMiB: Math.max(peakMiB, endMiB), endMiB, tenthMiB };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true });
  log('building (npm run build)');
  await run('npm', ['run', 'build', '--silent']);

  await ensureDatabase(DATABASE_URL);
  const pgDb = openPostgres({ connectionString: DATABASE_URL, poolSize: 2 });
  const pgTarget = await prepareTarget(pgDb);
  await pgDb.close();

  let liteTarget: Target | null = null;
  if (!SKIP.has('pglite')) {
    await mkdir(path.join(PGLITE_DIR, 'pgdata'), { recursive: true });
    const liteDb = await openPglite(path.join(PGLITE_DIR, 'pgdata'));
    liteTarget = await prepareTarget(liteDb);
    await liteDb.close();
  }

  // The full stack as `sonarly serve` runs it, with quotas far above what the load generator can
  // reach (rate limiting still runs on every request, on its in-process store: no REDIS_URL).
  const serverEnv = {
    LOG_LEVEL: 'warn',
    DATABASE_POOL_SIZE: String(POOL),
    RATE_LIMIT_KEY: '100000000/1s',
    RATE_LIMIT_GROUP: '100000000/1s',
    REDIS_URL: '',
  };
  const sonarly = ['bin/sonarly.js', 'serve', '--no-demo'];
  const servers: Server[] = [];
  const full = await startProcess('sonarly (PostgreSQL)', process.execPath, sonarly, { ...serverEnv, DATABASE_URL }, 18431);
  servers.push(full);
  // The issue's baseline, and two steps between it and the full server (see plainServer.ts).
  const baselines: { label: string; server: Server }[] = [];
  if (!SKIP.has('baseline')) {
    const modes = [
      ['plain', 'plain Fastify + pg (no key check)'],
      ...(SKIP.has('breakdown') ? [] : [['page', 'bare Fastify + listMessages (no key check)'], ['page+key', 'bare Fastify + key check + listMessages']]),
    ];
    for (const [i, [mode, label]] of modes.entries()) {
      const server = await startProcess(label!, process.execPath, ['--import', 'tsx', 'bench/read/plainServer.ts'], { DATABASE_URL, POOL_SIZE: String(POOL), MODE: mode! }, 18434 + i);
      servers.push(server);
      baselines.push({ label: label!, server });
    }
  }
  const lite = liteTarget ? await startProcess('sonarly (PGlite)', process.execPath, sonarly, { ...serverEnv, SONARLY_DATA_DIR: PGLITE_DIR, DATABASE_URL: '' }, 18433) : null;
  if (lite) servers.push(lite);

  try {
    const deepFirstId = async (db: Db, target: Target) =>
      (JSON.parse((await db.query<{ item: string }>(MESSAGE_PAGE_SQL.groupAfter, [target.dataset.accountGroupId, null, target.deep.t, target.deep.i, 1]))[0]!.item) as { id: string }).id;
    const check = openPostgres({ connectionString: DATABASE_URL, poolSize: 1 });
    await checkPage(messagesUrl(full, pgTarget), pgTarget.key);
    await checkPage(messagesUrl(full, pgTarget, pgTarget.deep.cursor), pgTarget.key, await deepFirstId(check, pgTarget));
    await check.close();
    for (const { server } of baselines) await checkPage(messagesUrl(server, pgTarget), pgTarget.key);
    if (lite && liteTarget) {
      await checkPage(messagesUrl(lite, liteTarget), liteTarget.key);
      await checkPage(messagesUrl(lite, liteTarget, liteTarget.deep.cursor), liteTarget.key);
    }

    const g = quote(pgTarget.dataset.accountGroupId);
    const firstScript = await pgbenchScript('first', MESSAGE_PAGE_SQL.group, `${g}, NULL, NULL, NULL, ${PAGE + 1}`);
    const deepScript = await pgbenchScript('deep', MESSAGE_PAGE_SQL.groupAfter, `${g}, NULL, ${quote(pgTarget.deep.t)}, ${quote(pgTarget.deep.i)}, ${PAGE + 1}`);

    type Series = Record<string, number[]>;
    const rates: Series = {};
    const add = (name: string, value: number) => (rates[name] ??= []).push(value);
    // Figures compared with each other run next to each other, so a burst of other work on the
    // shared machine hits both sides of a ratio alike; every other round runs the list backwards.
    const measurements: [string, (seconds: number) => Promise<number>][] = [
      ['pgbench first page', (s) => pgbench(firstScript, s)],
      ['sonarly PostgreSQL first page', (s) => rate(messagesUrl(full, pgTarget), pgTarget.key, s)],
    ];
    if (!SKIP.has('deep')) measurements.push(['sonarly PostgreSQL deep page', (s) => rate(messagesUrl(full, pgTarget, pgTarget.deep.cursor), pgTarget.key, s)]);
    if (lite && liteTarget) {
      measurements.push(['sonarly PGlite first page', (s) => rate(messagesUrl(lite, liteTarget!), liteTarget!.key, s)]);
      if (!SKIP.has('deep')) measurements.push(['sonarly PGlite deep page', (s) => rate(messagesUrl(lite, liteTarget!, liteTarget!.deep.cursor), liteTarget!.key, s)]);
    }
    if (!SKIP.has('deep')) measurements.push(['pgbench deep page', (s) => pgbench(deepScript, s)]);
    for (const { label, server } of baselines) measurements.push([`${label} first page`, (s) => rate(messagesUrl(server, pgTarget), pgTarget.key, s)]);

    log('warming up');
    // One short pass each: JIT, plan caches, the prepared statements of every pool connection.
    for (const [, measure] of measurements) await measure(3);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [name, measure] of round % 2 ? measurements : [...measurements].reverse()) {
        const value = await measure(DURATION);
        add(name, value);
        log(`round ${round}/${ROUNDS}: ${name}: ${value.toFixed(0)}/s`);
      }
    }

    const ratio = (a: string, b: string, invert = false) => {
      if (!rates[a] || !rates[b]) return null;
      return median(rates[a]!.map((value, i) => (invert ? rates[b]![i]! / value : value / rates[b]![i]!)));
    };
    const goals: { figure: string; value: number | null; goal: string; met: boolean | null }[] = [];
    const goal = (figure: string, value: number | null, text: string, met: (v: number) => boolean) =>
      goals.push({ figure, value, goal: text, met: value === null || text === 'for reference' ? null : met(value) });
    goal('full stack / pgbench (first page)', ratio('sonarly PostgreSQL first page', 'pgbench first page'), '>= 0.30', (v) => v >= 0.3);
    for (const { label } of baselines) goal(`${label} / pgbench (first page)`, ratio(`${label} first page`, 'pgbench first page'), 'for reference', () => true);
    if (baselines[0]) goal(`full stack / ${baselines[0].label}`, ratio('sonarly PostgreSQL first page', `${baselines[0].label} first page`), 'for reference', () => true);
    goal('deep page cost / first page cost (PostgreSQL)', ratio('sonarly PostgreSQL deep page', 'sonarly PostgreSQL first page', true), '<= 1.20', (v) => v <= 1.2);
    goal('deep page cost / first page cost (pgbench)', ratio('pgbench deep page', 'pgbench first page', true), 'for reference', () => true);
    goal('PGlite / PostgreSQL (first page)', ratio('sonarly PGlite first page', 'sonarly PostgreSQL first page'), '>= 0.30', (v) => v >= 0.3);
    goal('deep page cost / first page cost (PGlite)', ratio('sonarly PGlite deep page', 'sonarly PGlite first page', true), 'for reference', () => true);

    const walks: Record<string, Walk> = {};
    if (!SKIP.has('walk')) {
      for (const [server, target] of [[full, pgTarget], ...(lite && liteTarget ? [[lite, liteTarget]] : [])] as [Server, Target][]) {
        log(`walking all ${target.dataset.messages} messages on ${server.name}`);
        walks[server.name] = await walk(server, target);
      }
    }

    const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${(await run('pgbench', ['--version'])).stdout.trim()}`;
    const lines: string[] = [];
    lines.push(`Read benchmark, ${new Date().toISOString()}: ${MESSAGES} messages in one group, ${ROUNDS} rounds of ${DURATION} s per figure`);
    lines.push(`machine: ${machine} (shared with other work)`);
    lines.push(`server pool = pgbench clients = ${POOL}; wrk: 1 thread, ${CONNECTIONS} connections; GET …/messages?limit=${PAGE}`);
    lines.push('');
    lines.push('| rate (per second, median of rounds) | median | min | max |');
    lines.push('| --- | ---: | ---: | ---: |');
    for (const [name, values] of Object.entries(rates)) {
      lines.push(`| ${name} | ${median(values).toFixed(0)} | ${Math.min(...values).toFixed(0)} | ${Math.max(...values).toFixed(0)} |`);
    }
    lines.push('');
    lines.push('| figure (median of per-round ratios) | value | goal | met |');
    lines.push('| --- | ---: | --- | --- |');
    for (const row of goals) lines.push(`| ${row.figure} | ${row.value === null ? 'skipped' : row.value.toFixed(2)} | ${row.goal} | ${row.met === null ? '' : row.met ? 'yes' : 'NO'} |`);
    if (Object.keys(walks).length > 0) {
      lines.push('');
      lines.push('| walk of every page (limit=100), server RSS in MiB | pages | seconds | start | after 10 % | peak | end |');
      lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const [name, w] of Object.entries(walks)) {
        lines.push(`| ${name} | ${w.pages} | ${w.seconds.toFixed(0)} | ${w.startMiB.toFixed(0)} | ${w.tenthMiB.toFixed(0)} | ${w.peakMiB.toFixed(0)} | ${w.endMiB.toFixed(0)} |`);
      }
    }
    const report = lines.join('\n');
    process.stdout.write(report + '\n');
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    await writeFile(path.join(RESULTS_DIR, `read-${stamp}.json`), JSON.stringify({ machine, settings: { MESSAGES, ROUNDS, DURATION, POOL, CONNECTIONS }, rates, goals, walks }, null, 2));
    await writeFile(path.join(RESULTS_DIR, `read-${stamp}.md`), report + '\n');
  } finally {
    for (const server of servers) await server.stop();
  }
}

await main();
