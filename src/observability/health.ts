import type { Db } from '../storage/db.js';
import { loadMigrations } from '../storage/migrate.js';

/**
 * What /readyz reports. A process is ready when it is not shutting down, its database answers
 * within `timeoutMs`, and the database schema is at the version this build expects. Both
 * failures recover on their own: the next probe after the database returns, or after
 * `sonarly migrate` runs, answers ready again.
 */
export type Readiness =
  | { ready: true; databaseVersion: number; codeVersion: number }
  | {
      ready: false;
      reason: 'shutting_down' | 'database_unreachable' | 'migrations_behind' | 'migrations_ahead';
      message: string;
      /** For the log only: driver errors can name hosts and users. */
      cause?: string;
    };

export class Lifecycle {
  /** Set on SIGTERM: readiness fails at once so load balancers move traffic before the listener closes. */
  draining = false;
}

export class ReadinessProbe {
  private constructor(
    private readonly db: Db,
    private readonly lifecycle: Lifecycle,
    readonly codeVersion: number,
    private readonly timeoutMs: number,
  ) {}

  static async create(db: Db, lifecycle: Lifecycle, timeoutMs = 2000): Promise<ReadinessProbe> {
    const migrations = await loadMigrations();
    return new ReadinessProbe(db, lifecycle, migrations.at(-1)?.version ?? 0, timeoutMs);
  }

  async check(): Promise<Readiness> {
    if (this.lifecycle.draining) return { ready: false, reason: 'shutting_down', message: 'This process is shutting down.' };
    let databaseVersion: number;
    try {
      // Read-only on purpose: a probe must not create the migrations table or take locks.
      const rows = await withTimeout(
        this.db.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations'),
        this.timeoutMs,
      );
      databaseVersion = Number(rows[0]?.version ?? 0);
    } catch (error) {
      const cause = error instanceof Error ? error.message : String(error);
      return { ready: false, reason: 'database_unreachable', message: 'The database did not answer.', cause };
    }
    if (databaseVersion < this.codeVersion) {
      return {
        ready: false,
        reason: 'migrations_behind',
        message: `The database schema is at version ${databaseVersion}; this build needs ${this.codeVersion}. Run \`sonarly migrate\`.`,
      };
    }
    if (databaseVersion > this.codeVersion) {
      return {
        ready: false,
        reason: 'migrations_ahead',
        message: `The database schema is at version ${databaseVersion}, newer than this build (${this.codeVersion}). Upgrade this process.`,
      };
    }
    return { ready: true, databaseVersion, codeVersion: this.codeVersion };
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
