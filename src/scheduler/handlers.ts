import type { Clock } from '../clock.js';
import type { ConnectorRegistry } from '../connectors/registry.js';
import { SEND_RESPONSE_JOB } from '../domain/responses/create.js';
import type { Db } from '../storage/db.js';
import { syncJobHandlers } from '../sync/handlers.js';
import { type SendOutcome, giveUpOnSend, runSendResponse } from './sendResponse.js';
import type { DeadJobHandler, JobHandler } from './worker.js';

export interface HandlerContext {
  db: Db;
  clock: Clock;
  connectors: ConnectorRegistry;
  random?: () => number;
  sendTimeoutMs?: number;
  onSendOutcome?: (outcome: SendOutcome) => void;
}

/** Every kind of job a worker knows how to run. */
export function jobHandlers(context: HandlerContext): Record<string, JobHandler> {
  return {
    [SEND_RESPONSE_JOB]: (job) =>
      runSendResponse(
        {
          db: context.db,
          clock: context.clock,
          connectors: context.connectors,
          random: context.random ?? Math.random,
          sendTimeoutMs: context.sendTimeoutMs ?? 30_000,
          ...(context.onSendOutcome ? { onOutcome: context.onSendOutcome } : {}),
        },
        job,
      ),
    // Sync (backfill, polling, webhook events): src/sync/handlers.ts.
    ...syncJobHandlers({ db: context.db, clock: context.clock, connectors: context.connectors }, context.random ? { random: context.random } : {}),
  };
}

/** What giving up on a job means beyond burying it, by kind (see Worker's onDead). */
export function deadJobHandlers(): Record<string, DeadJobHandler> {
  return { [SEND_RESPONSE_JOB]: giveUpOnSend };
}
