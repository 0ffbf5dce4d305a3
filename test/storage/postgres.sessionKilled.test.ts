import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseUnavailableError } from '../../src/storage/db.js';
import { backend, createTestDb, type TestDb, testDatabaseUrl } from '../helpers/testDb.js';

/**
 * PostgreSQL ending a session while a transaction holds it between two statements (what a restart
 * or `pg_terminate_backend` does): the transaction fails as "database unavailable" and the process
 * lives on. node-postgres emits 'error' on the checked-out client, which would end the process if
 * nothing listened (it did end `sonarly worker` in a PostgreSQL restart test).
 */
const run = backend === 'postgres' ? describe : describe.skip;
let testDb: TestDb;

beforeAll(async () => {
  if (backend === 'postgres') testDb = await createTestDb({ poolSize: 2 });
});
afterAll(async () => {
  await testDb?.close();
});

run('a session killed inside a transaction', () => {
  it('fails that transaction as DatabaseUnavailableError, and the next one works', async () => {
    const admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
    try {
      const attempt = testDb.db.transaction(async (tx) => {
        const [{ pid }] = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')) as [{ pid: number }];
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        // Between two statements: the server's goodbye arrives while no query is active.
        await new Promise((resolve) => setTimeout(resolve, 200));
        await tx.query('SELECT 1');
      });
      await expect(attempt).rejects.toBeInstanceOf(DatabaseUnavailableError);
      expect(await testDb.db.transaction((tx) => tx.query<{ one: number }>('SELECT 1 AS one'))).toEqual([{ one: 1 }]);
    } finally {
      await admin.end();
    }
  });
});
