import { ConnectorError, type ProviderEvent } from '../connectors/types.js';
import { type Job, completeJob, rescheduleJob } from '../scheduler/queue.js';
import { backoffMs } from '../scheduler/retry.js';
import { backfillAccount } from './backfill.js';
import type { SyncContext } from './context.js';
import { applyEvents, pollAccount } from './incremental.js';
import { PROCESS_WEBHOOK_JOB, SYNC_ACCOUNT_JOB, SYNC_POLL_JOB, ensureAccountJob } from './jobs.js';
import { markDisconnected, recordSyncError } from './state.js';

export interface SyncHandlerOptions {
  /** Time between two polls of an account once its backfill is done, unless its settings say (`pollIntervalMs`). (Default 5 min) */
  pollIntervalMs?: number | ((accountId: string) => number);
  /** A backfill job works this long, then yields and continues as the next run. Keep it well under the worker's lease. (Default 20 s) */
  backfillSliceMs?: number;
  random?: () => number;
}

const DEFAULT_POLL_MS = 5 * 60_000;

/**
 * Job handlers of sync, for the scheduler's worker. Each settles its own job: completed, or
 * rescheduled (a backfill continues in slices; polling reschedules itself as a chain). Connector
 * failures follow one policy: an expired session disconnects the account and stops its sync until
 * it is reconnected; a rate limit waits as told; transient failures and timeouts retry with
 * backoff (a backfill resumes from its checkpoint); a permanent failure stops the backfill and is
 * shown by `sonarly accounts status`.
 */
export function syncJobHandlers(ctx: SyncContext, options: SyncHandlerOptions = {}): Record<string, (job: Job<any>) => Promise<unknown>> {
  const random = options.random ?? Math.random;
  const pollEvery = (accountId: string) =>
    typeof options.pollIntervalMs === 'function' ? options.pollIntervalMs(accountId) : (options.pollIntervalMs ?? DEFAULT_POLL_MS);
  const later = (ms: number) => new Date(ctx.clock.now().getTime() + ms);

  /** Returns true when the failure was a connector's and the job has been settled. */
  const settleConnectorFailure = async (job: Job<{ accountId: string }>, error: unknown, onPermanent: () => Promise<void>): Promise<boolean> => {
    if (!(error instanceof ConnectorError)) return false;
    const { accountId } = job.payload;
    const now = ctx.clock.now();
    switch (error.kind) {
      case 'auth_expired':
        await ctx.db.transaction(async (tx) => {
          await markDisconnected(tx, accountId, error.message, now);
          await completeJob(tx, job.id);
        });
        return true;
      case 'rate_limited':
        await ctx.db.transaction(async (tx) => {
          await recordSyncError(tx, accountId, error.message, now);
          await rescheduleJob(tx, job.id, later(error.retryAfterMs ?? 60_000), { countAttempt: false, error: error.message });
        });
        return true;
      case 'permanent':
        await onPermanent();
        return true;
      default:
        await ctx.db.transaction(async (tx) => {
          await recordSyncError(tx, accountId, error.message, now);
          await rescheduleJob(tx, job.id, later(backoffMs(job.attempts, random)), { countAttempt: true, error: error.message });
        });
        return true;
    }
  };

  return {
    [SYNC_ACCOUNT_JOB]: async (job: Job<{ accountId: string }>) => {
      const { accountId } = job.payload;
      let outcome;
      try {
        outcome = await backfillAccount(ctx, accountId, { owner: `job:${job.id}`, budgetMs: options.backfillSliceMs ?? 20_000 });
      } catch (error) {
        const settled = await settleConnectorFailure(job, error, () =>
          ctx.db.transaction(async (tx) => {
            await recordSyncError(tx, accountId, (error as Error).message, ctx.clock.now(), { failed: true });
            await completeJob(tx, job.id);
          }),
        );
        if (!settled) throw error;
        return;
      }
      switch (outcome.status) {
        case 'completed':
          await ctx.db.transaction(async (tx) => {
            await completeJob(tx, job.id);
            // The first poll picks up what arrived while the backfill ran.
            await ensureAccountJob(tx, SYNC_POLL_JOB, accountId, ctx.clock.now(), ctx.clock.now());
          });
          return;
        case 'paused':
          await rescheduleJob(ctx.db, job.id, ctx.clock.now(), { countAttempt: false });
          return;
        case 'busy':
          await rescheduleJob(ctx.db, job.id, later(30_000), { countAttempt: false, error: 'another backfill run holds the lease' });
          return;
        case 'not_connected':
          await completeJob(ctx.db, job.id);
          return;
      }
    },

    [SYNC_POLL_JOB]: async (job: Job<{ accountId: string }>) => {
      const { accountId } = job.payload;
      let outcome;
      try {
        outcome = await pollAccount(ctx, accountId);
      } catch (error) {
        const settled = await settleConnectorFailure(job, error, () =>
          ctx.db.transaction(async (tx) => {
            await recordSyncError(tx, accountId, (error as Error).message, ctx.clock.now());
            await rescheduleJob(tx, job.id, later(pollEvery(accountId)), { countAttempt: false, error: (error as Error).message });
          }),
        );
        if (!settled) throw error;
        return;
      }
      // A disconnected account's chain ends; reconnecting starts a new one.
      if (outcome.status === 'not_connected') await completeJob(ctx.db, job.id);
      else await rescheduleJob(ctx.db, job.id, later(outcome.pollIntervalMs ?? pollEvery(accountId)), { countAttempt: false });
    },

    [PROCESS_WEBHOOK_JOB]: async (job: Job<{ accountId: string; events: ProviderEvent[] }>) => {
      const { accountId, events } = job.payload;
      await applyEvents(ctx, accountId, events);
      await ctx.db.transaction(async (tx) => {
        await completeJob(tx, job.id);
        // The provider says the session is back: resume polling.
        if (events.some((event) => event.type === 'account_status' && event.status === 'connected')) {
          await ensureAccountJob(tx, SYNC_POLL_JOB, accountId, ctx.clock.now(), ctx.clock.now());
        }
      });
    },
  };
}
