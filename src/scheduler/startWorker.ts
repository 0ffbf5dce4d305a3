import { defaultConnectorRegistry } from '../connectors/registry.js';
import type { Runtime } from '../runtime.js';
import { jobHandlers } from './handlers.js';
import { Worker } from './worker.js';

export interface WorkerSettings {
  concurrency: number;
  leaseMs: number;
  sendTimeoutMs: number;
}

/**
 * Worker settings from the environment. The lease must outlast the send timeout, or a slow send
 * would be taken over by another worker while still in flight.
 */
export function workerSettings(env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  const read = (name: string, fallback: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}; got '${raw}'.`);
    return value;
  };
  const settings = {
    concurrency: read('WORKER_CONCURRENCY', 8, 1, 256),
    leaseMs: read('WORKER_LEASE_MS', 60_000, 1_000, 120_000),
    sendTimeoutMs: read('SEND_TIMEOUT_MS', 30_000, 100, 110_000),
  };
  if (settings.sendTimeoutMs >= settings.leaseMs) throw new Error('SEND_TIMEOUT_MS must be shorter than WORKER_LEASE_MS.');
  return settings;
}

type Log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export function startWorker(runtime: Runtime, settings: WorkerSettings, log: Log): Worker {
  const { db, clock } = runtime.services;
  const worker = new Worker({
    db,
    clock,
    concurrency: settings.concurrency,
    leaseMs: settings.leaseMs,
    handlers: jobHandlers({ db, clock, connectors: defaultConnectorRegistry(db, clock), sendTimeoutMs: settings.sendTimeoutMs }),
    log,
  });
  worker.start();
  return worker;
}
