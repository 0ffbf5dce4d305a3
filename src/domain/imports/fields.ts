/**
 * Reads typed values out of one import record. JSONL gives typed values, CSV gives text, so each
 * reader accepts both forms of a value (`true` and "true"). Every failure names the field and
 * shows what it got; `done()` reports all of a record's failures at once, as the line's reason.
 */
export class FieldError extends Error {}

const MAX_SHOWN = 60;

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_SHOWN ? text.slice(0, MAX_SHOWN) + '…' : text;
}

export class FieldReader {
  private readonly problems: string[] = [];

  constructor(private readonly record: Record<string, unknown>) {}

  /** Throws the record's failures, if any. */
  done(): void {
    if (this.problems.length > 0) throw new FieldError(this.problems.join('; '));
  }

  /** Notes a failure and returns `fallback`, so the remaining fields are still checked. */
  fail<T>(problem: string, fallback: T): T {
    this.problems.push(problem);
    return fallback;
  }

  /** Unknown fields are an error: a misspelt field would otherwise be dropped without a word. */
  onlyFields(known: readonly string[]): void {
    const unknown = Object.keys(this.record).filter((name) => !known.includes(name));
    if (unknown.length > 0) this.fail(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')} (the fields are: ${known.join(', ')})`, null);
  }

  private present(name: string): unknown {
    const value = this.record[name];
    return value === null || value === '' ? undefined : value;
  }

  string(name: string, options: { required: true; maxLength?: number }): string;
  string(name: string, options?: { required?: false; maxLength?: number }): string | null;
  string(name: string, options: { required?: boolean; maxLength?: number } = {}): string | null {
    const value = this.present(name);
    const fallback = options.required ? '' : null;
    if (value === undefined) return options.required ? this.fail(`${name} is required`, '') : null;
    if (typeof value !== 'string') return this.fail(`${name} must be a string; got ${show(value)}`, fallback);
    const maxLength = options.maxLength ?? 512;
    if (value.length > maxLength) return this.fail(`${name} is longer than ${maxLength} characters`, fallback);
    return value;
  }

  boolean(name: string): boolean {
    const value = this.present(name);
    if (value === undefined) return this.fail(`${name} is required (true or false)`, false);
    if (value === true || value === 'true' || value === 'TRUE' || value === '1') return true;
    if (value === false || value === 'false' || value === 'FALSE' || value === '0') return false;
    return this.fail(`${name} must be true or false; got ${show(value)}`, false);
  }

  /** ISO 8601 with a time zone, returned as UTC truncated to milliseconds (what the API shows). */
  timestamp(name: string): string {
    const value = this.present(name);
    if (value === undefined) return this.fail(`${name} is required`, '');
    const parsed = typeof value === 'string' ? parseIsoTimestamp(value) : null;
    return parsed ?? this.fail(`${name} must be an ISO 8601 timestamp with a time zone, e.g. 2026-04-28T15:30:00.000Z; got ${show(value)}`, '');
  }

  url(name: string): string | null {
    const value = this.present(name);
    if (value === undefined) return null;
    let url: URL | null = null;
    try {
      url = typeof value === 'string' && value.length <= 2048 ? new URL(value) : null;
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return this.fail(`${name} must be an http(s) URL; got ${show(value)}`, null);
    return value as string;
  }

  /** A JSON array of objects: as such in JSONL, or as JSON text in a CSV cell. */
  objectArray(name: string): Record<string, unknown>[] {
    let value = this.present(name);
    if (value === undefined) return [];
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value);
      } catch {
        return this.fail(`${name} must be a JSON array; got ${show(value)}`, []);
      }
    }
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'object' && item !== null && !Array.isArray(item))) {
      return this.fail(`${name} must be a JSON array of objects; got ${show(value)}`, []);
    }
    return value as Record<string, unknown>[];
  }
}

const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/;

/** The instant as `YYYY-MM-DDTHH:MM:SS.mmmZ` (finer digits cut off), or null when not ISO 8601 with a zone. */
export function parseIsoTimestamp(text: string): string | null {
  const match = ISO_TIMESTAMP.exec(text);
  if (!match) return null;
  const [, year, month, day, hour, minute, second, fraction = '', zone] = match;
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  // Date.UTC rolls 2026-02-30 over to March; a day that does not exist is an error instead.
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  // Date.UTC reads years below 100 as 19xx; nothing before 1900 is a LinkedIn message anyway.
  if (y < 1900 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || s > 59) return null;
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const sign = zone!.startsWith('-') ? -1 : 1;
    const [zh, zm] = zone!.slice(1).split(':').map(Number) as [number, number];
    if (zh > 23 || zm > 59) return null;
    offsetMinutes = sign * (zh * 60 + zm);
  }
  const millis = Number((fraction + '000').slice(0, 3));
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s, millis) - offsetMinutes * 60_000).toISOString();
}
