import { describe, expect, it } from 'vitest';
import { parseIsoTimestamp } from '../../src/domain/imports/fields.js';
import { type SourceLine, readLines } from '../../src/domain/imports/lines.js';
import { type SourceRecord, parseCsvFields, readCsvRecords, readJsonlRecords } from '../../src/domain/imports/records.js';

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** The same bytes cut into chunks of every size from 1 up, so no line boundary case is missed. */
function chunked(text: string | Buffer, size: number): Buffer[] {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

const lines = (text: string | Buffer, size = 64 * 1024, max = 1024) => collect(readLines(chunked(text, size), max));

describe('readLines', () => {
  it('splits LF and CRLF lines, drops a leading BOM, and counts every byte', async () => {
    const text = '\uFEFFfirst\r\nsecond\n\nlast without newline';
    for (let size = 1; size <= 8; size++) {
      const got = await lines(text, size);
      expect(got).toEqual([
        { number: 1, text: 'first', bytesRead: 10 },
        { number: 2, text: 'second', bytesRead: 17 },
        { number: 3, text: '', bytesRead: 18 },
        { number: 4, text: 'last without newline', bytesRead: Buffer.byteLength(text) },
      ]);
    }
  });

  it('keeps multi-byte characters split across chunks intact', async () => {
    const text = 'héllo wörld ✓\nnext';
    for (let size = 1; size <= 4; size++) expect((await lines(text, size)).map((l) => ('text' in l ? l.text : l.problem))).toEqual(['héllo wörld ✓', 'next']);
  });

  it('reports an over-long line and an invalid UTF-8 line by number and goes on', async () => {
    const text = Buffer.concat([Buffer.from('ok\n' + 'x'.repeat(50) + '\n'), Buffer.from([0xff, 0xfe, 0x0a]), Buffer.from('after\n')]);
    for (const size of [1, 7, 4096]) {
      const got: SourceLine[] = await lines(text, size, 20);
      expect(got.map((l) => ('text' in l ? l.text : `#${l.number} ${l.problem}`))).toEqual([
        'ok',
        '#2 line is longer than 20 bytes',
        '#3 line is not valid UTF-8',
        'after',
      ]);
      expect(got.at(-1)!.bytesRead).toBe(text.length);
    }
  });
});

describe('parseCsvFields', () => {
  it('reads RFC 4180 fields', () => {
    expect(parseCsvFields('a,"b, c","say ""hi""",,"",last')).toEqual(['a', 'b, c', 'say "hi"', '', '', 'last']);
    expect(parseCsvFields('trailing,')).toEqual(['trailing', '']);
    expect(parseCsvFields('"multi\nline"')).toEqual(['multi\nline']);
  });

  it('names the field of a misplaced quote', () => {
    expect(parseCsvFields('a,"b"x,c')).toMatch(/^field 2: unexpected text after the closing quote/);
    expect(parseCsvFields('a,b"c,d')).toMatch(/^field 2: a quote inside an unquoted value/);
  });
});

describe('readCsvRecords', () => {
  const columns = { known: ['id', 'name', 'note'], required: ['id'] };
  const records = async (text: string, max = 1000) => {
    const got: SourceRecord[] = await collect(readCsvRecords(readLines(chunked(text, 5), max), columns, max));
    return got.map((r) => ('fields' in r ? { line: r.line, ...r.fields } : { line: r.line, problem: r.problem }));
  };

  it('keys rows by the header, spans quoted line breaks, treats empty cells as absent, and reports start lines', async () => {
    const csv = 'id,name,note\r\n1,Ann,\r\n\r\n2,"Bo\r\nB",x\r\n3,Cy\r\n4,"D"d,x\r\n5,Eve,"ok"\r\n';
    expect(await records(csv)).toEqual([
      { line: 2, id: '1', name: 'Ann' },
      { line: 4, id: '2', name: 'Bo\nB', note: 'x' },
      { line: 6, problem: 'has 2 fields; the header has 3' },
      { line: 7, problem: 'field 2: unexpected text after the closing quote' },
      { line: 8, id: '5', name: 'Eve', note: 'ok' },
    ]);
  });

  it('gives up on a quoted field left open after the size limit and resumes on the next line', async () => {
    const csv = 'id,name,note\n1,"never closed,x\n' + 'a,b,c\n'.repeat(20) + '9,Zed,\n';
    const got = await records(csv, 100);
    expect(got[0]).toEqual({ line: 2, problem: 'a quoted field opened here is not closed within 100 characters' });
    // Only the line with the stray quote is lost: the lines it swallowed are read again.
    expect(got.slice(1, 21)).toEqual(Array.from({ length: 20 }, (_, i) => ({ line: i + 3, id: 'a', name: 'b', note: 'c' })));
    expect(got.slice(21)).toEqual([{ line: 23, id: '9', name: 'Zed' }]);
  });

  it('rejects only the line of a stray quote when the lines it swallowed do not form a record', async () => {
    const csv = 'id,name,note\n1,"open,x\n2,b,c\n3,"d"e,f\n4,g"h,i\n';
    expect(await records(csv)).toEqual([
      { line: 2, problem: 'field 2: unexpected text after the closing quote (reading a quoted field from here to line 5)' },
      { line: 3, id: '2', name: 'b', note: 'c' },
      { line: 4, problem: 'field 2: unexpected text after the closing quote' },
      { line: 5, problem: 'a quoted field opened here is never closed' },
    ]);
  });

  it('refuses a header with an unknown, repeated or missing required column', async () => {
    await expect(records('id,nmae\n1,x\n')).rejects.toThrow(/unknown column 'nmae'/);
    await expect(records('id,id\n')).rejects.toThrow(/column 'id' appears twice/);
    await expect(records('name\nx\n')).rejects.toThrow(/missing required column 'id'/);
    await expect(records('\n\n')).rejects.toThrow(/The CSV file is empty/);
  });
});

describe('readJsonlRecords', () => {
  it('reads one object per line, skips blank lines and reports the others', async () => {
    const text = '{"a":1}\n\n[1]\n{bad\n"str"\n{"b":2}';
    const got = await collect(readJsonlRecords(readLines(chunked(text, 3), 1000)));
    expect(got.map((r) => ('fields' in r ? r.fields : `${r.line}: ${r.problem}`))).toEqual([
      { a: 1 },
      '3: each line must be a JSON object',
      expect.stringMatching(/^4: not valid JSON/),
      '5: each line must be a JSON object',
      { b: 2 },
    ]);
  });
});

describe('parseIsoTimestamp', () => {
  it('accepts ISO 8601 with a zone, converts to UTC and truncates to milliseconds', () => {
    expect(parseIsoTimestamp('2026-04-28T15:30:00Z')).toBe('2026-04-28T15:30:00.000Z');
    expect(parseIsoTimestamp('2026-04-28T15:30:00.123456789Z')).toBe('2026-04-28T15:30:00.123Z');
    expect(parseIsoTimestamp('2026-04-28T17:30:00.5+02:00')).toBe('2026-04-28T15:30:00.500Z');
    expect(parseIsoTimestamp('2024-02-29T00:00:00-00:30')).toBe('2024-02-29T00:30:00.000Z');
  });

  it('rejects other formats and dates that do not exist', () => {
    for (const text of ['2026-04-28', '2026-04-28T15:30:00', '2026-04-28 15:30:00Z', '28/04/2026', '1714318200', '2026-02-29T00:00:00Z', '2026-13-01T00:00:00Z', '2026-04-28T24:00:00Z', '0099-01-01T00:00:00Z']) {
      expect(parseIsoTimestamp(text), text).toBeNull();
    }
  });
});
