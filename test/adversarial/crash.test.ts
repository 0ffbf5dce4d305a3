import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConnectorRegistry } from '../../src/connectors/registry.js';
import { systemClock } from '../../src/clock.js';
import { seededRandom } from '../../src/random.js';
import { claimJobs, enqueueJob } from '../../src/scheduler/queue.js';
import { Worker } from '../../src/scheduler/worker.js';
import { migrate } from '../../src/storage/migrate.js';
import { openPglite } from '../../src/storage/pglite.js';
import { connectAccount } from '../../src/sync/accounts.js';
import { loadSyncAccount } from '../../src/sync/state.js';
import { FakeClock } from '../helpers/fakeClock.js';
import { backend, createTestDb, testDatabaseUrl } from '../helpers/testDb.js';
import { compare, providerMessages, storedMessages } from '../sync/helpers.js';
import { fuzzSettings } from './support/fuzzing.js';
import { Burst, expectRepliesExactlyOnce, seedBurst } from './support/burst.js';
import { type CliProcess, kill, pause, startCli } from './support/processes.js';

/**
 * Crash and restart under load. A burst of replies is POSTed (each with its own Idempotency-Key)
 * while the API, the worker and the sync processes are killed with SIGKILL at random moments and
 * started again; requests that got no answer are retried with the same key until they get one.
 * Judged like Jepsen's total-queue: every acknowledged reply has its row and is sent (lost = 0),
 * every request produced exactly one reply, nothing reached "LinkedIn" twice, no message is
 * stored twice, the synced history matches the provider's, and the jobs a killed worker held
 * were free again when its lease ended.
 *
 * CRASH_KILLS (default 10 on PostgreSQL, 5 on the embedded database) and CRASH_REPLIES size it.
 */
const { seed } = fuzzSettings(1);
const random = seededRandom(seed);
const REPLIES = Number(process.env.CRASH_REPLIES ?? 600);
const LEASE_MS = 3_000;
const WORKER_ENV = { WORKER_LEASE_MS: String(LEASE_MS), SEND_TIMEOUT_MS: '1000', WORKER_CONCURRENCY: '8' };

describe('a killed worker\'s jobs (deterministic clock)', () => {
  it('stay held for exactly the lease, then the next worker takes and finishes every one of them', async () => {
    const testDb = await createTestDb();
    try {
      const clock = new FakeClock();
      const done: string[] = [];
      for (let i = 0; i < 20; i++) await enqueueJob(testDb.db, 'probe', { i }, clock.now(), clock.now());
      // A worker claims everything and dies: nothing of it runs again.
      const stuck = await claimJobs(testDb.db, 'dead-worker', clock.now(), 100, LEASE_MS);
      expect(stuck).toHaveLength(20);
      const next = new Worker({ db: testDb.db, clock, leaseMs: LEASE_MS, concurrency: 50, handlers: { probe: async (job) => {
        done.push(job.id);
        await testDb.db.query('DELETE FROM jobs WHERE id = $1', [job.id]);
      } } });
      clock.advance(LEASE_MS - 1);
      expect(await next.runOnce()).toBe(0);
      clock.advance(1);
      expect(await next.runOnce()).toBe(20);
      expect(done.sort()).toEqual(stuck.map((job) => job.id).sort());
      expect(await testDb.db.query('SELECT id FROM jobs')).toEqual([]);
    } finally {
      await testDb.close();
    }
  });
});

describe.skipIf(backend !== 'postgres')('SIGKILLs of the API, worker and sync processes on PostgreSQL, during a reply burst and a backfill', () => {
  const KILLS = Number(process.env.CRASH_KILLS ?? 10);
  const processes: CliProcess[] = [];
  afterAll(async () => {
    for (const p of processes) await kill(p);
  });

  it(`${KILLS} kills during ${REPLIES} replies: 0 lost, 0 sent twice, 0 stored twice, history complete`, { timeout: 900_000 }, async () => {
    const testDb = await createTestDb();
    const db = testDb.db;
    try {
      const seeded = await seedBurst(db);
      const sync = await connectAccount(db, systemClock, {
        accountGroupId: seeded.groupId,
        connector: 'sandbox',
        network: { seed: 77, conversations: 400, messagesPerConversation: { min: 5, max: 30 }, historyEndsAt: '2026-01-01T00:00:00.000Z', replyEveryMs: 0 },
        faults: { latencyMs: 120 },
      });
      await db.query('DELETE FROM jobs'); // The sync process does the backfill, not the worker.
      const url = new URL(testDatabaseUrl());
      url.searchParams.set('options', `-c search_path=${testDb.schema}`);
      const env = { DATABASE_URL: url.toString(), ...WORKER_ENV };
      const starters = {
        api: () => startCli(['serve', '--no-worker', '--port', '0'], env, /listening on http/),
        worker: () => startCli(['worker'], { ...env, LOG_LEVEL: 'info' }, /worker started/),
        sync: () => startCli(['accounts', 'sync', sync.id, '--json'], env, null),
      };
      const running: Record<keyof typeof starters, CliProcess> = { api: starters.api(), worker: starters.worker(), sync: starters.sync() };
      processes.push(...Object.values(running));
      await running.api.ready;
      await running.worker.ready;
      const burst = new Burst(seeded, () => (running.api.child.exitCode === null ? running.api.url() : null), REPLIES, String(seed), random);
      // Spread over the kill phase (about 4 s per kill), so every kill lands during load.
      const load = burst.run(8, (8 * KILLS * 4_000) / REPLIES);

      const figures = { kills: { api: 0, worker: 0, sync: 0 }, stuckJobs: 0, stuckBeyondLease: 0, syncLeasesHeld: 0, syncRuns: 1 };
      const kinds = ['api', 'worker', 'sync'] as const;
      for (let k = 0; k < KILLS; k++) {
        await pause(400 + random() * 1500);
        let kind = kinds[(k + 2) % 3]!; // sync first: its backfill is the shortest-lived load
        if (kind === 'sync' && running.sync.child.exitCode === 0) kind = 'worker'; // backfill already done
        const victim = running[kind];
        await kill(victim);
        const killedAt = Date.now();
        figures.kills[kind]++;
        if (kind === 'worker') {
          // What the dead worker held must be free again when its lease ends, not later.
          const held = await db.query<{ id: string; until: number }>(`SELECT id, extract(epoch FROM available_at) * 1000 AS until FROM jobs WHERE locked_by LIKE $1`, [`%:${victim.child.pid}:%`]);
          figures.stuckJobs += held.length;
          figures.stuckBeyondLease += held.filter((job) => job.until > killedAt + LEASE_MS + 1_000).length;
        }
        if (kind === 'sync') {
          // The dead run's backfill lease (2 min) would keep the next run out until it ends; that it
          // is held is checked here, then its end is brought forward instead of waited for.
          const [lease] = await db.query<{ held: boolean }>('SELECT lease_until > now() AS held FROM sync_states WHERE account_id = $1', [sync.id]);
          if (lease?.held) figures.syncLeasesHeld++;
          await db.query('UPDATE sync_states SET lease_until = now() - interval \'1 second\' WHERE account_id = $1 AND lease_owner IS NOT NULL', [sync.id]);
          figures.syncRuns++;
        }
        running[kind] = starters[kind]();
        processes.push(running[kind]);
        if (kind !== 'sync') await running[kind].ready;
      }
      await load;
      // The backfill runs to its end (restarted if it stopped), the worker drains the queue.
      while ((await running.sync.exit) !== 0) {
        running.sync = starters.sync();
        processes.push(running.sync);
        figures.syncRuns++;
      }
      const outstanding = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM scheduled_responses WHERE account_group_id = $1 AND status <> 'sent'`, [seeded.groupId]))[0]!.n;
      for (let waited = 0; waited < 300 && (await outstanding()) > 0; waited++) await pause(500);
      running.worker.child.kill('SIGTERM');
      running.api.child.kill('SIGTERM');
      expect(await running.worker.exit).toBe(0);
      expect(await running.api.exit).toBe(0);
      console.log(`[crash] PostgreSQL: ${JSON.stringify(figures)}, burst attempts ${burst.attempts}, unanswered ${burst.unanswered}`);

      expect(burst.serverErrors).toEqual([]);
      await expectRepliesExactlyOnce(db, seeded, burst);
      expect(figures.stuckBeyondLease).toBe(0);
      expect(await db.query('SELECT id, kind FROM jobs')).toEqual([]);
      const account = (await loadSyncAccount(db, sync.id))!;
      const provider = await providerMessages(defaultConnectorRegistry(db, systemClock).forAccount({ ...account, settings: { ...account.settings, faults: {} } }));
      expect(compare(provider, await storedMessages(db, sync.id))).toEqual({ providerDuplicates: 0, duplicates: 0, missing: [], extra: [] });
      expect(figures.kills.api + figures.kills.worker + figures.kills.sync).toBe(KILLS);
    } finally {
      await testDb.close();
    }
  });
});

describe.skipIf(backend !== 'pglite')('SIGKILLs of `sonarly serve` (API and worker) on the embedded database, during a reply burst', () => {
  // Each start of the embedded database recovers it from the crash: slower, so fewer kills by default.
  const KILLS = Number(process.env.CRASH_KILLS ?? 5);
  const REPLIES = Number(process.env.CRASH_REPLIES ?? 300);
  let dataDir: string;
  const processes: CliProcess[] = [];
  afterAll(async () => {
    for (const p of processes) await kill(p);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it(`${KILLS} kills during ${REPLIES} replies: 0 lost, 0 sent twice, 0 stored twice`, { timeout: 900_000 }, async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'sonarly-adversarial-'));
    const pgdata = path.join(dataDir, 'pgdata');
    let db = await openPglite(pgdata);
    await migrate(db);
    const seeded = await seedBurst(db);
    await db.close();
    const start = () => startCli(['serve', '--port', '0', '--data-dir', dataDir, '--no-demo'], WORKER_ENV, /listening on http/);
    let server = start();
    processes.push(server);
    await server.ready;
    const burst = new Burst(seeded, () => (server.child.exitCode === null ? server.url() : null), REPLIES, String(seed), random);
    const load = burst.run(8, (8 * KILLS * 4_000) / REPLIES);
    for (let k = 0; k < KILLS; k++) {
      await pause(500 + random() * 1500);
      await kill(server);
      server = start();
      processes.push(server);
      await server.ready;
    }
    await load;
    // The last server sends what is left; progress is read through its API (it owns the data).
    const pending = async () => {
      const response = await fetch(`${server.url()}/v1/accounts/${seeded.groupId}/messages/responses?status=queued&limit=1`, { headers: { authorization: `Bearer ${seeded.key}` } });
      const sending = await fetch(`${server.url()}/v1/accounts/${seeded.groupId}/messages/responses?status=sending&limit=1`, { headers: { authorization: `Bearer ${seeded.key}` } });
      return ((await response.json()) as { data: { items: unknown[] } }).data.items.length + ((await sending.json()) as { data: { items: unknown[] } }).data.items.length;
    };
    for (let waited = 0; waited < 300 && (await pending()) > 0; waited++) await pause(500);
    server.child.kill('SIGTERM');
    expect(await server.exit).toBe(0);
    console.log(`[crash] embedded: ${KILLS} kills of serve, burst attempts ${burst.attempts}, unanswered ${burst.unanswered}`);
    db = await openPglite(pgdata);
    try {
      expect(burst.serverErrors).toEqual([]);
      await expectRepliesExactlyOnce(db, seeded, burst);
      expect(await db.query('SELECT id FROM jobs')).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
