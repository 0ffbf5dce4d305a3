import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../../src/random.js';
import { createTestDb, testDatabaseUrl } from '../../helpers/testDb.js';
import { Burst, expectRepliesExactlyOnce, seedBurst } from '../support/burst.js';
import { fuzzSettings } from '../support/fuzzing.js';
import { type CliProcess, kill, pause, startCli } from '../support/processes.js';

/**
 * PostgreSQL restarts under load (`npm run test:chaos`, after `npm test`: a restart breaks every
 * other test using the server at that moment). An API process and a worker keep running while
 * replies are POSTed; the database is stopped (sessions cut), kept down 3 s and started again,
 * twice. During an outage the API answers 503 SERVICE_UNAVAILABLE with Retry-After (in the
 * envelope), never 500, and the client retries with the same Idempotency-Key. Afterwards: both
 * processes survived, no accepted reply is lost, none is sent or stored twice, and the queue
 * drains.
 */
const { seed } = fuzzSettings(1);
const random = seededRandom(seed);
const REPLIES = Number(process.env.CHAOS_REPLIES ?? 400);
const RESTARTS = Number(process.env.CHAOS_RESTARTS ?? 2);
const CLUSTER = process.env.PG_CLUSTER ?? '15/main';

const OUTAGE_MS = Number(process.env.CHAOS_OUTAGE_MS ?? 3_000);

/** A restart with a real outage: stop (fast: sessions are cut), stay down OUTAGE_MS, start. */
async function restartPostgres(): Promise<void> {
  const [version, name] = CLUSTER.split('/');
  const ctl = (action: string, ...extra: string[]) => execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version!, name!, action, ...extra], { stdio: 'inherit', timeout: 120_000 });
  ctl('stop', '-m', 'fast');
  await pause(OUTAGE_MS);
  ctl('start');
}

async function waitForPostgres(): Promise<void> {
  for (let i = 0; i < 120; i++) {
    try {
      execFileSync('pg_isready', ['-h', '127.0.0.1', '-p', '5432', '-q']);
      return;
    } catch {
      await pause(500);
    }
  }
  throw new Error('PostgreSQL did not come back');
}

describe('PostgreSQL restarts during a reply burst', () => {
  const processes: CliProcess[] = [];
  afterAll(async () => {
    for (const p of processes) await kill(p);
  });

  it(`${RESTARTS} restarts during ${REPLIES} replies: processes survive, 0 lost, 0 sent twice, 0 stored twice, queue drained`, { timeout: 600_000 }, async () => {
    const testDb = await createTestDb();
    const db = testDb.db;
    try {
      const seeded = await seedBurst(db);
      const url = new URL(testDatabaseUrl());
      url.searchParams.set('options', `-c search_path=${testDb.schema}`);
      const env = { DATABASE_URL: url.toString(), WORKER_LEASE_MS: '5000', SEND_TIMEOUT_MS: '2000' };
      const api = startCli(['serve', '--no-worker', '--port', '0'], env, /listening on http/);
      const worker = startCli(['worker'], { ...env, LOG_LEVEL: 'info' }, /worker started/);
      processes.push(api, worker);
      await api.ready;
      await worker.ready;
      const burst = new Burst(seeded, () => api.url(), REPLIES, `chaos-${seed}`, random);
      const load = burst.run(8, (8 * (RESTARTS + 1) * 8_000) / REPLIES);
      const outages: { restartMs: number; recovered: number }[] = [];
      for (let r = 0; r < RESTARTS; r++) {
        await pause(4_000 + random() * 4_000);
        const started = Date.now();
        await restartPostgres();
        await waitForPostgres();
        outages.push({ restartMs: Date.now() - started, recovered: Date.now() });
      }
      await load;
      // A process that died is reported with its last output, before waiting for a drain it cannot do.
      expect(api.child.exitCode, api.output().slice(-3000)).toBeNull();
      expect(worker.child.exitCode, worker.output().slice(-3000)).toBeNull();
      const lastRecovery = outages.at(-1)?.recovered ?? Date.now();
      const outstanding = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM scheduled_responses WHERE account_group_id = $1 AND status <> 'sent'`, [seeded.groupId]))[0]!.n;
      const queryable = async () => {
        for (let i = 0; i < 20; i++) {
          try {
            return await outstanding();
          } catch {
            await pause(250); // This pool's own connections were cut by the restart too.
          }
        }
        return outstanding();
      };
      for (let waited = 0; waited < 600 && (await queryable()) > 0; waited++) await pause(500);
      const drainedAfterMs = Date.now() - lastRecovery;
      // Both processes rode out the restarts.
      expect(api.child.exitCode, api.output().slice(-3000)).toBeNull();
      expect(worker.child.exitCode, worker.output().slice(-3000)).toBeNull();
      api.child.kill('SIGTERM');
      worker.child.kill('SIGTERM');
      expect(await api.exit).toBe(0);
      expect(await worker.exit).toBe(0);
      console.log(
        `[chaos] ${RESTARTS} PostgreSQL restarts ${JSON.stringify(outages.map((o) => o.restartMs))} ms, burst attempts ${burst.attempts}, unanswered ${burst.unanswered}, ` +
          `503 during outages ${burst.unavailable.length}, other 5xx ${burst.serverErrors.length}, queue drained ${drainedAfterMs} ms after the last recovery`,
      );
      // The outages were felt, and answered as such: 503 with Retry-After, no 500, all in the envelope.
      expect(burst.unavailable.length).toBeGreaterThan(0);
      expect(burst.unavailable.filter((answer) => answer.retryAfter === null)).toEqual([]);
      expect(burst.serverErrors).toEqual([]);
      await expectRepliesExactlyOnce(db, seeded, burst);
      expect(await db.query(`SELECT id FROM jobs WHERE payload->>'responseId' IS NOT NULL`)).toEqual([]);
    } finally {
      await testDb.close();
    }
  });
});
