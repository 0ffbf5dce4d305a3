import type { Queryable } from '../storage/db.js';
import { registerDeadJobCollector, registerQueueDepthCollector, registerSyncLagCollector } from './metrics.js';

/**
 * The database-backed gauges of /metrics. They read shared state, so every process reports the
 * same values: aggregate them with max(), not sum(). Both queries only touch pending work (a
 * handful of rows per account), never the history of sent messages.
 */
export function registerDatabaseCollectors(db: Queryable): () => void {
  const withdrawQueueDepth = registerQueueDepthCollector(async () => {
    const rows = await db.query<{ status: string; count: number }>(
      `SELECT status, count(*)::int AS count FROM scheduled_responses WHERE status IN ('queued', 'sending') GROUP BY status`,
    );
    // Report zero explicitly: an empty queue is a value, not a missing series.
    const counts = new Map([['queued', 0], ['sending', 0]]);
    for (const row of rows) counts.set(row.status, row.count);
    return [...counts].map(([status, count]) => ({ status, count }));
  });
  const withdrawSyncLag = registerSyncLagCollector(async () => {
    const rows = await db.query<{ account_id: string; lag: number }>(
      `SELECT account_id, extract(epoch FROM now() - polled_until)::float8 AS lag FROM sync_states WHERE polled_until IS NOT NULL`,
    );
    return rows.map((row) => ({ accountId: row.account_id, lagSeconds: Math.max(0, row.lag) }));
  });
  const withdrawDeadJobs = registerDeadJobCollector(() => db.query<{ kind: string; count: number }>(`SELECT kind, count(*)::int AS count FROM dead_jobs GROUP BY kind`));
  return () => {
    withdrawQueueDepth();
    withdrawSyncLag();
    withdrawDeadJobs();
  };
}
