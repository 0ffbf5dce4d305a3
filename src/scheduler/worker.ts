import { hostname } from 'node:os';
import type { Clock } from '../clock.js';
import { reapIdempotencyKeys } from '../domain/responses/idempotency.js';
import { randomId } from '../ids.js';
import type { Db, Queryable } from '../storage/db.js';
import { type Job, buryJob, claimJobs, clearJobFailures, recordJobFailure, rescheduleJob } from './queue.js';
import { MAX_JOB_ATTEMPTS, backoffMs } from './retry.js';

export type JobHandler = (job: Job<any>) => Promise<unknown>;
/** Settles what a job stood for when it is given up on, in the transaction that buries it. */
export type DeadJobHandler = (tx: Queryable, job: Job<any>, error: string, now: Date) => Promise<void>;

export interface WorkerOptions {
  db: Db;
  clock: Clock;
  handlers: Record<string, JobHandler>;
  /** By kind: what else to do when a job of that kind moves to dead_jobs. */
  onDead?: Record<string, DeadJobHandler>;
  /** Jobs run at once by this process. */
  concurrency?: number;
  /** How long a claimed job stays ours; a dead worker's jobs are taken again after it. (Default: 60 s) */
  leaseMs?: number;
  /** Sleep between polls when the queue is empty. (Default: 250 ms) */
  idlePollMs?: number;
  random?: () => number;
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

const REAP_EVERY_MS = 10 * 60_000;
/** A job of a kind this process does not know is looked at again this much later. */
const UNKNOWN_KIND_RETRY_MS = 60_000;

/**
 * Claims due jobs and runs their handlers. A handler settles its job itself (complete or
 * reschedule); a handler that throws has its job retried with backoff. Polling is the only
 * wake-up mechanism, so any number of workers on any number of machines need nothing but the
 * database.
 */
export class Worker {
  readonly id = `${hostname()}:${process.pid}:${randomId().slice(0, 6)}`;
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private lastReap = 0;
  private readonly options: Required<Omit<WorkerOptions, 'log' | 'onDead'>> & Pick<WorkerOptions, 'log' | 'onDead'>;

  constructor(options: WorkerOptions) {
    this.options = { concurrency: 8, leaseMs: 60_000, idlePollMs: 250, random: Math.random, ...options };
  }

  /** Claims once and runs what it claimed to the end. Returns how many jobs ran. Tests drive the worker with this. */
  async runOnce(): Promise<number> {
    const { db, clock, concurrency, leaseMs } = this.options;
    const jobs = await claimJobs(db, this.id, clock.now(), concurrency, leaseMs);
    await Promise.all(jobs.map((job) => this.run(job)));
    await this.maybeReap();
    return jobs.length;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.poll();
  }

  /** Stops claiming, lets the jobs in flight finish, then resolves. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await Promise.all(this.inFlight);
  }

  private async poll(): Promise<void> {
    const { db, clock, concurrency, leaseMs, idlePollMs } = this.options;
    while (this.running) {
      const free = concurrency - this.inFlight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          const jobs = await claimJobs(db, this.id, clock.now(), free, leaseMs);
          claimed = jobs.length;
          for (const job of jobs) {
            const task = this.run(job).finally(() => {
              this.inFlight.delete(task);
              this.wake?.();
            });
            this.inFlight.add(task);
          }
          await this.maybeReap();
        } catch (error) {
          // The database may be restarting: back off to the normal poll instead of spinning.
          this.options.log?.('warn', 'claiming jobs failed', { error: (error as Error).message });
        }
      }
      if (claimed === 0 || this.inFlight.size >= concurrency) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, idlePollMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
    }
  }

  private async run(job: Job): Promise<void> {
    const { db, clock, handlers, onDead, log, random } = this.options;
    const handler = handlers[job.kind];
    if (!handler) {
      // Most likely enqueued by a newer release during a rolling upgrade: leave it, uncounted,
      // for a worker that knows the kind, instead of failing it towards dead_jobs.
      log?.('warn', 'job of an unknown kind left for another worker', { jobId: job.id, kind: job.kind });
      const at = new Date(clock.now().getTime() + UNKNOWN_KIND_RETRY_MS);
      await rescheduleJob(db, job.id, at, { countAttempt: false, error: `no handler for job kind '${job.kind}' in worker ${this.id}` }).catch(() => {});
      return;
    }
    try {
      await handler(job);
    } catch (error) {
      const message = (error as Error).message;
      const failures = job.failures + 1;
      if (failures >= MAX_JOB_ATTEMPTS) {
        log?.('error', 'job failed on every attempt; moved to dead_jobs', { jobId: job.id, kind: job.kind, failures, error: message });
        const now = clock.now();
        await db
          .transaction(async (tx) => {
            await buryJob(tx, job.id, message, now);
            await onDead?.[job.kind]?.(tx, job, message, now);
          })
          .catch(() => {
            // Not buried: the lease runs out, the job is taken again, fails again and is buried then.
          });
        return;
      }
      log?.('error', 'job failed', { jobId: job.id, kind: job.kind, failures, error: message });
      const at = new Date(clock.now().getTime() + backoffMs(failures, random));
      await recordJobFailure(db, job.id, at, message).catch(() => {
        // If even that fails, the lease runs out and another attempt picks the job up.
      });
      return;
    }
    if (job.failures > 0) await clearJobFailures(db, job.id).catch(() => {});
  }

  private async maybeReap(): Promise<void> {
    const now = this.options.clock.now().getTime();
    if (now - this.lastReap < REAP_EVERY_MS) return;
    this.lastReap = now;
    await reapIdempotencyKeys(this.options.db, new Date(now)).catch(() => {});
  }
}
