import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../config.js';
import { type AdminCommandName, type AdminInput, type AdminOutput, runAdminCommand } from '../domain/admin/commands.js';
import { type ImportEvent, type ImportOptions, prepareImport } from '../domain/imports/run.js';
import { type Runtime, openRuntime } from '../runtime.js';
import { DataDirBusyError } from '../storage/dataDirLock.js';
import { CliError } from './errors.js';
import { RemoteAdminClient } from './remoteAdmin.js';

export interface ImportSource {
  /** Opens the file from its start; called once per attempt. */
  open(): Readable;
  /** Bytes, when known (not for stdin). */
  size: number | null;
}

/**
 * Where an admin command runs: on the database this process opened, or on the server that holds
 * the embedded data directory. Both run the same domain functions.
 */
export interface AdminClient {
  readonly via: 'database' | 'server';
  run<N extends AdminCommandName>(name: N, input: AdminInput<N>): Promise<AdminOutput<N>>;
  import(options: ImportOptions, source: ImportSource, signal: AbortSignal): AsyncIterable<ImportEvent>;
  close(): Promise<void>;
}

class LocalAdminClient implements AdminClient {
  readonly via = 'database';

  constructor(private readonly runtime: Runtime) {}

  run<N extends AdminCommandName>(name: N, input: AdminInput<N>): Promise<AdminOutput<N>> {
    return runAdminCommand(this.runtime.db, name, input);
  }

  async *import(options: ImportOptions, source: ImportSource, signal: AbortSignal): AsyncIterable<ImportEvent> {
    const run = await prepareImport(this.runtime.db, options);
    const stream = source.open();
    try {
      yield* run(stream, signal);
    } finally {
      stream.destroy();
    }
  }

  close(): Promise<void> {
    return this.runtime.close();
  }
}

/** How long a command waits for another short command holding the data directory. */
export function lockWaitMs(env: NodeJS.ProcessEnv): number {
  const raw = env.SONARLY_LOCK_WAIT_MS;
  const value = raw === undefined || raw === '' ? 10_000 : Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 3_600_000) throw new CliError(`SONARLY_LOCK_WAIT_MS must be an integer from 0 to 3600000; got '${raw}'.`);
  return value;
}

const RETRY_INTERVAL_MS = 100;

/**
 * With DATABASE_URL, opens PostgreSQL (no lock: PostgreSQL takes many clients). With the embedded
 * database: opens it if free; if a server holds it, sends the command to that server; if another
 * CLI command holds it (or a server is still starting), waits up to `waitMs` and then fails with
 * a message saying who holds it.
 */
export async function openAdminClient(
  config: Config,
  options: { waitMs: number; onWait: (message: string) => void; signal?: AbortSignal },
): Promise<AdminClient> {
  if (config.databaseUrl) return new LocalAdminClient(await openRuntime(config, 'cli'));
  const deadline = Date.now() + options.waitMs;
  let announced = false;
  for (;;) {
    try {
      return new LocalAdminClient(await openRuntime(config, 'cli'));
    } catch (error) {
      if (!(error instanceof DataDirBusyError)) throw error;
      const { owner } = error;
      if (owner.kind === 'server' && owner.adminUrl && owner.adminToken) return new RemoteAdminClient(owner.adminUrl, owner.adminToken, owner.pid, config.dataDir);
      // Listening, but without an admin listener (a build from before it existed): waiting is no use.
      if (owner.kind === 'server' && owner.url) throw error;
      const holder = owner.kind === 'server' ? `a sonarly server (pid ${owner.pid}) that is still starting` : `another sonarly command (pid ${owner.pid})`;
      if (Date.now() >= deadline) {
        throw new CliError(
          `${config.dataDir} is in use by ${holder}; gave up after waiting ${Math.round(options.waitMs / 1000)} s.\n` +
            `  Run the command again when it has finished (SONARLY_LOCK_WAIT_MS sets how long to wait), or keep \`sonarly serve\` running: commands then go through it.`,
        );
      }
      if (!announced) {
        options.onWait(`${config.dataDir} is in use by ${holder}; waiting up to ${Math.round(options.waitMs / 1000)} s…`);
        announced = true;
      }
      await delay(RETRY_INTERVAL_MS);
      if (options.signal?.aborted) throw new CliError(`Interrupted while waiting for ${config.dataDir}.`);
    }
  }
}
