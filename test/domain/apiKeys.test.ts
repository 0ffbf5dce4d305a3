import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticateKey, createApiKey, generateKeySecret, hashKey, isWellFormedKey, listApiKeys, revokeApiKey } from '../../src/domain/apiKeys.js';
import { type TestDb, createTestDb } from '../helpers/testDb.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PREFIX = 'sk_live_';
const DISPLAY_PREFIX_LENGTH = PREFIX.length + 4;

describe('key format', () => {
  it('generates keys of the documented shape that validate', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const key = generateKeySecret();
      expect(key).toMatch(/^sk_live_[0-9A-Za-z]{49}$/);
      expect(isWellFormedKey(key)).toBe(true);
      keys.add(key);
    }
    expect(keys.size).toBe(1000);
  });

  it('rejects every one-character substitution, deletion and insertion (checksum and shape)', () => {
    let mutations = 0;
    for (let k = 0; k < 200; k++) {
      const key = generateKeySecret();
      for (let i = 0; i < key.length; i++) {
        for (const c of BASE62 + '_- ') {
          if (c === key[i]) continue;
          const substituted = key.slice(0, i) + c + key.slice(i + 1);
          if (isWellFormedKey(substituted)) throw new Error(`accepted ${substituted} (from ${key}, position ${i})`);
          mutations++;
        }
        if (isWellFormedKey(key.slice(0, i) + key.slice(i + 1))) throw new Error(`accepted ${key} without position ${i}`);
        if (isWellFormedKey(key.slice(0, i) + 'x' + key.slice(i))) throw new Error(`accepted ${key} with an insertion at ${i}`);
      }
    }
    expect(mutations).toBeGreaterThan(200 * 57 * 60);
  });

  it('rejects swapped adjacent characters in the secret part', () => {
    for (let k = 0; k < 200; k++) {
      const key = generateKeySecret();
      for (let i = PREFIX.length; i < key.length - 1; i++) {
        if (key[i] === key[i + 1]) continue;
        const swapped = key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2);
        if (isWellFormedKey(swapped)) throw new Error(`accepted ${swapped} (from ${key}, swap at ${i})`);
      }
    }
  });

  it.each(['', 'sk_live_', 'sk_live_your_api_key_here', `sk_test_${generateKeySecret().slice(PREFIX.length)}`, ` ${generateKeySecret()}`, `${generateKeySecret()}\n`, generateKeySecret().toUpperCase()])(
    'rejects %j',
    (key) => {
      expect(isWellFormedKey(key)).toBe(false);
    },
  );

  it('hashes with SHA-256', () => {
    const key = generateKeySecret();
    expect(hashKey(key)).toBe(createHash('sha256').update(key).digest('hex'));
  });
});

describe('stored keys', () => {
  let testDb: TestDb;
  let groupId: string;

  beforeAll(async () => {
    testDb = await createTestDb();
    groupId = '507f1f77bcf86cd799439011';
  });

  afterAll(() => testDb?.close());

  it('keep only the SHA-256 hash and a short display prefix: no plaintext anywhere in the table', async () => {
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) => createApiKey(testDb.db, { name: `key ${i}`, permissions: ['messages:read'], accountGroupIds: [groupId] })),
    );
    const rows = await testDb.db.query<Record<string, unknown>>('SELECT * FROM api_keys');
    const table = JSON.stringify(rows);
    for (const { key, secret } of created) {
      const row = rows.find((r) => r.id === key.id)!;
      expect(row.key_hash).toBe(createHash('sha256').update(secret).digest('hex'));
      expect(row.display_prefix).toBe(secret.slice(0, DISPLAY_PREFIX_LENGTH));
      expect(key.displayPrefix).toBe(secret.slice(0, DISPLAY_PREFIX_LENGTH));
      // No 8-character window of the hidden part of the secret is stored in any column.
      for (let i = DISPLAY_PREFIX_LENGTH; i + 8 <= secret.length; i++) expect(table).not.toContain(secret.slice(i, i + 8));
      // The record returned to the caller carries neither the secret nor its hash.
      expect(JSON.stringify(key)).not.toContain(secret.slice(DISPLAY_PREFIX_LENGTH));
      expect(JSON.stringify(key)).not.toContain(row.key_hash as string);
    }
    const listed = JSON.stringify(await listApiKeys(testDb.db));
    for (const { secret } of created) {
      expect(listed).not.toContain(secret.slice(DISPLAY_PREFIX_LENGTH));
      expect(listed).not.toContain(hashKey(secret));
    }
  });

  it('authenticate to their permissions and groups', async () => {
    const { key, secret } = await createApiKey(testDb.db, { permissions: ['messages:read', 'prospects:read'], accountGroupIds: [groupId] });
    const authenticated = await authenticateKey(testDb.db, secret);
    expect(authenticated?.id).toBe(key.id);
    expect([...authenticated!.permissions].sort()).toEqual(['messages:read', 'prospects:read']);
    expect([...authenticated!.accountGroupIds]).toEqual([groupId]);
  });

  it('do not authenticate when unknown, mistyped or revoked', async () => {
    expect(await authenticateKey(testDb.db, generateKeySecret())).toBeNull();
    expect(await authenticateKey(testDb.db, 'sk_live_nonsense')).toBeNull();
    const { key, secret } = await createApiKey(testDb.db, { permissions: ['messages:read'], accountGroupIds: [groupId] });
    const mistyped = secret.slice(0, 20) + (secret[20] === 'a' ? 'b' : 'a') + secret.slice(21);
    expect(await authenticateKey(testDb.db, mistyped)).toBeNull();
    expect(await authenticateKey(testDb.db, secret)).not.toBeNull();
    expect(await revokeApiKey(testDb.db, key.id)).toBe(true);
    expect(await authenticateKey(testDb.db, secret)).toBeNull();
    // Revoking twice, or an unknown id, reports that nothing changed.
    expect(await revokeApiKey(testDb.db, key.id)).toBe(false);
    expect(await revokeApiKey(testDb.db, '507f1f77bcf86cd799439099')).toBe(false);
    const [listed] = (await listApiKeys(testDb.db)).filter((k) => k.id === key.id);
    expect(listed?.revokedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('revoking one key leaves the others working', async () => {
    const a = await createApiKey(testDb.db, { permissions: ['messages:read'], accountGroupIds: [groupId] });
    const b = await createApiKey(testDb.db, { permissions: ['messages:read'], accountGroupIds: [groupId] });
    await revokeApiKey(testDb.db, a.key.id);
    expect(await authenticateKey(testDb.db, a.secret)).toBeNull();
    expect((await authenticateKey(testDb.db, b.secret))?.id).toBe(b.key.id);
  });
});
