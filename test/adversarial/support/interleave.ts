import type fc from 'fast-check';
import type { Db, Queryable } from '../../../src/storage/db.js';

/**
 * Lets fast-check's scheduler decide the order in which concurrent tasks reach the database.
 * Every statement of a wrapped database (and every transaction start) waits at a gate; when all
 * tasks are either waiting at a gate or finished, the scheduler releases one gate of its choosing,
 * and so on until every task is done. A failing order is reported by fast-check and replayed from
 * its seed and path.
 *
 * On PostgreSQL the statements inside transactions are gated too, so transactions interleave
 * statement by statement; a released statement may then wait for a row lock held by a transaction
 * that is waiting at a gate, so when nothing moves for a while the next gate is released anyway
 * (a liveness fallback, never an assertion). PGlite runs one transaction at a time by design, so
 * there the gates are at transaction and statement boundaries outside transactions.
 */
export class Interleaving {
  private scheduler: fc.Scheduler | null = null;
  private running = 0;
  private waiters: (() => void)[] = [];
  /** Gates released, and times nothing moved for stallMs (a statement waiting for a lock), for the figures. */
  released = 0;
  stalls = 0;
  lockWaits = 0;

  /**
   * `blocked` counts the racing statements that wait for a lock (PostgreSQL: pg_stat_activity):
   * when every task not at a gate is blocked, the next gate is released at once instead of after
   * `stallMs`.
   */
  constructor(private readonly options: { stallMs?: number; blocked?: () => Promise<number> } = {}) {}

  wrap(db: Db): Db {
    const gated = (queryable: Queryable): Queryable => ({
      query: async (sql, params) => {
        await this.gate(sql);
        return queryable.query(sql, params);
      },
    });
    const inside = db.kind === 'postgres';
    return {
      kind: db.kind,
      query: gated(db).query,
      transaction: async (work) => {
        await this.gate('BEGIN');
        return db.transaction((tx) => work(inside ? gated(tx) : tx));
      },
      exec: (sql) => db.exec(sql),
      close: () => db.close(),
    };
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private async gate(sql: string): Promise<void> {
    const s = this.scheduler;
    if (!s) return;
    const label = sql.trim().split(/\s+/).slice(0, 4).join(' ');
    this.running--;
    this.notify();
    await s.schedule(Promise.resolve(), label, undefined, (release) => {
      this.running++;
      this.released++;
      return release();
    });
  }

  /** Resolves when every task waits at a gate or is done, or waits for a lock, or nothing moved for stallMs. */
  private quiet(): Promise<void> {
    if (this.running <= 0) return Promise.resolve();
    const stallMs = this.options.stallMs ?? 150;
    return new Promise((resolve) => {
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.stalls++;
        done();
      }, stallMs);
      const check = () => {
        if (this.running <= 0) done();
        else if (!settled) this.waiters.push(check);
      };
      this.waiters.push(check);
      const blocked = this.options.blocked;
      if (blocked) {
        const poll = async () => {
          // Most statements finish in a few milliseconds: only then ask the database who waits.
          await new Promise((r) => setTimeout(r, 8));
          while (!settled) {
            await new Promise((r) => setTimeout(r, 4));
            if (settled) return;
            if (this.running > 0 && (await blocked()) >= this.running) {
              this.lockWaits++;
              done();
            }
          }
        };
        void poll();
      }
    });
  }

  /** Runs the tasks concurrently under the scheduler's control; returns how each one settled. */
  async run<T>(s: fc.Scheduler, tasks: (() => Promise<T>)[]): Promise<PromiseSettledResult<T>[]> {
    this.scheduler = s;
    this.running = tasks.length;
    let finished = false;
    const all = Promise.allSettled(
      tasks.map(async (task) => {
        try {
          return await task();
        } finally {
          this.running--;
          this.notify();
        }
      }),
    ).then((results) => {
      finished = true;
      this.notify();
      return results;
    });
    try {
      while (!finished) {
        await Promise.race([this.quiet(), all]);
        if (finished) break;
        if (s.count() > 0) await s.waitOne();
        else await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 5))]);
      }
      return await all;
    } finally {
      this.scheduler = null;
    }
  }
}
