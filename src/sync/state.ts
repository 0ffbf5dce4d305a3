import type { ConnectorAccount } from '../connectors/types.js';
import type { Queryable } from '../storage/db.js';
import { isoTimestamp } from '../storage/sqlFragments.js';

/** A connected account as sync needs it: with its connector settings (credentials; never logged). */
export interface SyncAccount extends ConnectorAccount {
  status: 'connected' | 'disconnected' | 'paused';
  name: string;
}

export async function loadSyncAccount(db: Queryable, accountId: string): Promise<SyncAccount | null> {
  const [row] = await db.query<SyncAccount>(
    `SELECT id, account_group_id AS "accountGroupId", connector, provider_account_id AS "providerAccountId",
            account_type AS "accountType", settings, status, name
     FROM connected_accounts WHERE id = $1`,
    [accountId],
  );
  return row ?? null;
}

export type BackfillStatus = 'pending' | 'running' | 'completed' | 'failed';

export interface SyncState {
  accountId: string;
  accountGroupId: string;
  backfillStatus: BackfillStatus;
  backfillCursor: string | null;
  rewalk: boolean;
  backfillStartedAt: string | null;
  backfillCompletedAt: string | null;
  conversationsSynced: number;
  messagesSynced: number;
  leaseOwner: string | null;
  leaseUntil: string | null;
  polledUntil: string | null;
  lastEventAt: string | null;
  lastError: string | null;
  updatedAt: string;
}

const COLUMNS = `account_id AS "accountId", account_group_id AS "accountGroupId", backfill_status AS "backfillStatus",
  backfill_cursor AS "backfillCursor", rewalk, ${isoTimestamp('backfill_started_at')} AS "backfillStartedAt",
  ${isoTimestamp('backfill_completed_at')} AS "backfillCompletedAt", conversations_synced AS "conversationsSynced",
  messages_synced AS "messagesSynced", lease_owner AS "leaseOwner", ${isoTimestamp('lease_until')} AS "leaseUntil",
  ${isoTimestamp('polled_until')} AS "polledUntil", ${isoTimestamp('last_event_at')} AS "lastEventAt", last_error AS "lastError",
  ${isoTimestamp('updated_at')} AS "updatedAt"`;

/** The account's sync state, created `pending` the first time. */
export async function ensureSyncState(db: Queryable, account: { id: string; accountGroupId: string }, now: Date): Promise<SyncState> {
  await db.query(
    `INSERT INTO sync_states (account_id, account_group_id, backfill_status, updated_at) VALUES ($1, $2, 'pending', $3)
     ON CONFLICT (account_id) DO NOTHING`,
    [account.id, account.accountGroupId, now.toISOString()],
  );
  return (await getSyncState(db, account.id))!;
}

export async function getSyncState(db: Queryable, accountId: string): Promise<SyncState | null> {
  const [row] = await db.query<SyncState>(`SELECT ${COLUMNS} FROM sync_states WHERE account_id = $1`, [accountId]);
  return row ?? null;
}

/**
 * Takes (or renews) the account's backfill lease. Only one run works on an account at a time; a
 * run that dies leaves the lease to run out, and the next run resumes from the checkpoint.
 */
export async function claimBackfill(db: Queryable, accountId: string, owner: string, now: Date, leaseMs: number): Promise<boolean> {
  const rows = await db.query(
    `UPDATE sync_states SET lease_owner = $2, lease_until = $4, updated_at = $3,
            backfill_status = CASE WHEN backfill_status = 'completed' THEN backfill_status ELSE 'running' END,
            backfill_started_at = COALESCE(backfill_started_at, $3)
     WHERE account_id = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < $3)
     RETURNING account_id`,
    [accountId, owner, now.toISOString(), new Date(now.getTime() + leaseMs).toISOString()],
  );
  return rows.length > 0;
}

export async function releaseBackfill(db: Queryable, accountId: string, owner: string): Promise<void> {
  await db.query('UPDATE sync_states SET lease_owner = NULL, lease_until = NULL WHERE account_id = $1 AND lease_owner = $2', [accountId, owner]);
}

/** Progress of a backfill, saved in the same transaction as the rows it covers. */
export async function saveBackfillProgress(
  db: Queryable,
  accountId: string,
  progress: { cursor?: string | null; conversations: number; messages: number; completed?: boolean; now: Date },
): Promise<void> {
  await db.query(
    `UPDATE sync_states SET
       backfill_cursor = CASE WHEN $2 THEN $3 ELSE backfill_cursor END,
       conversations_synced = conversations_synced + $4,
       messages_synced = messages_synced + $5,
       backfill_status = CASE WHEN $6 THEN 'completed' ELSE backfill_status END,
       backfill_completed_at = CASE WHEN $6 THEN $7::timestamptz ELSE backfill_completed_at END,
       rewalk = CASE WHEN $6 THEN false ELSE rewalk END,
       -- Polling takes over from the moment the backfill began: anything active since then is walked again.
       polled_until = CASE WHEN $6 THEN COALESCE(polled_until, backfill_started_at) ELSE polled_until END,
       last_error = CASE WHEN $6 THEN NULL ELSE last_error END,
       updated_at = $7
     WHERE account_id = $1`,
    [accountId, progress.cursor !== undefined, progress.cursor ?? null, progress.conversations, progress.messages, progress.completed ?? false, progress.now.toISOString()],
  );
}

export async function recordSyncError(db: Queryable, accountId: string, message: string, now: Date, options: { failed?: boolean } = {}): Promise<void> {
  await db.query(
    `UPDATE sync_states SET last_error = $2, updated_at = $3, backfill_status = CASE WHEN $4 THEN 'failed' ELSE backfill_status END WHERE account_id = $1`,
    [accountId, message.slice(0, 500), now.toISOString(), options.failed ?? false],
  );
}

export async function savePolledUntil(db: Queryable, accountId: string, polledUntil: Date, now: Date): Promise<void> {
  await db.query(
    `UPDATE sync_states SET polled_until = GREATEST(polled_until, $2), last_error = NULL, updated_at = $3 WHERE account_id = $1`,
    [accountId, polledUntil.toISOString(), now.toISOString()],
  );
}

export async function recordEventReceived(db: Queryable, accountId: string, now: Date): Promise<void> {
  await db.query('UPDATE sync_states SET last_event_at = $2, updated_at = $2 WHERE account_id = $1', [accountId, now.toISOString()]);
}

/** The LinkedIn session is gone: the account stops sending and syncing until it is reconnected. */
export async function markDisconnected(db: Queryable, accountId: string, reason: string, now: Date): Promise<void> {
  await db.query(`UPDATE connected_accounts SET status = 'disconnected' WHERE id = $1 AND status <> 'disconnected'`, [accountId]);
  await recordSyncError(db, accountId, reason, now);
}

export async function markConnected(db: Queryable, accountId: string): Promise<void> {
  await db.query(`UPDATE connected_accounts SET status = 'connected' WHERE id = $1 AND status = 'disconnected'`, [accountId]);
}

export interface AccountSyncStatus {
  accountId: string;
  accountGroupId: string;
  name: string;
  connector: string;
  accountType: string;
  status: string;
  backfillStatus: BackfillStatus | null;
  conversationsSynced: number;
  messagesSynced: number;
  messagesStored: number;
  backfillStartedAt: string | null;
  backfillCompletedAt: string | null;
  polledUntil: string | null;
  lastEventAt: string | null;
  lastError: string | null;
}

/** Accounts with their sync progress (`sonarly accounts status`); all accounts, or one group's. */
export async function listSyncStatus(db: Queryable, accountGroupId?: string): Promise<AccountSyncStatus[]> {
  return db.query<AccountSyncStatus>(
    `SELECT a.id AS "accountId", a.account_group_id AS "accountGroupId", a.name, a.connector, a.account_type AS "accountType", a.status,
            s.backfill_status AS "backfillStatus", COALESCE(s.conversations_synced, 0) AS "conversationsSynced",
            COALESCE(s.messages_synced, 0)::bigint AS "messagesSynced",
            (SELECT count(*) FROM messages m WHERE m.account_id = a.id)::bigint AS "messagesStored",
            ${isoTimestamp('s.backfill_started_at')} AS "backfillStartedAt", ${isoTimestamp('s.backfill_completed_at')} AS "backfillCompletedAt",
            ${isoTimestamp('s.polled_until')} AS "polledUntil", ${isoTimestamp('s.last_event_at')} AS "lastEventAt", s.last_error AS "lastError"
     FROM connected_accounts a LEFT JOIN sync_states s ON s.account_id = a.id
     WHERE $1::text IS NULL OR a.account_group_id = $1
     ORDER BY a.created_at, a.id`,
    [accountGroupId ?? null],
  );
}
