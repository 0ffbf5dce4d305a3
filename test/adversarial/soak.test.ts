import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatInterval, formatReport, latencyOf, runSoak, slope } from '../../bench/soak/soak.js';
import { backend, createTestDb, testDatabaseUrl } from '../helpers/testDb.js';

/**
 * The short soak of CI: a steady mixed load (reads, replies, webhook ingestion) against a server
 * process for SOAK_DURATION_MS (default 45 s), then: 0 failed requests, 0 errors in the server's
 * worker, and no upward trend of the server's heap after GC over the run's second part. The long
 * run is `npm run soak -- --duration 1h`.
 */
const DURATION_MS = Number(process.env.SOAK_DURATION_MS ?? 45_000);
const RPS = Number(process.env.SOAK_RPS ?? 30);

describe(`soak (${DURATION_MS / 1000} s at ${RPS} requests/s)`, () => {
  it('the trend and percentile arithmetic see a leak and a slow tail (the checks below are not blind)', () => {
    const leaking = Array.from({ length: 10 }, (_, i) => ({ x: i * 3_000, y: 50e6 + i * 400_000 + (i % 2) * 300_000 }));
    expect(slope(leaking) * 27_000).toBeGreaterThan(3 * 1024 * 1024);
    expect(Math.abs(slope(leaking.map((p) => ({ x: p.x, y: 50e6 + (p.x % 6_000 === 0 ? 300_000 : 0) }))) * 27_000)).toBeLessThan(1024 * 1024);
    expect(latencyOf([...Array(98).fill(10), 500, 900])).toMatchObject({ p50: 10, p99: 900, max: 900 });
  });

  it('holds a mixed load with 0 errors and no memory growth trend', { timeout: DURATION_MS + 240_000 }, async () => {
    let cleanup: () => Promise<void>;
    let target: { databaseUrl: string } | { dataDir: string };
    if (backend === 'postgres') {
      const testDb = await createTestDb({ poolSize: 1 });
      const url = new URL(testDatabaseUrl());
      url.searchParams.set('options', `-c search_path=${testDb.schema}`);
      target = { databaseUrl: url.toString() };
      cleanup = () => testDb.close();
    } else {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'sonarly-soak-'));
      target = { dataDir };
      cleanup = () => rm(dataDir, { recursive: true, force: true });
    }
    try {
      const report = await runSoak({ durationMs: DURATION_MS, rps: RPS, sampleEveryMs: 3_000, warmupFraction: 0.35, ...target });
      console.log(`[soak] ${backend}\n${report.intervals.map(formatInterval).join('\n')}\n${formatReport(report)}`);
      expect(report.errorSamples).toEqual([]);
      expect(report.serverErrors).toEqual([]);
      expect(report.requests).toBeGreaterThan((DURATION_MS / 1000) * RPS * 0.9);
      // Flat heap: the linear trend over the measured window stays within 10% (or 3 MB, the noise of a short run).
      expect(Math.abs(report.memory.heapTrendBytes) < 3 * 1024 * 1024 || report.memory.heapTrendPercent < 10, `heap trend ${report.memory.heapTrendBytes} bytes (${report.memory.heapTrendPercent}%)`).toBe(true);
      // Work keeps up: the queue of due jobs does not pile up by the end.
      expect(report.memory.samples.at(-1)!.jobs).toBeLessThan(RPS * 3);
    } finally {
      await cleanup();
    }
  });
});
