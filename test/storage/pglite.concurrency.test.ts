import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/storage/db.js';
import { openPglite } from '../../src/storage/pglite.js';
import { backend } from '../helpers/testDb.js';

/**
 * PGlite is one connection shared by every request of the process; the adapter must keep
 * concurrent callers out of each other's transactions. PostgreSQL gives each transaction its own
 * pooled connection, so these properties are the server's, not our adapter's: skipped there.
 */
describe.skipIf(backend !== 'pglite')('the PGlite adapter under concurrency', () => {
  let db: Db;

  beforeAll(async () => {
    db = await openPglite();
    await db.exec(`CREATE TABLE items (id integer PRIMARY KEY, owner integer NOT NULL, state text NOT NULL)`);
  });

  afterAll(() => db?.close());

  /** Lets every other pending operation take its turn. */
  const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

  const count = async (where: string, params: unknown[] = [], q: Pick<Db, 'query'> = db) =>
    (await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM items WHERE ${where}`, params))[0]!.n;

  it('never lets a transaction or a plain query see another transaction’s uncommitted rows', async () => {
    const seenInside: number[] = [];
    const seenOutside: number[] = [];
    const transactions = Array.from({ length: 60 }, (_, owner) =>
      db.transaction(async (tx) => {
        for (let i = 0; i < 3; i++) {
          await tx.query(`INSERT INTO items (id, owner, state) VALUES ($1, $2, 'pending')`, [owner * 10 + i, owner]);
          await yieldTurn();
        }
        // Only this transaction's own pending rows are visible inside it.
        seenInside.push(await count(`state = 'pending'`, [], tx));
        await tx.query(`UPDATE items SET state = 'done' WHERE owner = $1`, [owner]);
        await yieldTurn();
        return owner;
      }),
    );
    // Plain queries interleaved with the transactions: committed rows are all 'done'.
    const plain = Array.from({ length: 60 }, async () => {
      await yieldTurn();
      seenOutside.push(await count(`state = 'pending'`));
    });
    expect((await Promise.all(transactions)).length).toBe(60);
    await Promise.all(plain);
    expect(seenInside).toEqual(Array(60).fill(3));
    expect(seenOutside).toEqual(Array(60).fill(0));
    expect(await count(`state = 'done'`)).toBe(180);
    await db.query('DELETE FROM items');
  });

  it('rolls back a transaction whose statement fails, and everything after it still works', async () => {
    await db.query(`INSERT INTO items (id, owner, state) VALUES (1, 1, 'done')`);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 40 }, (_, n) =>
        db.transaction(async (tx) => {
          await tx.query(`INSERT INTO items (id, owner, state) VALUES ($1, $2, 'done')`, [1000 + n, 1000 + n]);
          await yieldTurn();
          // Every third transaction fails on a statement: a duplicate key.
          if (n % 3 === 0) await tx.query(`INSERT INTO items (id, owner, state) VALUES (1, 0, 'duplicate')`);
          // Every third + 1 fails on a bad statement that leaves the transaction aborted.
          if (n % 3 === 1) await tx.query('SELECT no_such_column FROM items');
          return n;
        }),
      ),
    );
    const committed = outcomes.flatMap((o, n) => (o.status === 'fulfilled' ? [n] : []));
    expect(committed).toEqual(Array.from({ length: 40 }, (_, n) => n).filter((n) => n % 3 === 2));
    for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(Error);
    // Rolled back: none of a failed transaction's rows exist, the committed ones all do.
    const ids = (await db.query<{ id: number }>('SELECT id FROM items WHERE id >= 1000 ORDER BY id')).map((r) => r.id);
    expect(ids).toEqual(committed.map((n) => 1000 + n));
    expect(await count(`state = 'duplicate'`)).toBe(0);
    // The connection is not left inside an aborted transaction: plain queries, DDL and new
    // transactions all work.
    expect(await count('true')).toBe(1 + committed.length);
    await db.exec('CREATE TABLE after_failures (x integer)');
    await db.transaction(async (tx) => tx.query('INSERT INTO after_failures VALUES (1)'));
    expect(await db.query('SELECT x FROM after_failures')).toEqual([{ x: 1 }]);
    await db.query('DELETE FROM items');
  });

  it('rolls back a transaction whose code throws, without a failed statement', async () => {
    const outcome = db.transaction(async (tx) => {
      await tx.query(`INSERT INTO items (id, owner, state) VALUES (5, 5, 'pending')`);
      throw new Error('application decided to abort');
    });
    const plain = count('id = 5');
    await expect(outcome).rejects.toThrow('application decided to abort');
    expect(await plain).toBe(0);
    expect(await count('id = 5')).toBe(0);
  });

  it('keeps a failed plain statement from affecting later ones', async () => {
    const results = await Promise.allSettled([db.query('SELEKT 1'), db.query('SELECT 1 AS one'), db.query('SELECT 1/0'), db.query('SELECT 2 AS two')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect(await db.query('SELECT 3 AS three')).toEqual([{ three: 3 }]);
  });

  it('serves statements in the order they were issued', async () => {
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        i % 2 === 0
          ? db.query('SELECT $1::int AS i', [i]).then(() => order.push(i))
          : db.transaction(async (tx) => tx.query('SELECT $1::int AS i', [i])).then(() => order.push(i)),
      ),
    );
    expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });
});
