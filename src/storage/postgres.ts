import { createHash } from 'node:crypto';
import pg from 'pg';
import { DatabaseUnavailableError, type Db, type Queryable, isDatabaseUnavailable, pgErrorCode } from './db.js';

// int8 and numeric come back as strings by default; our counts and epochs fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

const statementNames = new Map<string, string>();

/**
 * Every statement is sent as a named prepared statement (name = hash of its text), so each pool
 * connection parses and plans a query once. Our SQL is static text with placeholders, so the set
 * of names stays small.
 */
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = 's' + createHash('sha1').update(sql).digest('hex').slice(0, 20);
    // Hashing a 1 KB page query on every call showed in profiles; the set of texts is small.
    if (statementNames.size < 1000) statementNames.set(sql, name);
  }
  return name;
}

/** Lost connections become DatabaseUnavailableError, which the API answers with 503 and Retry-After. */
function classify(error: unknown): unknown {
  return isDatabaseUnavailable(error) && !(error instanceof DatabaseUnavailableError) ? new DatabaseUnavailableError(error) : error;
}

function makeQueryable(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<Row>(sql: string, params: readonly unknown[] = []) {
      try {
        const result = await client.query({ name: statementName(sql), text: sql, values: params as unknown[] });
        return result.rows as Row[];
      } catch (error) {
        throw classify(error);
      }
    },
  };
}

/** deadlock_detected, serialization_failure: the transaction was rolled back and may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_TRANSACTION_ATTEMPTS = 5;

export interface PostgresOptions {
  connectionString: string;
  poolSize?: number;
  /** Confines every connection to one schema (tests give each file its own). */
  schema?: string;
  /** How long to wait for a connection (a new one, or a free one from a busy pool); default 5 s. */
  connectTimeoutMs?: number;
}

export function openPostgres(options: PostgresOptions): Db {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 10,
    // Without a bound, an unreachable host (packets dropped, not refused) or a pool exhausted by
    // a stuck database would hold every request until the client gives up.
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => {});
  const poolQueryable = makeQueryable(pool);
  return {
    kind: 'postgres',
    query: poolQueryable.query,
    async transaction(work) {
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect().catch((error: unknown) => {
          throw classify(error);
        });
        let broken: Error | undefined;
        // A checked-out client has no error listener of the pool's: if the server ends the session
        // between two statements (a restart, an admin kill), node-postgres emits 'error' on it, and
        // an 'error' with no listener would end the process. Note it; the client is discarded below.
        const onError = (error: Error) => {
          broken ??= error;
        };
        client.on('error', onError);
        try {
          await client.query('BEGIN');
          const result = await work(makeQueryable(client));
          await client.query('COMMIT');
          return result;
        } catch (error) {
          if (isDatabaseUnavailable(error)) {
            // The connection is gone: hand it back as broken so the pool drops it.
            broken = error instanceof Error ? error : new Error(String(error));
            throw classify(error);
          }
          await client.query('ROLLBACK').catch(() => {});
          // PostgreSQL aborted the whole transaction to break a deadlock (or a serialization
          // conflict): nothing of it was applied, and running it again is the documented remedy.
          if (attempt >= MAX_TRANSACTION_ATTEMPTS || !RETRYABLE.has(pgErrorCode(error) ?? '')) throw error;
        } finally {
          client.removeListener('error', onError);
          client.release(broken);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
      }
    },
    async exec(sql) {
      await pool.query(sql).catch((error: unknown) => {
        throw classify(error);
      });
    },
    async close() {
      await pool.end();
    },
  };
}
