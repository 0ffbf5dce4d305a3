import type { Clock } from '../clock.js';
import type { CursorCodec } from '../domain/cursor.js';
import type { Db } from '../storage/db.js';

/** What route handlers may use. Routes reach the database only through domain functions. */
export interface Services {
  db: Db;
  cursors: CursorCodec;
  clock: Clock;
}
