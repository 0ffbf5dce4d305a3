import { randomBytes } from 'node:crypto';
import type { Queryable } from '../storage/db.js';

/**
 * A secret shared by every process on one database (cursor signatures must verify on any API
 * process behind a load balancer). Created once, on first use, and kept in the database.
 */
export async function serverSecret(db: Queryable, name: string): Promise<Buffer> {
  await db.query('INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
    name,
    randomBytes(32).toString('hex'),
  ]);
  const [row] = await db.query<{ value: string }>('SELECT value FROM settings WHERE name = $1', [name]);
  return Buffer.from(row!.value, 'hex');
}
