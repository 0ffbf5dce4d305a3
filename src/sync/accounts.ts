import { MANUAL_CONNECTOR } from '../connectors/manual/connector.js';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { CONNECTOR_KINDS, type ConnectorKind } from '../connectors/registry.js';
import { parseNetworkSettings } from '../connectors/sandbox/network.js';
import { describeUnipileAccount } from '../connectors/unipile/connector.js';
import { parseUnipileSettings } from '../connectors/unipile/settings.js';
import { ACCOUNT_TYPES, type AccountType } from '../domain/connectedAccounts.js';
import { ApiError, validationError } from '../domain/errors.js';
import { newId } from '../ids.js';
import type { Db, Queryable } from '../storage/db.js';
import { SYNC_ACCOUNT_JOB, SYNC_POLL_JOB, ensureAccountJob } from './jobs.js';
import { ensureSyncState, getSyncState } from './state.js';

export interface ConnectInput {
  accountGroupId: string;
  connector: string;
  accountType?: string;
  name?: string;
  /** The account's LinkedIn provider id; for Unipile, read from Unipile when left out. */
  providerAccountId?: string;
  /** Sandbox: the simulated network (`SandboxNetworkSettings`), and faults. */
  network?: Record<string, unknown>;
  faults?: Record<string, unknown>;
  /** Unipile: DSN, API key and Unipile's account id. */
  unipile?: { dsn: string; apiKey: string; accountId: string };
  /** How often polling looks for what webhooks missed (default: the worker's, 5 min). */
  pollIntervalMs?: number;
}

export interface ConnectedAccountSummary {
  id: string;
  accountGroupId: string;
  connector: string;
  accountType: string;
  providerAccountId: string;
  name: string;
  status: string;
  /** Path the provider must post webhooks to (on this server's public URL). */
  webhookPath: string;
  /** Header and value to configure on the provider's webhook; shown once, at connect. */
  webhookSecret: string;
  webhookSecretHeader: string;
  reconnected: boolean;
}

const SECRET_HEADERS: Record<ConnectorKind, string> = { sandbox: 'X-Sandbox-Signature (HMAC-SHA256 of the body)', unipile: 'X-Sonarly-Webhook-Secret' };

/**
 * Connects (or reconnects) a LinkedIn account through a connector and queues its backfill: the
 * worker then copies its whole history and keeps it current. Reconnecting an account that was
 * disconnected keeps its history and its sync progress and resumes where sync stopped.
 */
export async function connectAccount(db: Db, clock: Clock, input: ConnectInput): Promise<ConnectedAccountSummary> {
  if (!(CONNECTOR_KINDS as readonly string[]).includes(input.connector)) {
    throw validationError(`Unknown connector '${input.connector}'.`, `The connectors are: ${CONNECTOR_KINDS.join(', ')}.`);
  }
  const connector = input.connector as ConnectorKind;
  const [group] = await db.query('SELECT 1 FROM account_groups WHERE id = $1', [input.accountGroupId]);
  if (!group) throw validationError(`Unknown account group: ${input.accountGroupId}.`, 'List the groups with `sonarly groups list`.');
  const webhookSecret = randomBytes(24).toString('base64url');
  let settings: Record<string, unknown>;
  let providerAccountId = input.providerAccountId?.trim() || null;
  let accountType = input.accountType;
  let name = input.name;

  if (connector === 'sandbox') {
    const network = { historyEndsAt: clock.now().toISOString(), ...(input.network ?? {}) };
    try {
      parseNetworkSettings(network);
    } catch (error) {
      throw validationError((error as Error).message);
    }
    settings = { network, webhookSecret, ...(input.faults ? { faults: input.faults } : {}) };
    providerAccountId ??= `ACoAASbxMe${randomBytes(8).toString('hex')}`;
  } else {
    if (!input.unipile) throw validationError('A Unipile account needs --dsn, --api-key (or UNIPILE_API_KEY) and --unipile-account-id.');
    settings = { dsn: input.unipile.dsn, apiKey: input.unipile.apiKey, accountId: input.unipile.accountId, webhookSecret };
    try {
      parseUnipileSettings(settings);
    } catch (error) {
      throw validationError((error as Error).message);
    }
    if (!providerAccountId || !accountType || !name) {
      let described;
      try {
        described = await describeUnipileAccount(settings);
      } catch (error) {
        throw new ApiError('UPSTREAM_ERROR', `Unipile did not describe account ${input.unipile.accountId}: ${(error as Error).message}`, 'Check the DSN, the API key and the Unipile account id.');
      }
      providerAccountId ??= described.providerAccountId;
      accountType ??= described.accountType;
      name ??= described.name ?? undefined;
    }
    if (!providerAccountId) throw validationError('Unipile did not give the LinkedIn provider id of this account; pass it with --provider-account-id.');
  }
  if (input.pollIntervalMs !== undefined) {
    if (!Number.isInteger(input.pollIntervalMs) || input.pollIntervalMs < 1_000) throw validationError('The polling interval must be at least 1000 ms.');
    settings.pollIntervalMs = input.pollIntervalMs;
  }
  accountType ??= 'linkedin';
  if (!(ACCOUNT_TYPES as readonly string[]).includes(accountType)) throw validationError(`Unknown account type '${accountType}'.`, `The types are: ${ACCOUNT_TYPES.join(', ')}.`);

  const now = clock.now();
  return db.transaction(async (tx) => {
    const [existing] = await tx.query<{ id: string; connector: string }>(
      'SELECT id, connector FROM connected_accounts WHERE account_group_id = $1 AND provider_account_id = $2 FOR UPDATE',
      [input.accountGroupId, providerAccountId],
    );
    let id: string;
    if (existing) {
      // An account recorded for imports (`manual`) or by older releases' `accounts add` (`sandbox`)
      // takes the connector it is now connected through.
      if (existing.connector !== connector && existing.connector !== 'sandbox' && existing.connector !== MANUAL_CONNECTOR) {
        throw new ApiError('CONFLICT', `Account ${existing.id} is connected through '${existing.connector}'.`, 'Disconnect it first, or connect it through the same connector.');
      }
      id = existing.id;
      await tx.query(
        `UPDATE connected_accounts SET connector = $2, settings = $3, status = 'connected', account_type = $4, name = COALESCE($5, name) WHERE id = $1`,
        [id, connector, JSON.stringify(settings), accountType, name ?? null],
      );
    } else {
      id = newId(now);
      await tx.query(
        `INSERT INTO connected_accounts (id, account_group_id, account_type, provider_account_id, name, connector, status, settings)
         VALUES ($1, $2, $3, $4, $5, $6, 'connected', $7)`,
        [id, input.accountGroupId, accountType, providerAccountId, name ?? '', connector, JSON.stringify(settings)],
      );
    }
    const state = await ensureSyncState(tx, { id, accountGroupId: input.accountGroupId }, now);
    await ensureAccountJob(tx, state.backfillStatus === 'completed' ? SYNC_POLL_JOB : SYNC_ACCOUNT_JOB, id, now, now);
    return {
      id,
      accountGroupId: input.accountGroupId,
      connector,
      accountType: accountType!,
      providerAccountId: providerAccountId!,
      name: name ?? '',
      status: 'connected',
      webhookPath: `/v1/webhooks/${connector}/${id}`,
      webhookSecret,
      webhookSecretHeader: SECRET_HEADERS[connector],
      reconnected: existing !== undefined,
    };
  });
}

/**
 * Disconnects an account: sync stops (its pending sync jobs are dropped), its replies wait in the
 * queue (the scheduler holds replies of accounts that are not connected), its history stays.
 */
export async function disconnectAccount(db: Db, accountId: string): Promise<{ id: string; status: 'disconnected'; wasConnected: boolean }> {
  return db.transaction(async (tx) => {
    const [row] = await tx.query<{ status: string }>('SELECT status FROM connected_accounts WHERE id = $1 FOR UPDATE', [accountId]);
    if (!row) throw new ApiError('NOT_FOUND', `No connected account with id ${accountId}.`, 'List the accounts with `sonarly accounts status`.');
    await tx.query(`UPDATE connected_accounts SET status = 'disconnected' WHERE id = $1`, [accountId]);
    await tx.query(`DELETE FROM jobs WHERE kind IN ($1, $2) AND payload->>'accountId' = $3`, [SYNC_ACCOUNT_JOB, SYNC_POLL_JOB, accountId]);
    return { id: accountId, status: 'disconnected' as const, wasConnected: row.status === 'connected' };
  });
}

/** Queues a backfill (or, once done, polling) for an account, e.g. after `accounts sync --restart`. */
export async function queueSync(db: Queryable, accountId: string, now: Date): Promise<void> {
  const state = await getSyncState(db, accountId);
  await ensureAccountJob(db, state?.backfillStatus === 'completed' ? SYNC_POLL_JOB : SYNC_ACCOUNT_JOB, accountId, now, now);
}
