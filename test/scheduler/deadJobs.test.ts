import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDatabaseCollectors } from '../../src/observability/dbCollectors.js';
import { registry } from '../../src/observability/metrics.js';
import { enqueueJob, rescheduleJob } from '../../src/scheduler/queue.js';
import { MAX_JOB_ATTEMPTS } from '../../src/scheduler/retry.js';
import { Worker } from '../../src/scheduler/worker.js';
import { FakeClock } from '../helpers/fakeClock.js';
import { type TestDb, createTestDb } from '../helpers/testDb.js';

/**
 * A job whose handler fails on every attempt ends in dead_jobs (with its error, out of the queue,
 * visible in /metrics) instead of being retried for ever; a job of a kind the worker does not know
 * is left alone, its attempts uncounted, for a worker of the release that enqueued it.
 */
let testDb: TestDb;
let withdrawCollectors: () => void;

beforeAll(async () => {
  testDb = await createTestDb();
  withdrawCollectors = registerDatabaseCollectors(testDb.db);
});

afterAll(async () => {
  withdrawCollectors();
  await testDb.close();
});

/** Runs the worker on a fake clock, 11 minutes apart (past the longest backoff), `rounds` times. */
async function drive(worker: Worker, clock: FakeClock, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await worker.runOnce();
    clock.advance(11 * 60_000);
  }
}

describe('dead jobs', () => {
  it(`a job failing on every attempt is moved to dead_jobs after ${MAX_JOB_ATTEMPTS} attempts, with its last error`, async () => {
    const clock = new FakeClock();
    let calls = 0;
    const worker = new Worker({
      db: testDb.db,
      clock,
      random: () => 0.5,
      handlers: {
        'always-fails': async () => {
          calls++;
          throw new Error(`provider said no (${calls})`);
        },
      },
    });
    const id = await enqueueJob(testDb.db, 'always-fails', { accountId: 'acc-1' }, clock.now(), clock.now());
    await drive(worker, clock, MAX_JOB_ATTEMPTS + 5);

    expect(calls).toBe(MAX_JOB_ATTEMPTS);
    expect(await testDb.db.query('SELECT id FROM jobs WHERE id = $1', [id])).toEqual([]);
    const [dead] = await testDb.db.query<{ kind: string; payload: unknown; failures: number; last_error: string }>(
      'SELECT kind, payload, failures, last_error FROM dead_jobs WHERE id = $1',
      [id],
    );
    expect(dead).toEqual({ kind: 'always-fails', payload: { accountId: 'acc-1' }, failures: MAX_JOB_ATTEMPTS, last_error: `provider said no (${MAX_JOB_ATTEMPTS})` });
    expect(await registry.getSingleMetricAsString('sonarly_dead_jobs')).toContain('sonarly_dead_jobs{kind="always-fails"} 1');
  });

  it('only failures in a row count: a success in between starts the count again', async () => {
    const clock = new FakeClock();
    // Like a poll chain: the job reschedules itself when it succeeds, and lives for ever.
    const script = [...Array(MAX_JOB_ATTEMPTS - 1).fill('fail'), 'succeed', ...Array(MAX_JOB_ATTEMPTS - 1).fill('fail'), 'fail'];
    let calls = 0;
    const worker = new Worker({
      db: testDb.db,
      clock,
      handlers: {
        chain: async (job) => {
          if (script[calls++] === 'fail') throw new Error(`attempt ${calls} failed`);
          await rescheduleJob(testDb.db, job.id, clock.now(), { countAttempt: false });
        },
      },
    });
    const id = await enqueueJob(testDb.db, 'chain', {}, clock.now(), clock.now());
    await drive(worker, clock, 2 * MAX_JOB_ATTEMPTS - 1);
    expect(calls).toBe(2 * MAX_JOB_ATTEMPTS - 1);
    // 24 failures, a success, 24 failures: still queued.
    expect(await testDb.db.query('SELECT id FROM dead_jobs WHERE id = $1', [id])).toEqual([]);
    expect(await testDb.db.query<{ failures: number }>('SELECT failures FROM jobs WHERE id = $1', [id])).toEqual([{ failures: MAX_JOB_ATTEMPTS - 1 }]);
    // The 25th failure in a row.
    await drive(worker, clock, 1);
    expect(await testDb.db.query<{ failures: number }>('SELECT failures FROM dead_jobs WHERE id = $1', [id])).toEqual([{ failures: MAX_JOB_ATTEMPTS }]);
  });

  it('a job of an unknown kind is never counted towards dead_jobs', async () => {
    const clock = new FakeClock();
    const worker = new Worker({ db: testDb.db, clock, handlers: {} });
    const id = await enqueueJob(testDb.db, 'from-a-newer-release', {}, clock.now(), clock.now());
    await drive(worker, clock, MAX_JOB_ATTEMPTS * 2);
    const [job] = await testDb.db.query<{ attempts: number; last_error: string }>('SELECT attempts, last_error FROM jobs WHERE id = $1', [id]);
    expect(job?.attempts).toBe(0);
    expect(job?.last_error).toMatch(/no handler for job kind 'from-a-newer-release'/);
    expect(await testDb.db.query('SELECT id FROM dead_jobs WHERE id = $1', [id])).toEqual([]);
  });
});
