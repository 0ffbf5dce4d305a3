import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { openPglite } from '../../src/storage/pglite.js';
import { openPostgres } from '../../src/storage/postgres.js';

export type Backend = 'pglite' | 'postgres';

export const backend: Backend = process.env.SONARLY_TEST_BACKEND === 'postgres' ? 'postgres' : 'pglite';

export function testDatabaseUrl(): string {
  const url = process.env.SONARLY_TEST_DATABASE_URL;
  if (!url) throw new Error('SONARLY_TEST_DATABASE_URL is not set');
  return url;
}

export interface TestDb {
  db: Db;
  /** For PostgreSQL: the schema this test file owns (other processes can connect to it). */
  schema: string | null;
  close(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file: an in-memory PGlite, or a new schema on the test
 * PostgreSQL that is dropped afterwards.
 */
export async function createTestDb(options: { poolSize?: number } = {}): Promise<TestDb> {
  if (backend === 'pglite') {
    const db = await openPglite();
    await migrate(db);
    return { db, schema: null, close: () => db.close() };
  }
  const schema = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const db = openPostgres({ connectionString: testDatabaseUrl(), schema, poolSize: options.poolSize ?? 10 });
  await migrate(db);
  return {
    db,
    schema,
    async close() {
      await db.close();
      const cleanup = new pg.Client({ connectionString: testDatabaseUrl() });
      await cleanup.connect();
      await cleanup.query(`DROP SCHEMA ${schema} CASCADE`);
      await cleanup.end();
    },
  };
}
