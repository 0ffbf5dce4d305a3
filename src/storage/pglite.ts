import { PGlite, parse, protocol } from '@electric-sql/pglite';
import type { Db, Queryable } from './db.js';

/**
 * PGlite is a single connection. Two requests interleaving their statements would run inside each
 * other's transactions, so every statement outside a transaction, and every transaction as a
 * whole, takes this FIFO lock.
 */
class SerialLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

const { serialize } = protocol;
/** Our SQL is static text, so this only bounds a mistake (a statement built per call). */
const MAX_PREPARED = 500;
/** 'cached plan must not change result type': a table changed under a prepared `SELECT`. */
const FEATURE_NOT_SUPPORTED = '0A000';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((size, part) => size + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Statements with parameters run as named prepared statements, as the node-postgres adapter does:
 * PGlite's own `query` parses, describes and plans the text on every call, in six calls into the
 * WebAssembly module. Here a statement is parsed once, and each execution is one call carrying
 * Bind, Describe, Execute and Sync, whose plan PostgreSQL caches (see BENCHMARKS.md).
 * Statements without parameters (migrations, BEGIN/COMMIT) keep PGlite's own path.
 */
function preparedQueryable(pglite: PGlite): Queryable {
  const statements = new Map<string, { name: string; paramTypes: number[] }>();
  let counter = 0;

  async function prepare(sql: string) {
    const name = `sonarly_${++counter}`;
    const { messages } = await pglite.execProtocol(concat([serialize.parse({ name, text: sql }), serialize.describe({ type: 'S', name }), serialize.sync()]), {
      syncToFs: false,
    });
    const statement = { name, paramTypes: parse.parseDescribeStatementResults(messages) };
    statements.set(sql, statement);
    return statement;
  }

  async function execute<Row>(statement: { name: string; paramTypes: number[] }, params: readonly unknown[]): Promise<Row[]> {
    const values = params.map((param, i) => {
      if (param === null || param === undefined) return null;
      const serializer = pglite.serializers[statement.paramTypes[i]!];
      return serializer ? serializer(param) : String(param);
    });
    const { messages } = await pglite.execProtocol(
      concat([serialize.bind({ statement: statement.name, values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]),
    );
    return (parse.parseResults(messages, pglite.parsers)[0]?.rows ?? []) as Row[];
  }

  return {
    async query<Row>(sql: string, params: readonly unknown[] = []) {
      let statement = statements.get(sql);
      if (!statement) {
        if (params.length === 0 || statements.size >= MAX_PREPARED) return (await pglite.query<Row>(sql, params as unknown[])).rows;
        statement = await prepare(sql);
      }
      try {
        return await execute<Row>(statement, params);
      } catch (error) {
        if ((error as { code?: unknown }).code !== FEATURE_NOT_SUPPORTED) throw error;
        // A migration changed a table this statement reads: prepare it again, once.
        statements.delete(sql);
        await pglite.query(`DEALLOCATE ${statement.name}`).catch(() => {});
        return execute<Row>(await prepare(sql), params);
      }
    },
  };
}

export async function openPglite(dataDir?: string): Promise<Db> {
  // int8 as a JS number, as the node-postgres adapter does: both backends must return the same rows.
  const parsers = { 20: (value: string) => Number(value) };
  const pglite = await PGlite.create(dataDir ? { dataDir, parsers } : { parsers });
  const lock = new SerialLock();
  const direct = preparedQueryable(pglite);
  return {
    kind: 'pglite',
    query: (sql, params) => lock.run(() => direct.query(sql, params)),
    transaction: (work) =>
      lock.run(async () => {
        await pglite.query('BEGIN');
        try {
          const result = await work(direct);
          await pglite.query('COMMIT');
          return result;
        } catch (error) {
          // A failed statement leaves the one connection in an aborted transaction; without this
          // ROLLBACK every later query would fail.
          await pglite.query('ROLLBACK').catch(() => {});
          throw error;
        }
      }),
    exec: (sql) => lock.run(async () => void (await pglite.exec(sql))),
    close: () => lock.run(() => pglite.close()),
  };
}
