import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { newId } from '../ids.js';
import type { Queryable } from '../storage/db.js';
import type { Permission } from './permissions.js';

/**
 * Key format: `sk_live_` + 43 base62 characters (256 random bits) + 6 base62 characters of the
 * CRC32 of those. The checksum lets us reject a mistyped or made-up key without touching the
 * database, and lets secret scanners tell real keys from look-alikes.
 */
const PREFIX = 'sk_live_';
const BODY_LENGTH = 43;
const CHECKSUM_LENGTH = 6;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_REGEX = new RegExp(`^${PREFIX}[0-9A-Za-z]{${BODY_LENGTH + CHECKSUM_LENGTH}}$`);

function toBase62(value: bigint, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out = BASE62[Number(value % 62n)] + out;
    value /= 62n;
  }
  return out;
}

function checksum(body: string): string {
  return toBase62(BigInt(crc32(body)), CHECKSUM_LENGTH);
}

export function generateKeySecret(): string {
  const body = toBase62(BigInt('0x' + randomBytes(32).toString('hex')), BODY_LENGTH);
  return PREFIX + body + checksum(body);
}

/** True when the key has our shape and its checksum matches: cheap, no database. */
export function isWellFormedKey(secret: string): boolean {
  if (!KEY_REGEX.test(secret)) return false;
  const body = secret.slice(PREFIX.length, PREFIX.length + BODY_LENGTH);
  return secret.slice(PREFIX.length + BODY_LENGTH) === checksum(body);
}

export function hashKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  displayPrefix: string;
  permissions: Permission[];
  accountGroupIds: string[];
  createdAt: string;
  revokedAt: string | null;
}

export interface AuthenticatedKey {
  id: string;
  permissions: ReadonlySet<string>;
  accountGroupIds: ReadonlySet<string>;
}

export interface CreateKeyInput {
  name?: string;
  permissions: Permission[];
  accountGroupIds: string[];
}

export async function createApiKey(db: Queryable, input: CreateKeyInput): Promise<{ key: ApiKeyRecord; secret: string }> {
  const secret = generateKeySecret();
  const id = newId();
  const [row] = await db.query<KeyRow>(
    `INSERT INTO api_keys (id, name, display_prefix, key_hash, permissions, account_group_ids)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${KEY_COLUMNS}`,
    [id, input.name ?? '', secret.slice(0, PREFIX.length + 4), hashKey(secret), input.permissions, input.accountGroupIds],
  );
  return { key: toRecord(row!), secret };
}

const KEY_COLUMNS = `id, name, display_prefix, permissions, account_group_ids,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
  to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS revoked_at`;

interface KeyRow {
  id: string;
  name: string;
  display_prefix: string;
  permissions: Permission[];
  account_group_ids: string[];
  created_at: string;
  revoked_at: string | null;
}

function toRecord(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    displayPrefix: row.display_prefix,
    permissions: row.permissions,
    accountGroupIds: row.account_group_ids,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyRecord[]> {
  const rows = await db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`);
  return rows.map(toRecord);
}

/** Returns false when no key has that id or it was already revoked. */
export async function revokeApiKey(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id', [id]);
  return rows.length > 0;
}

/**
 * Resolves a presented secret to its key. No cache: a revoked key fails on its very next request,
 * on every process.
 */
export async function authenticateKey(db: Queryable, secret: string): Promise<AuthenticatedKey | null> {
  if (!isWellFormedKey(secret)) return null;
  const presentedHash = hashKey(secret);
  const [row] = await db.query<{ id: string; key_hash: string; permissions: string[]; account_group_ids: string[] }>(
    'SELECT id, key_hash, permissions, account_group_ids FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL',
    [presentedHash],
  );
  if (!row) return null;
  // The index lookup already matched; comparing the fixed-length digests again in constant time
  // keeps a timing difference in any later code path from revealing anything about the hash.
  if (!timingSafeEqual(Buffer.from(row.key_hash, 'hex'), Buffer.from(presentedHash, 'hex'))) return null;
  return { id: row.id, permissions: new Set(row.permissions), accountGroupIds: new Set(row.account_group_ids) };
}
