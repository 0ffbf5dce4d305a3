import { validationError } from '../errors.js';
import type { SourceLine } from './lines.js';

/**
 * One record of an import file, before its fields are checked: the object of a JSONL line, or a
 * CSV row keyed by the header. `line` is where the record starts, for error reports.
 */
export type SourceRecord =
  | { line: number; fields: Record<string, unknown>; bytesRead: number }
  | { line: number; problem: string; bytesRead: number };

export type ImportFormat = 'jsonl' | 'csv';

export async function* readJsonlRecords(lines: AsyncIterable<SourceLine>): AsyncGenerator<SourceRecord> {
  for await (const line of lines) {
    if ('problem' in line) {
      yield { line: line.number, problem: line.problem, bytesRead: line.bytesRead };
      continue;
    }
    if (line.text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line.text);
    } catch (error) {
      yield { line: line.number, problem: `not valid JSON (${(error as Error).message})`, bytesRead: line.bytesRead };
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield { line: line.number, problem: 'each line must be a JSON object', bytesRead: line.bytesRead };
      continue;
    }
    yield { line: line.number, fields: value as Record<string, unknown>, bytesRead: line.bytesRead };
  }
}

export interface CsvColumns {
  known: readonly string[];
  required: readonly string[];
}

const countQuotes = (text: string) => {
  let count = 0;
  for (let i = text.indexOf('"'); i !== -1; i = text.indexOf('"', i + 1)) count++;
  return count;
};

/**
 * RFC 4180 fields of one complete record. Returns a reason string for a malformed record: quotes
 * only around a whole field, and `""` for a quote inside one.
 */
export function parseCsvFields(text: string): string[] | string {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote === -1) return `field ${fields.length + 1}: quoted value is never closed`;
        value += text.slice(i, quote);
        if (text[quote + 1] === '"') {
          value += '"';
          i = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      fields.push(value);
      if (i === text.length) return fields;
      if (text[i] !== ',') return `field ${fields.length}: unexpected text after the closing quote`;
      i++;
    } else {
      const comma = text.indexOf(',', i);
      const end = comma === -1 ? text.length : comma;
      const value = text.slice(i, end);
      if (value.includes('"')) return `field ${fields.length + 1}: a quote inside an unquoted value (quote the whole value and double inner quotes: "a ""b"" c")`;
      fields.push(value);
      if (comma === -1) return fields;
      i = comma + 1;
    }
  }
}

/**
 * CSV with a header row. Records are framed here rather than by a general CSV parser so that a
 * malformed record costs only itself. A stray quote makes the following lines look like one
 * quoted field: when that record then fails (or stays open past `maxRecordChars`, or to the end
 * of the file), only its first line is rejected and the lines after it are read again as records
 * of their own. Every problem is reported at the line where its record starts. Line breaks inside
 * quoted fields are read as `\n`. Empty cells are absent values.
 */
export async function* readCsvRecords(lines: AsyncIterable<SourceLine>, columns: CsvColumns, maxRecordChars: number): AsyncGenerator<SourceRecord> {
  type TextLine = Extract<SourceLine, { text: string }>;
  let header: string[] | null = null;
  let pending: TextLine[] = [];
  let pendingChars = 0;
  let open = false;
  const queue: SourceLine[] = [];

  /** Rejects the pending record's first line and queues the others to be read again. */
  const rejectFirstLine = (problem: string): SourceRecord => {
    const [first, ...rest] = pending;
    pending = [];
    pendingChars = 0;
    open = false;
    queue.unshift(...rest);
    return { line: first!.number, problem, bytesRead: first!.bytesRead };
  };

  function* step(line: SourceLine): Generator<SourceRecord> {
    if ('problem' in line) {
      if (open) yield rejectFirstLine('a quoted field opened here runs into a line that cannot be read');
      yield { line: line.number, problem: line.problem, bytesRead: line.bytesRead };
      return;
    }
    if (!open && line.text.trim() === '') return;
    pending.push(line);
    pendingChars += line.text.length + 1;
    // An odd number of quotes flips whether a quoted field is still open at the line's end.
    if (countQuotes(line.text) % 2 === 1) open = !open;
    if (open) {
      if (pendingChars > maxRecordChars) yield rejectFirstLine(`a quoted field opened here is not closed within ${maxRecordChars} characters`);
      return;
    }
    const start = pending[0]!.number;
    const text = pending.length === 1 ? line.text : pending.map((l) => l.text).join('\n');
    const fields = parseCsvFields(text);
    if (!header) {
      if (typeof fields === 'string') throw validationError(`CSV header (line ${start}): ${fields}.`);
      header = checkHeader(fields, columns, start);
      pending = [];
      pendingChars = 0;
      return;
    }
    const problem =
      typeof fields === 'string'
        ? fields
        : fields.length !== header.length
          ? `has ${fields.length} field${fields.length === 1 ? '' : 's'}; the header has ${header.length}`
          : null;
    if (problem !== null) {
      yield pending.length > 1 ? rejectFirstLine(`${problem} (reading a quoted field from here to line ${line.number})`) : rejectFirstLine(problem);
      return;
    }
    const record: Record<string, unknown> = {};
    for (let i = 0; i < header.length; i++) if ((fields as string[])[i] !== '') record[header[i]!] = (fields as string[])[i];
    pending = [];
    pendingChars = 0;
    yield { line: start, fields: record, bytesRead: line.bytesRead };
  }

  function* drain(): Generator<SourceRecord> {
    while (queue.length > 0) yield* step(queue.shift()!);
  }

  for await (const line of lines) {
    queue.push(line);
    yield* drain();
  }
  while (open) {
    yield rejectFirstLine('a quoted field opened here is never closed');
    yield* drain();
  }
  if (!header) throw validationError('The CSV file is empty: it needs a header row naming the columns.');
}

function checkHeader(names: string[], columns: CsvColumns, line: number): string[] {
  const header = names.map((name) => name.trim());
  const seen = new Set<string>();
  for (const name of header) {
    if (!columns.known.includes(name)) {
      throw validationError(`CSV header (line ${line}): unknown column '${name}'.`, `The columns are: ${columns.known.join(', ')}.`);
    }
    if (seen.has(name)) throw validationError(`CSV header (line ${line}): column '${name}' appears twice.`);
    seen.add(name);
  }
  const missing = columns.required.filter((name) => !seen.has(name));
  if (missing.length > 0) throw validationError(`CSV header (line ${line}): missing required column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}.`);
  return header;
}
