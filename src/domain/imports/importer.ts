import type { Queryable } from '../../storage/db.js';
import type { CsvColumns } from './records.js';

export interface Rejection {
  line: number;
  reason: string;
}

export interface BatchOutcome {
  imported: number;
  /** Records already stored (by an earlier run, or earlier in this file): skipped. */
  duplicates: number;
  rejected: Rejection[];
}

/** What one kind of record (prospects, messages) brings to the common import loop. */
export interface RecordImporter<Row extends { line: number }> {
  readonly columns: CsvColumns;
  /** Checks one record's fields; throws FieldError with the reason. */
  parse(fields: Record<string, unknown>, line: number): Row;
  /** Stores a batch; called inside one transaction per batch. */
  store(tx: Queryable, rows: Row[]): Promise<BatchOutcome>;
}
