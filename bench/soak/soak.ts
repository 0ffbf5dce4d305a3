import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { signSandboxWebhook } from '../../src/connectors/sandbox/webhooks.js';
import { seededRandom } from '../../src/random.js';
import type { MemorySample, SoakFixture } from './server.js';

/**
 * A steady mixed load against a server process (bench/soak/server.ts): reads (message history
 * pages and walks, one conversation, scheduled responses, prospect lookups, account groups),
 * replies (POST with an Idempotency-Key, a few of them retried), and webhook ingestion (signed
 * sandbox events with new inbound messages, stored by the worker). Requests start at a constant
 * rate (open model) whatever the answers take. Every answer other than the expected 2xx is an
 * error. Reports latency percentiles per interval and overall, and the server's memory after a
 * full GC over time, with its trend.
 */
export interface SoakOptions {
  durationMs: number;
  /** Requests started per second. */
  rps: number;
  /** PostgreSQL (with a schema in the URL's options, if wanted); else an embedded database in dataDir. */
  databaseUrl?: string;
  dataDir?: string;
  /** Memory is sampled this often; latency is reported per this interval too. */
  sampleEveryMs?: number;
  /** Samples of the first part of the run are left out of the trend (JIT, pools, caches warming up). */
  warmupFraction?: number;
  seed?: number;
  onInterval?: (interval: IntervalReport) => void;
}

export type Operation = 'messages' | 'messagesWalk' | 'conversation' | 'responses' | 'lookup' | 'accounts' | 'reply' | 'replyRetry' | 'webhook';

const MIX: [Operation, number][] = [
  ['messages', 14],
  ['messagesWalk', 10],
  ['conversation', 10],
  ['responses', 8],
  ['lookup', 8],
  ['accounts', 5],
  ['reply', 18],
  ['replyRetry', 4],
  ['webhook', 23],
];

export interface Latency {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface IntervalReport {
  atSeconds: number;
  requests: number;
  errors: number;
  latency: Latency;
  memory: MemorySample;
  /** Requests not started because too many were in flight (the server fell behind). */
  skipped: number;
}

export interface SoakReport {
  durationMs: number;
  requests: number;
  errors: number;
  errorSamples: string[];
  serverErrors: string[];
  skipped: number;
  latency: Latency;
  byOperation: Record<string, Latency>;
  intervals: IntervalReport[];
  memory: {
    samples: MemorySample[];
    /** Heap growth over the measured window as the linear trend predicts it, bytes and % of the mean. */
    heapTrendBytes: number;
    heapTrendPercent: number;
    rssTrendBytes: number;
  };
}

export function latencyOf(durations: number[]): Latency {
  if (durations.length === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
  const sorted = [...durations].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { count: sorted.length, p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted.at(-1)!) };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** Least-squares slope of y over x. */
export function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxx === 0 ? 0 : points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
}

class ServerProcess {
  private child: ChildProcess;
  private waiting = new Map<string, ((message: any) => void)[]>();
  readonly errors: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(env: Record<string, string>) {
    this.child = fork(path.resolve('bench/soak/server.ts'), [], {
      execArgv: ['--expose-gc', '--import', 'tsx'],
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: { type: string; message?: string }) => {
      if (message.type === 'error') this.errors.push(message.message ?? '');
      const waiters = this.waiting.get(message.type) ?? [];
      this.waiting.set(message.type, []);
      for (const resolve of waiters) resolve(message);
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  next<T>(type: string): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiting.set(type, [...(this.waiting.get(type) ?? []), resolve]);
      void this.exited.then((code) => reject(new Error(`the soak server exited (${code}) while waiting for '${type}'`)));
    });
  }

  async ready(): Promise<SoakFixture> {
    return (await this.next<{ fixture: SoakFixture }>('ready')).fixture;
  }

  async sample(): Promise<MemorySample> {
    const answer = this.next<{ sample: MemorySample }>('sample');
    this.child.send({ type: 'sample' });
    return (await answer).sample;
  }

  async stop(): Promise<void> {
    this.child.send({ type: 'stop' });
    await this.exited;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const sampleEveryMs = options.sampleEveryMs ?? 5_000;
  const random = seededRandom(options.seed ?? 1);
  const env: Record<string, string> = options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { SOAK_DATA_DIR: options.dataDir ?? '.soak' };
  const server = new ServerProcess(env);
  try {
    const fixture = await server.ready();
    const auth = { authorization: `Bearer ${fixture.key}` };
    const total = MIX.reduce((s, [, w]) => s + w, 0);
    const pickOperation = (): Operation => {
      let roll = random() * total;
      for (const [operation, weight] of MIX) if ((roll -= weight) < 0) return operation;
      return 'messages';
    };
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    let walkCursor: string | null = null;
    const sentReplies: { key: string; body: string }[] = [];
    let sequence = 0;
    const runId = randomBytes(4).toString('hex');

    const request = async (operation: Operation): Promise<{ ok: boolean; detail: string }> => {
      const base = `${fixture.url}/v1/accounts/${fixture.groupId}`;
      let response: Response;
      let expected = 200;
      switch (operation) {
        case 'messages':
          response = await fetch(`${base}/messages?limit=${20 + Math.floor(random() * 80)}`, { headers: auth });
          break;
        case 'messagesWalk': {
          response = await fetch(`${base}/messages?limit=50${walkCursor ? `&cursor=${encodeURIComponent(walkCursor)}` : ''}`, { headers: auth });
          if (response.ok) {
            const body = (await response.clone().json()) as { data: { nextCursor: string | null } };
            walkCursor = body.data.nextCursor;
          }
          break;
        }
        case 'conversation':
          response = await fetch(`${base}/messages?limit=50&conversationId=${pick(fixture.conversations).id}`, { headers: auth });
          break;
        case 'responses':
          response = await fetch(`${base}/messages/responses?limit=20${random() < 0.5 ? '&status=sent' : ''}`, { headers: auth });
          break;
        case 'lookup':
          response = await fetch(`${base}/prospects/by-provider-id/${encodeURIComponent(pick(fixture.conversations).participantProviderId)}`, { headers: auth });
          break;
        case 'accounts':
          response = await fetch(`${fixture.url}/v1/accounts`, { headers: auth });
          break;
        case 'reply':
        case 'replyRetry': {
          expected = 202;
          let key: string;
          let body: string;
          if (operation === 'replyRetry' && sentReplies.length > 0) {
            ({ key, body } = pick(sentReplies));
          } else {
            const conversation = pick(fixture.conversations);
            key = `soak-${runId}-${++sequence}`;
            body = JSON.stringify({ prospectId: conversation.prospectId, conversationId: conversation.id, message: `Soak reply ${sequence}` });
            sentReplies.push({ key, body });
            if (sentReplies.length > 500) sentReplies.shift();
          }
          response = await fetch(`${base}/messages/responses`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': key }, body });
          break;
        }
        case 'webhook': {
          const conversation = pick(fixture.conversations);
          const now = new Date().toISOString();
          const id = `soak-in-${runId}-${++sequence}`;
          const body = JSON.stringify({
            events: [
              {
                id: `message.created:${id}`,
                type: 'message.created',
                occurred_at: now,
                conversation: { id: conversation.providerId, name: null, participant: { id: conversation.participantProviderId, name: null, public_identifier: null } },
                message: { id, conversation_id: conversation.providerId, sender_id: conversation.participantProviderId, is_sender: false, text: `Inbound ${sequence}`, sent_at: now, parent_id: null, edited_at: null, attachments: [] },
              },
            ],
          });
          response = await fetch(`${fixture.url}/v1/webhooks/sandbox/${fixture.accountId}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-sandbox-signature': signSandboxWebhook(fixture.webhookSecret, body) },
            body,
          });
          break;
        }
      }
      const text = await response.text();
      return { ok: response.status === expected, detail: `${operation} ${response.status} ${text.slice(0, 200)}` };
    };

    const started = performance.now();
    const durations = new Map<Operation, number[]>();
    const all: number[] = [];
    let intervalDurations: number[] = [];
    let requests = 0;
    let errors = 0;
    let skipped = 0;
    let intervalRequests = 0;
    let intervalErrors = 0;
    let intervalSkipped = 0;
    const errorSamples: string[] = [];
    const samples: (MemorySample & { t: number })[] = [];
    const intervals: IntervalReport[] = [];
    const inFlight = new Set<Promise<void>>();
    const maxInFlight = Math.max(16, options.rps * 2);

    const fire = () => {
      if (inFlight.size >= maxInFlight) {
        skipped++;
        intervalSkipped++;
        return;
      }
      const operation = pickOperation();
      const t0 = performance.now();
      const task = request(operation)
        .catch((error: Error) => ({ ok: false, detail: `${operation} network error: ${error.message}` }))
        .then(({ ok, detail }) => {
          const ms = performance.now() - t0;
          requests++;
          intervalRequests++;
          all.push(ms);
          intervalDurations.push(ms);
          let list = durations.get(operation);
          if (!list) durations.set(operation, (list = []));
          list.push(ms);
          if (!ok) {
            errors++;
            intervalErrors++;
            if (errorSamples.length < 20) errorSamples.push(detail);
          }
        })
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
    };

    // Constant arrival rate: the n-th request starts at n / rps seconds.
    let fired = 0;
    let nextSample = sampleEveryMs;
    while (performance.now() - started < options.durationMs) {
      const elapsed = performance.now() - started;
      const due = Math.floor((elapsed / 1000) * options.rps);
      while (fired < due) {
        fire();
        fired++;
      }
      if (elapsed >= nextSample) {
        nextSample += sampleEveryMs;
        const memory = await server.sample();
        samples.push({ ...memory, t: elapsed });
        const interval: IntervalReport = { atSeconds: Math.round(elapsed / 1000), requests: intervalRequests, errors: intervalErrors, latency: latencyOf(intervalDurations), memory, skipped: intervalSkipped };
        intervals.push(interval);
        options.onInterval?.(interval);
        intervalDurations = [];
        intervalRequests = 0;
        intervalErrors = 0;
        intervalSkipped = 0;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(inFlight);

    const measured = samples.filter((s) => s.t >= options.durationMs * (options.warmupFraction ?? 0.3));
    const window = measured.length > 1 ? measured.at(-1)!.t - measured[0]!.t : 0;
    const heapSlope = slope(measured.map((s) => ({ x: s.t, y: s.heapUsed })));
    const rssSlope = slope(measured.map((s) => ({ x: s.t, y: s.rss })));
    const meanHeap = measured.reduce((s, m) => s + m.heapUsed, 0) / Math.max(1, measured.length);
    return {
      durationMs: Math.round(performance.now() - started),
      requests,
      errors,
      errorSamples,
      serverErrors: [...server.errors],
      skipped,
      latency: latencyOf(all),
      byOperation: Object.fromEntries([...durations].map(([operation, list]) => [operation, latencyOf(list)])),
      intervals,
      memory: {
        samples: samples.map(({ t: _t, ...sample }) => sample),
        heapTrendBytes: Math.round(heapSlope * window),
        heapTrendPercent: meanHeap > 0 ? Math.round(((heapSlope * window) / meanHeap) * 1000) / 10 : 0,
        rssTrendBytes: Math.round(rssSlope * window),
      },
    };
  } catch (error) {
    server.kill();
    throw error;
  } finally {
    await Promise.race([server.stop(), new Promise((resolve) => setTimeout(resolve, 15_000))]);
    server.kill();
  }
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function formatInterval(i: IntervalReport): string {
  return `${String(i.atSeconds).padStart(5)} s  ${String(i.requests).padStart(6)} req  ${String(i.errors).padStart(4)} err  p50 ${String(i.latency.p50).padStart(6)} ms  p99 ${String(i.latency.p99).padStart(7)} ms  heap ${mb(i.memory.heapUsed).padStart(9)}  rss ${mb(i.memory.rss).padStart(9)}  queue ${i.memory.jobs}${i.skipped ? `  skipped ${i.skipped}` : ''}`;
}

export function formatReport(report: SoakReport): string {
  const lines = [
    `Soak: ${report.requests} requests in ${(report.durationMs / 1000).toFixed(0)} s, ${report.errors} errors, ${report.serverErrors.length} server-side errors, ${report.skipped} skipped`,
    `Latency: p50 ${report.latency.p50} ms, p99 ${report.latency.p99} ms, max ${report.latency.max} ms`,
    ...Object.entries(report.byOperation).map(([operation, l]) => `  ${operation.padEnd(13)} ${String(l.count).padStart(6)}  p50 ${String(l.p50).padStart(6)} ms  p99 ${String(l.p99).padStart(7)} ms`),
    `Memory (after GC): heap trend ${report.memory.heapTrendBytes >= 0 ? '+' : ''}${mb(report.memory.heapTrendBytes)} (${report.memory.heapTrendPercent}%) over the measured window, rss trend ${mb(report.memory.rssTrendBytes)}`,
  ];
  if (report.errorSamples.length > 0) lines.push('Errors:', ...report.errorSamples.map((e) => `  ${e}`));
  if (report.serverErrors.length > 0) lines.push('Server-side errors:', ...report.serverErrors.slice(0, 10).map((e) => `  ${e}`));
  return lines.join('\n');
}
