import { newId } from '../ids.js';
import type { Queryable } from '../storage/db.js';

/** Job kinds of sync, run by the scheduler's worker (`src/sync/handlers.ts`). */
export const SYNC_ACCOUNT_JOB = 'sync_account';
export const SYNC_POLL_JOB = 'sync_poll';
export const PROCESS_WEBHOOK_JOB = 'process_webhook_event';

/**
 * Enqueues a per-account job unless one of that kind is already pending for the account: each
 * account has at most one backfill job and one polling chain.
 */
export async function ensureAccountJob(db: Queryable, kind: typeof SYNC_ACCOUNT_JOB | typeof SYNC_POLL_JOB, accountId: string, availableAt: Date, now: Date): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO jobs (id, kind, payload, available_at, created_at)
     SELECT $1, $2::text, $3::jsonb, $4, $5
     WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE kind = $2::text AND payload->>'accountId' = $6)
     RETURNING id`,
    [newId(now), kind, JSON.stringify({ accountId }), availableAt.toISOString(), now.toISOString(), accountId],
  );
  return rows.length > 0;
}
