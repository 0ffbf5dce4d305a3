import type { Config } from '../config.js';
import { defaultConnectorRegistry } from '../connectors/registry.js';
import { sendsTotal } from '../observability/metrics.js';
import type { Runtime } from '../runtime.js';
import { deadJobHandlers, jobHandlers } from './handlers.js';
import { Worker } from './worker.js';

/** Validated once with the rest of the configuration (src/config.ts: WORKER_*, SEND_TIMEOUT_MS). */
export type WorkerSettings = Config['worker'];

type Log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export function startWorker(runtime: Runtime, settings: WorkerSettings, log: Log): Worker {
  const { db, clock } = runtime.services;
  const worker = new Worker({
    db,
    clock,
    concurrency: settings.concurrency,
    leaseMs: settings.leaseMs,
    handlers: jobHandlers({
      db,
      clock,
      connectors: runtime.services.connectors ?? defaultConnectorRegistry(db, clock),
      sendTimeoutMs: settings.sendTimeoutMs,
      onSendOutcome: (outcome) => sendsTotal.inc({ outcome }),
    }),
    onDead: deadJobHandlers(),
    log,
  });
  worker.start();
  return worker;
}
