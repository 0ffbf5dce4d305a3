import { createHash } from 'node:crypto';
import type { Db, Queryable } from '../../storage/db.js';
import { ApiError } from '../errors.js';

/**
 * Idempotency-Key handling (reference notes 2.8; IETF draft-ietf-httpapi-idempotency-key-header).
 * Keys are scoped to the account group. The first request records the key `in_progress` in its own
 * short transaction, then does its work in a second transaction that also stores the outcome, so
 * the outcome, the resources it created and their jobs commit together. A retry with the same key
 * and body replays the outcome; another body is a conflict; a retry while the first is still
 * running is told so. A crashed first request leaves an in-progress record that a retry may take
 * over once its lock expires.
 */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
export const IDEMPOTENCY_LOCK_MS = 30_000;
export const IDEMPOTENCY_KEY_MAX = 255;

/** JSON with object keys sorted at every level: key order and whitespace do not change it. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return '{' + entries.map(([k, v]) => JSON.stringify(k) + ':' + canonicalJson(v)).join(',') + '}';
  }
  return JSON.stringify(value);
}

export function fingerprint(operation: string, body: unknown): string {
  return createHash('sha256').update(operation).update('\n').update(canonicalJson(body)).digest('hex');
}

/**
 * Accepts the draft's quoted sf-string form (`"abc"`) and the common bare form (`abc`); 1 to 255
 * printable ASCII characters.
 */
export function parseIdempotencyKey(raw: string | string[] | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) throw new ApiError('VALIDATION_ERROR', 'Send the Idempotency-Key header once.');
  const key = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX || !/^[\x21-\x7e]+$/.test(key)) {
    throw new ApiError(
      'VALIDATION_ERROR',
      `Header 'Idempotency-Key' must be 1 to ${IDEMPOTENCY_KEY_MAX} printable ASCII characters without spaces (a UUID works well).`,
    );
  }
  return key;
}

export interface StoredOutcome {
  status: number;
  /** The `data` (success) or `error` (failure) part of the envelope, as JSON text. */
  body: string;
}

export type IdempotencyClaim = { kind: 'new' } | { kind: 'replay'; outcome: StoredOutcome };

export interface IdempotencyScope {
  accountGroupId: string;
  key: string;
  operation: string;
  fingerprint: string;
}

export async function claimIdempotencyKey(db: Db, scope: IdempotencyScope, now: Date): Promise<IdempotencyClaim> {
  return db.transaction(async (tx) => {
    const lockedUntil = new Date(now.getTime() + IDEMPOTENCY_LOCK_MS).toISOString();
    const inserted = await tx.query(
      `INSERT INTO idempotency_keys (account_group_id, key, operation, fingerprint, status, locked_until, created_at, expires_at)
       VALUES ($1, $2, $3, $4, 'in_progress', $5, $6, $7) ON CONFLICT (account_group_id, key) DO NOTHING RETURNING key`,
      [scope.accountGroupId, scope.key, scope.operation, scope.fingerprint, lockedUntil, now.toISOString(), new Date(now.getTime() + IDEMPOTENCY_TTL_MS).toISOString()],
    );
    if (inserted.length > 0) return { kind: 'new' };
    const [existing] = await tx.query<{ fingerprint: string; status: string; locked_until: Date; expires_at: Date; response_status: number | null; response_body: string | null }>(
      `SELECT fingerprint, status, locked_until, expires_at, response_status, response_body
       FROM idempotency_keys WHERE account_group_id = $1 AND key = $2 FOR UPDATE`,
      [scope.accountGroupId, scope.key],
    );
    if (!existing) throw new ApiError('IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key was just completed or released; retry it.');
    const expired = new Date(existing.expires_at) <= now;
    const abandoned = existing.status === 'in_progress' && new Date(existing.locked_until) <= now;
    if (expired || abandoned) {
      await tx.query(
        `UPDATE idempotency_keys SET operation = $3, fingerprint = $4, status = 'in_progress', locked_until = $5, response_status = NULL,
           response_body = NULL, created_at = $6, expires_at = $7 WHERE account_group_id = $1 AND key = $2`,
        [scope.accountGroupId, scope.key, scope.operation, scope.fingerprint, lockedUntil, now.toISOString(), new Date(now.getTime() + IDEMPOTENCY_TTL_MS).toISOString()],
      );
      return { kind: 'new' };
    }
    if (existing.fingerprint !== scope.fingerprint) {
      throw new ApiError(
        'IDEMPOTENCY_CONFLICT',
        'This Idempotency-Key was already used with a different request body. Use a new key for a different request.',
        'Keys are scoped to the account group and kept for 24 hours.',
      );
    }
    if (existing.status === 'in_progress') {
      throw new ApiError(
        'IDEMPOTENCY_IN_PROGRESS',
        'A request with this Idempotency-Key is still being processed. Retry in a moment to get its result.',
        '',
        undefined,
        { 'Retry-After': '1' },
      );
    }
    return { kind: 'replay', outcome: { status: existing.response_status!, body: existing.response_body! } };
  });
}

/** Stores the outcome inside the caller's transaction, beside the resources it describes. */
export async function completeIdempotencyKey(tx: Queryable, scope: IdempotencyScope, outcome: StoredOutcome): Promise<void> {
  await tx.query(
    `UPDATE idempotency_keys SET status = 'completed', response_status = $3, response_body = $4 WHERE account_group_id = $1 AND key = $2`,
    [scope.accountGroupId, scope.key, outcome.status, outcome.body],
  );
}

/** Forgets an in-progress key whose request ended in an outcome not worth keeping (a retry may succeed). */
export async function releaseIdempotencyKey(db: Queryable, scope: IdempotencyScope): Promise<void> {
  await db.query(`DELETE FROM idempotency_keys WHERE account_group_id = $1 AND key = $2 AND status = 'in_progress'`, [scope.accountGroupId, scope.key]);
}

/** Deletes records past their retention. */
export async function reapIdempotencyKeys(db: Queryable, now: Date): Promise<number> {
  const rows = await db.query('DELETE FROM idempotency_keys WHERE expires_at <= $1 RETURNING key', [now.toISOString()]);
  return rows.length;
}
