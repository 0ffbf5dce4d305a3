import { newId } from '../ids.js';
import type { Queryable } from '../storage/db.js';
import { isoTimestamp } from '../storage/sqlFragments.js';

export const ACCOUNT_TYPES = ['linkedin', 'sales_navigator', 'recruiter'] as const;
export type AccountType = (typeof ACCOUNT_TYPES)[number];
export const ACCOUNT_STATUSES = ['connected', 'disconnected', 'paused'] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

export interface ConnectedAccount {
  id: string;
  accountGroupId: string;
  accountType: AccountType;
  providerAccountId: string;
  name: string;
  connector: string;
  status: AccountStatus;
  createdAt: string;
}

const COLUMNS = `id, account_group_id AS "accountGroupId", account_type AS "accountType",
  provider_account_id AS "providerAccountId", name, connector, status, ${isoTimestamp('created_at')} AS "createdAt"`;

export interface AddAccountInput {
  accountGroupId: string;
  accountType: AccountType;
  providerAccountId: string;
  name?: string;
  connector?: string;
}

/** Records a connected account; adding the same provider account to the group again returns the existing one. */
export async function addConnectedAccount(db: Queryable, input: AddAccountInput): Promise<ConnectedAccount> {
  const [inserted] = await db.query<ConnectedAccount>(
    `INSERT INTO connected_accounts (id, account_group_id, account_type, provider_account_id, name, connector)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (account_group_id, provider_account_id) DO NOTHING RETURNING ${COLUMNS}`,
    [newId(), input.accountGroupId, input.accountType, input.providerAccountId, input.name ?? '', input.connector ?? 'sandbox'],
  );
  if (inserted) return inserted;
  const [existing] = await db.query<ConnectedAccount>(
    `SELECT ${COLUMNS} FROM connected_accounts WHERE account_group_id = $1 AND provider_account_id = $2`,
    [input.accountGroupId, input.providerAccountId],
  );
  return existing!;
}

export async function listConnectedAccounts(db: Queryable, accountGroupId?: string): Promise<ConnectedAccount[]> {
  if (accountGroupId) {
    return db.query<ConnectedAccount>(`SELECT ${COLUMNS} FROM connected_accounts WHERE account_group_id = $1 ORDER BY created_at, id`, [accountGroupId]);
  }
  return db.query<ConnectedAccount>(`SELECT ${COLUMNS} FROM connected_accounts ORDER BY created_at, id`);
}
