/**
 * `npm run soak -- [--duration 10m] [--rps 50] [--database-url postgres://…] [--sample 10s]`
 *
 * Holds a steady mixed load (reads, replies, webhook ingestion) against a fresh server process and
 * prints, every sample interval, the requests, errors, p50/p99 latency, heap and RSS after a full
 * GC and the queue depth; then the totals and the memory trend. Without --database-url it runs on
 * an embedded database in a temporary directory. Exits 1 when any request failed or the heap grew
 * by more than --max-heap-growth percent (default 10) over the measured window.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatInterval, formatReport, runSoak } from './soak.js';

function arg(name: string, fallback?: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

function duration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!match) throw new Error(`not a duration: '${text}' (e.g. 90s, 10m, 1h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

const durationMs = duration(arg('duration', '2m')!);
const rps = Number(arg('rps', '40'));
const databaseUrl = arg('database-url', process.env.SOAK_DATABASE_URL);
const sampleEveryMs = duration(arg('sample', durationMs >= 600_000 ? '30s' : '5s')!);
const maxHeapGrowth = Number(arg('max-heap-growth', '10'));
const output = arg('json');

const dataDir = databaseUrl ? undefined : await mkdtemp(path.join(tmpdir(), 'sonarly-soak-'));
console.log(`Soak for ${durationMs / 1000} s at ${rps} requests/s on ${databaseUrl ? 'PostgreSQL' : `the embedded database (${dataDir})`}`);
console.log('   time     requests  errors  latency                      memory after GC');
try {
  const report = await runSoak({ durationMs, rps, sampleEveryMs, ...(databaseUrl ? { databaseUrl } : { dataDir: dataDir! }), onInterval: (interval) => console.log(formatInterval(interval)) });
  console.log('');
  console.log(formatReport(report));
  if (output) await writeFile(output, JSON.stringify(report, null, 2));
  const failed = report.errors > 0 || report.serverErrors.length > 0 || report.memory.heapTrendPercent > maxHeapGrowth;
  process.exitCode = failed ? 1 : 0;
} finally {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}
