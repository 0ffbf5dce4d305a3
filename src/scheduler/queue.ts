import { newId } from '../ids.js';
import type { Queryable } from '../storage/db.js';

/**
 * A durable job queue in the database. Enqueue inside the caller's transaction, so a job exists
 * exactly when the work it stands for was committed. Workers claim with FOR UPDATE SKIP LOCKED
 * under a lease: a worker that dies leaves its jobs to be taken again when the lease ends.
 */
export interface Job<Payload = Record<string, unknown>> {
  id: string;
  kind: string;
  payload: Payload;
  /** Every claim, this one included (waits for pacing or a reconnection are taken back). */
  attempts: number;
  /** How many attempts before this one failed in a row (the handler threw). */
  failures: number;
}

/** NUL and lone UTF-16 surrogates (valid in JS strings and JSON text, refused by PostgreSQL) become U+FFFD. */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const wellFormed = (_key: string, value: unknown) => (typeof value === 'string' ? value.replace(UNSTORABLE, '\ufffd') : value);

export async function enqueueJob(db: Queryable, kind: string, payload: object, availableAt: Date, now: Date): Promise<string> {
  const id = newId(now);
  await db.query('INSERT INTO jobs (id, kind, payload, available_at, created_at) VALUES ($1, $2, $3, $4, $5)', [
    id,
    kind,
    // Payloads carry provider data (webhook events); a NUL or lone surrogate there made the insert fail.
    JSON.stringify(payload, wellFormed),
    availableAt.toISOString(),
    now.toISOString(),
  ]);
  return id;
}

/**
 * Takes up to `limit` jobs that are due, or whose previous holder's lease has run out, and holds
 * them until `now + leaseMs`. Holding is done by moving `available_at` to the lease end: a job is
 * "running" exactly while its lease is in the future.
 */
export async function claimJobs(db: Queryable, workerId: string, now: Date, limit: number, leaseMs: number): Promise<Job[]> {
  return db.query<Job>(
    `WITH due AS (
       SELECT id FROM jobs WHERE available_at <= $1 ORDER BY available_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
     )
     UPDATE jobs SET available_at = $3, locked_by = $4, attempts = jobs.attempts + 1
     FROM due WHERE jobs.id = due.id
     RETURNING jobs.id, jobs.kind, jobs.payload, jobs.attempts, jobs.failures`,
    [now.toISOString(), limit, new Date(now.getTime() + leaseMs).toISOString(), workerId],
  );
}

/** Done: the job leaves the queue. */
export async function completeJob(db: Queryable, jobId: string): Promise<void> {
  await db.query('DELETE FROM jobs WHERE id = $1', [jobId]);
}

/**
 * Puts the job back to be taken at `availableAt`. `countAttempt: false` undoes the claim's attempt
 * count: waiting for pacing or a reconnection is not a failed try.
 */
export async function rescheduleJob(db: Queryable, jobId: string, availableAt: Date, options: { countAttempt: boolean; error?: string }): Promise<void> {
  await db.query(
    `UPDATE jobs SET available_at = $2, locked_by = NULL, attempts = attempts - $3, last_error = COALESCE($4, last_error) WHERE id = $1`,
    [jobId, availableAt.toISOString(), options.countAttempt ? 0 : 1, options.error ?? null],
  );
}

/** The handler threw: the job is taken again at `availableAt`, one more failure in a row counted. */
export async function recordJobFailure(db: Queryable, jobId: string, availableAt: Date, error: string): Promise<void> {
  await db.query(`UPDATE jobs SET available_at = $2, locked_by = NULL, failures = failures + 1, last_error = $3 WHERE id = $1`, [
    jobId,
    availableAt.toISOString(),
    error,
  ]);
}

/** An attempt succeeded after failures: the run of failures is over (if the job is still queued). */
export async function clearJobFailures(db: Queryable, jobId: string): Promise<void> {
  await db.query('UPDATE jobs SET failures = 0 WHERE id = $1 AND failures > 0', [jobId]);
}

/** Gives up on a job: it leaves the queue for `dead_jobs`, with its last error, in one statement. */
export async function buryJob(db: Queryable, jobId: string, error: string, now: Date): Promise<void> {
  await db.query(
    `WITH dead AS (DELETE FROM jobs WHERE id = $1 RETURNING id, kind, payload, failures, created_at)
     INSERT INTO dead_jobs (id, kind, payload, failures, last_error, created_at, died_at)
     SELECT id, kind, payload, failures + 1, $2, created_at, $3 FROM dead`,
    [jobId, error, now.toISOString()],
  );
}

export async function queueDepth(db: Queryable, now: Date): Promise<{ due: number; running: number; total: number }> {
  const [row] = await db.query<{ due: number; running: number; total: number }>(
    `SELECT count(*) FILTER (WHERE available_at <= $1 AND locked_by IS NULL)::int AS due,
            count(*) FILTER (WHERE available_at > $1 AND locked_by IS NOT NULL)::int AS running,
            count(*)::int AS total
     FROM jobs`,
    [now.toISOString()],
  );
  return row!;
}
