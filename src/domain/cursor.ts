import { createHmac, timingSafeEqual } from 'node:crypto';
import { validationError } from './errors.js';

/**
 * Opaque, tamper-proof page cursors: base64url(JSON position) + "." + truncated HMAC-SHA256.
 * The signed payload carries the account group and the filters of the query that produced it,
 * so a cursor cannot be replayed against another group or another filter.
 */
export class CursorCodec {
  constructor(private readonly secret: Buffer) {}

  encode(position: object): string {
    const payload = Buffer.from(JSON.stringify(position)).toString('base64url');
    return `${payload}.${this.sign(payload)}`;
  }

  /** Returns the position, or throws a 400 VALIDATION_ERROR naming `parameter`. */
  decode<T>(cursor: string, parameter = 'cursor'): T {
    const invalid = () => cursorMismatch(parameter);
    const dot = cursor.indexOf('.');
    if (dot <= 0 || cursor.length > 1024) throw invalid();
    const payload = cursor.slice(0, dot);
    const signature = Buffer.from(cursor.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.sign(payload), 'base64url');
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) throw invalid();
    try {
      return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as T;
    } catch {
      throw invalid();
    }
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.secret).update(payload).digest().subarray(0, 16).toString('base64url');
  }
}

/** Sends the same invalid-cursor answer when a signed cursor belongs to another query or group. */
export function cursorMismatch(parameter = 'cursor') {
  return validationError(
    `Query parameter '${parameter}' is not a cursor this query issued. Pass the nextCursor of the previous page unchanged, with the same filters, or omit '${parameter}' to start from the first page.`,
  );
}
