import type { Clock } from '../clock.js';
import type { ConnectorRegistry } from '../connectors/registry.js';
import type { CursorCodec } from '../domain/cursor.js';
import type { HistoryReadThrough } from '../domain/messages.js';
import type { Db } from '../storage/db.js';

/** What route handlers may use. Routes reach the database only through domain functions. */
export interface Services {
  db: Db;
  cursors: CursorCodec;
  clock: Clock;
  /** Reaches LinkedIn for an account (webhook verification). Absent: webhooks are refused. */
  connectors?: ConnectorRegistry;
  /** Fetches missing older history of a conversation before listing it. Absent: history is served as stored. */
  readThrough?: HistoryReadThrough;
}
