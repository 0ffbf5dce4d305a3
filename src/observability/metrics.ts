import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The process's Prometheus metrics, served at /metrics. One registry per process, created at
 * import: the API, the worker and the tests all increment the same objects, and each process is
 * scraped on its own (Prometheus sums across instances).
 *
 * Gauges whose value lives in the database (queue depth, sync lag) are read when scraped, through
 * a collector function that the owning module registers; until one is registered the gauge is
 * simply absent from the output.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'sonarly_' });

export const httpRequestsTotal = new Counter({
  name: 'sonarly_http_requests_total',
  help: 'HTTP requests answered, by route template, method and status code.',
  labelNames: ['route', 'method', 'status'] as const,
  registers: [registry],
});

export const httpRequestDuration = new Histogram({
  name: 'sonarly_http_request_duration_seconds',
  help: 'Time from receiving a request to finishing its response, by route template, method and status code.',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const rateLimitRejectionsTotal = new Counter({
  name: 'sonarly_rate_limit_rejections_total',
  help: 'Requests answered 429, by the rate-limit policy that rejected them (key, group, send, anonymous).',
  labelNames: ['policy'] as const,
  registers: [registry],
});

export const rateLimitStoreErrorsTotal = new Counter({
  name: 'sonarly_rate_limit_store_errors_total',
  help: 'Rate-limit checks that could not reach Redis and fell back to the per-process memory limit.',
  registers: [registry],
});

/** Incremented by the scheduler worker: outcome is sent, failed, retried, deferred, ... */
export const sendsTotal = new Counter({
  name: 'sonarly_sends_total',
  help: 'Outbound message send attempts by outcome.',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

type Collector<Row> = () => Promise<Row[]>;

// The latest registration that has not been withdrawn is used: a process normally registers once
// (its database), but tests run several apps on several databases in one process.
const queueDepthCollectors: Collector<{ status: string; count: number }>[] = [];
const syncLagCollectors: Collector<{ accountId: string; lagSeconds: number }>[] = [];
const deadJobCollectors: Collector<{ kind: string; count: number }>[] = [];

function register<Row>(list: Collector<Row>[], collect: Collector<Row>): () => void {
  list.push(collect);
  return () => {
    const index = list.lastIndexOf(collect);
    if (index >= 0) list.splice(index, 1);
  };
}

/** Registers how to read the outbound queue's depth; returns the function that withdraws it. */
export function registerQueueDepthCollector(collect: Collector<{ status: string; count: number }>): () => void {
  return register(queueDepthCollectors, collect);
}

/** Registers how to read each connected account's sync lag; returns the function that withdraws it. */
export function registerSyncLagCollector(collect: Collector<{ accountId: string; lagSeconds: number }>): () => void {
  return register(syncLagCollectors, collect);
}

/** Registers how to count the jobs given up on; returns the function that withdraws it. */
export function registerDeadJobCollector(collect: Collector<{ kind: string; count: number }>): () => void {
  return register(deadJobCollectors, collect);
}

export const collectorErrorsTotal = new Counter({
  name: 'sonarly_metrics_collector_errors_total',
  help: 'Scrapes in which a database-backed gauge could not be read (the gauge is left out of that scrape).',
  labelNames: ['gauge'] as const,
  registers: [registry],
});

// A failing collector must not fail the whole scrape: the HTTP metrics matter most exactly when
// the database is unwell.
async function safely<Row>(gauge: string, collectors: Collector<Row>[]): Promise<Row[]> {
  const collect = collectors.at(-1);
  if (!collect) return [];
  try {
    return await collect();
  } catch {
    collectorErrorsTotal.inc({ gauge });
    return [];
  }
}

/** A gauge whose samples are read from the database at scrape time, one per row of its collector. */
function databaseGauge<Row, Label extends string>(
  name: string,
  help: string,
  label: Label,
  collectors: Collector<Row>[],
  sample: (row: Row) => [labelValue: string, value: number],
): Gauge<Label> {
  return new Gauge({
    name,
    help,
    labelNames: [label] as const,
    registers: [registry],
    async collect() {
      const rows = await safely(name, collectors);
      this.reset();
      for (const row of rows) {
        const [labelValue, value] = sample(row);
        this.set({ [label]: labelValue } as Record<Label, string>, value);
      }
    },
  });
}

export const queueDepth = databaseGauge(
  'sonarly_queue_depth',
  'Scheduled responses by status (queued, sending, ...), read from the database at scrape time.',
  'status',
  queueDepthCollectors,
  (row) => [row.status, row.count],
);

export const syncLag = databaseGauge(
  'sonarly_sync_lag_seconds',
  'Seconds since each connected account was last synced successfully, read at scrape time.',
  'account_id',
  syncLagCollectors,
  (row) => [row.accountId, row.lagSeconds],
);

export const deadJobs = databaseGauge(
  'sonarly_dead_jobs',
  'Jobs that failed on every attempt and wait in dead_jobs for an operator, by kind, read at scrape time. Alert on any.',
  'kind',
  deadJobCollectors,
  (row) => [row.kind, row.count],
);
