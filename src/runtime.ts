import { systemClock } from './clock.js';
import type { Config } from './config.js';
import { defaultConnectorRegistry } from './connectors/registry.js';
import { CursorCodec } from './domain/cursor.js';
import { serverSecret } from './domain/serverSecrets.js';
import type { Services } from './http/services.js';
import { type DataDirLock, acquireDataDir } from './storage/dataDirLock.js';
import type { Db } from './storage/db.js';
import { migrate } from './storage/migrate.js';
import { openDatabase } from './storage/open.js';
import { createReadThrough, readThroughTimeoutMs } from './sync/readThrough.js';

export interface Runtime {
  db: Db;
  services: Services;
  /** Held for the embedded database only. */
  lock: DataDirLock | null;
  close(): Promise<void>;
}

/** Opens the database (taking the data directory for the embedded one), migrates it, and builds the services. */
export async function openRuntime(config: Config, kind: 'server' | 'cli'): Promise<Runtime> {
  const lock = config.databaseUrl ? null : await acquireDataDir(config.dataDir, kind);
  let db: Db | undefined;
  try {
    db = await openDatabase(config);
    await migrate(db);
    const connectors = defaultConnectorRegistry(db, systemClock);
    const services: Services = {
      db,
      cursors: new CursorCodec(await serverSecret(db, 'cursor_signing_key')),
      clock: systemClock,
      connectors,
      readThrough: createReadThrough({ db, clock: systemClock, connectors }, { timeoutMs: readThroughTimeoutMs() }),
    };
    const opened = db;
    return {
      db,
      services,
      lock,
      async close() {
        await opened.close();
        await lock?.release();
      },
    };
  } catch (error) {
    await db?.close().catch(() => {});
    await lock?.release();
    throw error;
  }
}
