import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/storage/db.js';
import { DatabaseNewerThanCodeError, loadMigrations, migrate, migrationStatus } from '../../src/storage/migrate.js';
import { openPglite } from '../../src/storage/pglite.js';
import { openPostgres } from '../../src/storage/postgres.js';
import { backend, testDatabaseUrl } from '../helpers/testDb.js';

/**
 * Every test starts from an empty database (not createTestDb, which migrates): an in-memory PGlite,
 * or a fresh PostgreSQL schema. `connect` opens another connection pool on the same schema, as a
 * second process would.
 */
interface EmptyDb {
  db: Db;
  connect(): Db;
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function emptyDb(): Promise<EmptyDb> {
  if (backend === 'pglite') {
    const db = await openPglite();
    cleanups.push(() => db.close());
    return { db, connect: () => db };
  }
  const schema = `test_mig_${randomBytes(6).toString('hex')}`;
  await admin(`CREATE SCHEMA ${schema}`);
  const pools: Db[] = [];
  const connect = () => {
    const db = openPostgres({ connectionString: testDatabaseUrl(), schema, poolSize: 4 });
    pools.push(db);
    return db;
  };
  cleanups.push(async () => {
    for (const pool of pools) await pool.close();
    await admin(`DROP SCHEMA ${schema} CASCADE`);
  });
  return { db: connect(), connect };
}

const migrationNames = async () => (await loadMigrations()).map((m) => `${String(m.version).padStart(3, '0')}_${m.name}`);

describe('migrate', () => {
  it('applies every migration in order and records each in schema_migrations', async () => {
    const { db } = await emptyDb();
    const migrations = await loadMigrations();
    expect(migrations.length).toBeGreaterThan(0);
    expect(migrations.map((m) => m.version)).toEqual([...migrations.map((m) => m.version)].sort((a, b) => a - b));
    const { applied } = await migrate(db);
    expect(applied).toEqual(await migrationNames());
    const rows = await db.query<{ version: number; name: string; applied_at: unknown }>('SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => [r.version, r.name])).toEqual(migrations.map((m) => [m.version, m.name]));
    for (const row of rows) expect(row.applied_at).toBeTruthy();
    // The schema is really there.
    const [{ count }] = (await db.query<{ count: number }>('SELECT count(*)::int AS count FROM api_keys')) as [{ count: number }];
    expect(count).toBe(0);
    expect(await migrationStatus(db)).toEqual({ databaseVersion: migrations.at(-1)!.version, codeVersion: migrations.at(-1)!.version });
  });

  it('applies nothing when run again, and leaves the data alone', async () => {
    const { db } = await emptyDb();
    await migrate(db);
    await db.query("INSERT INTO account_groups (id, name) VALUES ('507f1f77bcf86cd799439011', 'Kept')");
    const before = await db.query('SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
    expect(await migrate(db)).toEqual({ applied: [] });
    expect(await migrate(db)).toEqual({ applied: [] });
    expect(await db.query('SELECT version, name, applied_at FROM schema_migrations ORDER BY version')).toEqual(before);
    expect(await db.query('SELECT name FROM account_groups')).toEqual([{ name: 'Kept' }]);
  });

  it('reports an empty database as version 0', async () => {
    const { db } = await emptyDb();
    const status = await migrationStatus(db);
    expect(status.databaseVersion).toBe(0);
    expect(status.codeVersion).toBe((await loadMigrations()).at(-1)!.version);
  });

  it('refuses a database migrated by newer code, with a message that says what to do', async () => {
    const { db } = await emptyDb();
    await migrate(db);
    const codeVersion = (await loadMigrations()).at(-1)!.version;
    const futureVersion = codeVersion + 5;
    await db.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [futureVersion, 'from_the_future']);

    const error = await migrate(db).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DatabaseNewerThanCodeError);
    const newer = error as DatabaseNewerThanCodeError;
    expect(newer.name).toBe('DatabaseNewerThanCodeError');
    expect(newer.databaseVersion).toBe(futureVersion);
    expect(newer.codeVersion).toBe(codeVersion);
    expect(newer.message).toContain(`version ${futureVersion}`);
    expect(newer.message).toContain(`${codeVersion}`);
    expect(newer.message).toMatch(/upgrade/i);
    // Nothing was touched.
    const versions = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(versions.map((v) => v.version).at(-1)).toBe(futureVersion);
    expect(await migrationStatus(db)).toEqual({ databaseVersion: futureVersion, codeVersion });
  });

  it('lets two concurrent migrators on a fresh database both succeed, applying each migration once', async () => {
    // On PostgreSQL, several rounds: the race has more than one interleaving. PGlite is one
    // connection whose adapter serializes transactions, so one round shows the same outcome.
    const names = await migrationNames();
    for (let round = 0; round < (backend === 'postgres' ? 5 : 1); round++) {
      const { connect } = await emptyDb();
      const [first, second] = [connect(), connect()];
      const results = await Promise.all([migrate(first), migrate(second)]);
      const applied = [...results[0].applied, ...results[1].applied].sort();
      expect(applied).toEqual([...names].sort());
      const rows = await first.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual((await loadMigrations()).map((m) => m.version));
      expect(await migrate(second)).toEqual({ applied: [] });
    }
  });
});
