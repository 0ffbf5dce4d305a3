import { loadConfig } from '../config.js';
import { type AdminClient, lockWaitMs, openAdminClient } from './adminClient.js';
import { EXIT, toCliError } from './errors.js';

/** Options every admin command takes. */
export interface AdminOptions {
  dataDir?: string;
  json?: boolean;
}

/**
 * Runs one admin command against the database or the server holding it, and always closes what it
 * opened. Ctrl-C does not kill the process mid-write: it asks the command to stop (an import stops
 * after the current batch), the embedded database is closed cleanly, and the exit status is 130.
 * A second Ctrl-C exits at once.
 */
export async function withAdmin<T>(options: AdminOptions, work: (client: AdminClient, signal: AbortSignal) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env, { ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}) });
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(EXIT.INTERRUPTED);
    controller.abort();
    process.stderr.write('sonarly: stopping; the work done so far is kept (Ctrl-C again to quit at once)\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const client = await openAdminClient(config, {
      waitMs: lockWaitMs(process.env),
      onWait: (message) => process.stderr.write(`sonarly: ${message}\n`),
      signal: controller.signal,
    });
    try {
      return await work(client, controller.signal);
    } catch (error) {
      throw toCliError(error);
    } finally {
      await client.close();
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (controller.signal.aborted) process.exitCode = EXIT.INTERRUPTED;
  }
}

/** Commander's collector for `--group a,b --group c`. */
export function commaList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((item) => item.trim()).filter((item) => item !== '')];
}
