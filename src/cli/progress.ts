import cliProgress from 'cli-progress';
import type { ImportCounts } from '../domain/imports/run.js';

/** How an import shows itself: a live bar on a terminal, nothing but the reports otherwise. */
export interface ImportProgress {
  update(counts: ImportCounts): void;
  /** Prints one report line (above the bar when there is one). */
  log(line: string): void;
  stop(): void;
}

const MB = 1024 * 1024;
const megabytes = (bytes: number) => (bytes / MB).toFixed(1);

export function createProgress(totalBytes: number | null, enabled: boolean): ImportProgress {
  if (!enabled) {
    return { update() {}, log: (line) => void process.stdout.write(line + '\n'), stop() {} };
  }
  const started = Date.now();
  const known = totalBytes !== null && totalBytes > 0;
  const multibar = new cliProgress.MultiBar(
    {
      stream: process.stdout,
      hideCursor: true,
      clearOnComplete: true,
      format: known ? ' {bar} {percentage}% | {mb} of {totalMb} MB | {rows} records | {rate} records/s' : ' {mb} MB | {rows} records | {rate} records/s',
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = multibar.create(known ? totalBytes : 1, 0, { mb: '0.0', totalMb: known ? megabytes(totalBytes) : '?', rows: 0, rate: 0 });
  return {
    update(counts) {
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      bar.update(known ? counts.bytes : 0, { mb: megabytes(counts.bytes), rows: counts.read, rate: Math.round(counts.read / seconds) });
    },
    log: (line) => multibar.log(line + '\n'),
    stop() {
      // The bar writes logged lines on its next redraw; one last redraw so none is lost.
      multibar.update();
      multibar.stop();
    },
  };
}
