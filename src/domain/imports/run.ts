import type { Db } from '../../storage/db.js';
import { accountGroupsExist } from '../accountGroups.js';
import { validationError } from '../errors.js';
import { FieldError } from './fields.js';
import type { RecordImporter, Rejection } from './importer.js';
import { readLines } from './lines.js';
import { MessageImporter } from './messages.js';
import { ProspectImporter } from './prospects.js';
import { type ImportFormat, type SourceRecord, readCsvRecords, readJsonlRecords } from './records.js';

export const IMPORT_KINDS = ['prospects', 'messages'] as const;
export type ImportKind = (typeof IMPORT_KINDS)[number];
export const IMPORT_FORMATS = ['jsonl', 'csv'] as const satisfies readonly ImportFormat[];

export interface ImportOptions {
  kind: ImportKind;
  format: ImportFormat;
  /** Default group for records without one; records naming another group are rejected. */
  accountGroupId?: string;
  /** Records per statement and transaction. */
  batchSize?: number;
}

export interface ImportCounts {
  /** Records read: non-empty JSONL lines, CSV rows after the header. */
  read: number;
  imported: number;
  duplicates: number;
  rejected: number;
  /** Bytes of the file consumed so far. */
  bytes: number;
}

/**
 * What an import reports as it goes, in this order: rejections (by line), a progress report after
 * each batch, one summary at the end. The CLI prints them; through a server they travel as NDJSON.
 */
export type ImportEvent =
  | { type: 'rejected'; line: number; reason: string }
  | ({ type: 'progress' } & ImportCounts)
  | ({ type: 'summary'; interrupted: boolean } & ImportCounts);

export const DEFAULT_BATCH_SIZE = 1000;
/** One line (JSONL) or record (CSV) may not exceed this; it is rejected and the import goes on. */
export const MAX_RECORD_BYTES = 1024 * 1024;

export type ImportRun = (source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, signal?: AbortSignal) => AsyncGenerator<ImportEvent>;

/**
 * Checks the options (the group must exist) before any byte is read, so a bad invocation fails
 * with an ordinary error instead of mid-stream; returns the import to run over a byte stream.
 * Memory stays bounded: one batch of records and one line are held at a time.
 */
export async function prepareImport(db: Db, options: ImportOptions): Promise<ImportRun> {
  if (options.accountGroupId && (await accountGroupsExist(db, [options.accountGroupId])).length > 0) {
    throw validationError(`Unknown account group ${options.accountGroupId}.`, 'List the groups with `sonarly groups list`.');
  }
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  return (source, signal) => {
    const importer: RecordImporter<{ line: number }> =
      options.kind === 'prospects' ? new ProspectImporter(options.accountGroupId) : new MessageImporter(options.accountGroupId);
    const lines = readLines(source, MAX_RECORD_BYTES);
    const records = options.format === 'csv' ? readCsvRecords(lines, importer.columns, MAX_RECORD_BYTES) : readJsonlRecords(lines);
    return runImport(db, importer, records, batchSize, signal);
  };
}

async function* runImport<Row extends { line: number }>(
  db: Db,
  importer: RecordImporter<Row>,
  records: AsyncIterable<SourceRecord>,
  batchSize: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<ImportEvent> {
  const counts: ImportCounts = { read: 0, imported: 0, duplicates: 0, rejected: 0, bytes: 0 };
  let batch: Row[] = [];
  let rejections: Rejection[] = [];

  async function* flush(): AsyncGenerator<ImportEvent> {
    if (batch.length > 0) {
      const rows = batch;
      const outcome = await db.transaction((tx) => importer.store(tx, rows));
      counts.imported += outcome.imported;
      counts.duplicates += outcome.duplicates;
      rejections.push(...outcome.rejected);
    }
    // Rejections found while parsing and while storing are reported together, in line order.
    rejections.sort((a, b) => a.line - b.line);
    for (const rejection of rejections) yield { type: 'rejected', ...rejection };
    counts.rejected += rejections.length;
    batch = [];
    rejections = [];
    yield { type: 'progress', ...counts };
  }

  for await (const record of records) {
    counts.bytes = Math.max(counts.bytes, record.bytesRead);
    counts.read++;
    if ('problem' in record) {
      rejections.push({ line: record.line, reason: record.problem });
    } else {
      try {
        batch.push(importer.parse(record.fields, record.line));
      } catch (error) {
        if (!(error instanceof FieldError)) throw error;
        rejections.push({ line: record.line, reason: error.message });
      }
    }
    if (batch.length + rejections.length >= batchSize) yield* flush();
    // Stops between records; what was read is still stored below.
    if (signal?.aborted) break;
  }
  yield* flush();
  yield { type: 'summary', interrupted: signal?.aborted ?? false, ...counts };
}
