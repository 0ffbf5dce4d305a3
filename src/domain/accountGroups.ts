import { newId } from '../ids.js';
import type { Queryable } from '../storage/db.js';
import { isoTimestamp } from '../storage/sqlFragments.js';

export interface AccountGroup {
  id: string;
  name: string;
  createdAt: string;
}

const COLUMNS = `id, name, ${isoTimestamp('created_at')} AS "createdAt"`;

export async function createAccountGroup(db: Queryable, name: string): Promise<AccountGroup> {
  const [group] = await db.query<AccountGroup>(
    `INSERT INTO account_groups (id, name) VALUES ($1, $2) RETURNING ${COLUMNS}`,
    [newId(), name],
  );
  return group!;
}

export async function listAccountGroups(db: Queryable, onlyIds?: readonly string[]): Promise<AccountGroup[]> {
  if (onlyIds) {
    return db.query<AccountGroup>(`SELECT ${COLUMNS} FROM account_groups WHERE id = ANY($1) ORDER BY created_at, id`, [onlyIds]);
  }
  return db.query<AccountGroup>(`SELECT ${COLUMNS} FROM account_groups ORDER BY created_at, id`);
}

export async function accountGroupsExist(db: Queryable, ids: readonly string[]): Promise<string[]> {
  const rows = await db.query<{ id: string }>('SELECT id FROM account_groups WHERE id = ANY($1)', [ids]);
  const found = new Set(rows.map((row) => row.id));
  return ids.filter((id) => !found.has(id));
}
