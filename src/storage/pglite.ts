import { PGlite } from '@electric-sql/pglite';
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

export async function openPglite(dataDir?: string): Promise<Db> {
  // int8 as a JS number, as the node-postgres adapter does: both backends must return the same rows.
  const parsers = { 20: (value: string) => Number(value) };
  const pglite = await PGlite.create(dataDir ? { dataDir, parsers } : { parsers });
  const lock = new SerialLock();
  const direct: Queryable = {
    async query<Row>(sql: string, params: readonly unknown[] = []) {
      const result = await pglite.query<Row>(sql, params as unknown[]);
      return result.rows;
    },
  };
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
