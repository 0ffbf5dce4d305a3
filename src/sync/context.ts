import type { Clock } from '../clock.js';
import type { ConnectorRegistry } from '../connectors/registry.js';
import type { Db } from '../storage/db.js';

/** What sync needs: the database, time, and a way to reach LinkedIn for an account. */
export interface SyncContext {
  db: Db;
  clock: Clock;
  connectors: ConnectorRegistry;
}

export class SyncError extends Error {
  override name = 'SyncError';
}
