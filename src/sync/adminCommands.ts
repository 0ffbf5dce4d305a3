import { type TSchema, Type } from 'typebox';
import { systemClock } from '../clock.js';
import { defaultConnectorRegistry } from '../connectors/registry.js';
import { ConnectorError } from '../connectors/types.js';
import { ApiError } from '../domain/errors.js';
import type { Db } from '../storage/db.js';
import { type ConnectInput, type ConnectedAccountSummary, connectAccount, disconnectAccount } from './accounts.js';
import { backfillAccount } from './backfill.js';
import { type AccountSyncStatus, type SyncState, getSyncState, listSyncStatus, loadSyncAccount, markDisconnected, recordSyncError } from './state.js';

export interface SyncStepResult {
  /** `busy`: another run (the worker) holds the backfill; `retry`: LinkedIn failed for now, run again later. */
  status: 'completed' | 'paused' | 'busy' | 'not_connected' | 'retry' | 'disconnected';
  /** When to try again (`retry`), in milliseconds. */
  retryAfterMs: number | null;
  message: string | null;
  state: SyncState | null;
}

/**
 * Operator commands of sync, run by `sonarly accounts connect|sync|status|disconnect` on the
 * database or through the server holding it (`src/domain/admin/commands.ts` includes them).
 * A sync step works for at most `budgetMs` and returns: the CLI repeats steps and shows progress,
 * and can be interrupted between them without losing anything.
 */
export const syncAdminCommands = {
  'accounts.connect': (db: Db, input: ConnectInput): Promise<ConnectedAccountSummary> => connectAccount(db, systemClock, input),

  'accounts.sync': async (db: Db, input: { accountId: string; budgetMs?: number; restart?: boolean }): Promise<SyncStepResult> => {
    const account = await loadSyncAccount(db, input.accountId);
    if (!account) throw new ApiError('NOT_FOUND', `No connected account with id ${input.accountId}.`, 'List the accounts with `sonarly accounts status`.');
    const ctx = { db, clock: systemClock, connectors: defaultConnectorRegistry(db, systemClock) };
    const result = (status: SyncStepResult['status'], message: string | null = null, retryAfterMs: number | null = null): Promise<SyncStepResult> =>
      getSyncState(db, input.accountId).then((state) => ({ status, message, retryAfterMs, state }));
    try {
      const outcome = await backfillAccount(ctx, input.accountId, { budgetMs: Math.min(Math.max(input.budgetMs ?? 2_000, 100), 30_000), ...(input.restart ? { restart: true } : {}) });
      return result(outcome.status);
    } catch (error) {
      if (!(error instanceof ConnectorError)) throw error;
      const now = systemClock.now();
      switch (error.kind) {
        case 'auth_expired':
          await markDisconnected(db, input.accountId, error.message, now);
          return result('disconnected', error.message);
        case 'rate_limited':
          await recordSyncError(db, input.accountId, error.message, now);
          return result('retry', error.message, error.retryAfterMs ?? 60_000);
        case 'permanent':
          await recordSyncError(db, input.accountId, error.message, now, { failed: true });
          throw new ApiError('UPSTREAM_ERROR', `The backfill stopped: ${error.message}`, 'Fix the cause, then run `sonarly accounts sync ID --restart`.');
        default:
          await recordSyncError(db, input.accountId, error.message, now);
          return result('retry', error.message, 5_000);
      }
    }
  },

  'accounts.status': (db: Db, input: { accountGroupId?: string }): Promise<AccountSyncStatus[]> => listSyncStatus(db, input.accountGroupId),

  'accounts.disconnect': (db: Db, input: { accountId: string }) => disconnectAccount(db, input.accountId),
};

const Text = (maxLength = 512) => Type.String({ minLength: 1, maxLength });

/** Body schemas of the commands for the server's admin endpoint. */
export const SYNC_COMMAND_BODIES: Record<keyof typeof syncAdminCommands, TSchema> = {
  'accounts.connect': Type.Object(
    {
      accountGroupId: Text(64),
      connector: Text(32),
      accountType: Type.Optional(Text(64)),
      name: Type.Optional(Type.String({ maxLength: 200 })),
      providerAccountId: Type.Optional(Text()),
      network: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      faults: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      unipile: Type.Optional(Type.Object({ dsn: Text(), apiKey: Text(), accountId: Text() }, { additionalProperties: false })),
      pollIntervalMs: Type.Optional(Type.Integer({ minimum: 1_000 })),
    },
    { additionalProperties: false },
  ),
  'accounts.sync': Type.Object({ accountId: Text(64), budgetMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 30_000 })), restart: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
  'accounts.status': Type.Object({ accountGroupId: Type.Optional(Text(64)) }, { additionalProperties: false }),
  'accounts.disconnect': Type.Object({ accountId: Text(64) }, { additionalProperties: false }),
};
