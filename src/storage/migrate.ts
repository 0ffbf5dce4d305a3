import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type Db, PG_UNIQUE_VIOLATION, pgErrorCode } from './db.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export class DatabaseNewerThanCodeError extends Error {
  constructor(readonly databaseVersion: number, readonly codeVersion: number) {
    super(
      `The database schema is at version ${databaseVersion}, but this build of sonarly only knows ` +
        `migrations up to ${codeVersion}. A newer sonarly has migrated this database; running older ` +
        `code against it could corrupt data. Upgrade sonarly to the version that migrated it.`,
    );
    this.name = 'DatabaseNewerThanCodeError';
  }
}

export async function loadMigrations(): Promise<Migration[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((file) => /^\d{3}_.+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 3)),
      name: file.slice(4, -4),
      sql: await readFile(MIGRATIONS_DIR + file, 'utf8'),
    })),
  );
}

async function ensureMigrationsTable(db: Db): Promise<void> {
  const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
  try {
    await db.exec(create);
  } catch (error) {
    // Two processes creating the table at once: one of them wins, the other sees it exists.
    if (pgErrorCode(error) !== PG_UNIQUE_VIOLATION) throw error;
  }
}

export async function appliedVersion(db: Db): Promise<number> {
  await ensureMigrationsTable(db);
  const [row] = await db.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
  return row?.version ?? 0;
}

export interface MigrationStatus {
  databaseVersion: number;
  codeVersion: number;
}

export async function migrationStatus(db: Db): Promise<MigrationStatus> {
  const migrations = await loadMigrations();
  return { databaseVersion: await appliedVersion(db), codeVersion: migrations.at(-1)?.version ?? 0 };
}

/**
 * Applies pending migrations, each in its own transaction whose first statement records it, so a
 * concurrent migrator blocks on that row and then skips the migration instead of running it twice.
 */
export async function migrate(db: Db): Promise<{ applied: string[] }> {
  const migrations = await loadMigrations();
  const codeVersion = migrations.at(-1)?.version ?? 0;
  const current = await appliedVersion(db);
  if (current > codeVersion) throw new DatabaseNewerThanCodeError(current, codeVersion);
  const applied: string[] = [];
  for (const migration of migrations.filter((m) => m.version > current)) {
    try {
      await db.transaction(async (tx) => {
        await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        for (const statement of splitStatements(migration.sql)) await tx.query(statement);
      });
      applied.push(`${String(migration.version).padStart(3, '0')}_${migration.name}`);
    } catch (error) {
      if (pgErrorCode(error) !== PG_UNIQUE_VIOLATION) throw error;
    }
  }
  return { applied };
}

/**
 * Splits a migration file into statements so each runs through the same parameterised path inside
 * the migration's transaction. Our migrations keep to plain DDL: no `;` inside literals or bodies.
 */
function splitStatements(sql: string): string[] {
  return sql
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n')
    .split(';')
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}
