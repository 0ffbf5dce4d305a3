import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountGroup } from '../../src/domain/accountGroups.js';
import { addConnectedAccount } from '../../src/domain/connectedAccounts.js';
import { type ImportEvent, type ImportOptions, prepareImport } from '../../src/domain/imports/run.js';
import { upsertConversations } from '../../src/storage/bulk.js';
import { newId } from '../../src/ids.js';
import { type TestDb, createTestDb } from '../helpers/testDb.js';

let t: TestDb;
let groupA: string;
let groupB: string;
let accountA: string;

beforeAll(async () => {
  t = await createTestDb();
  groupA = (await createAccountGroup(t.db, 'A')).id;
  groupB = (await createAccountGroup(t.db, 'B')).id;
  accountA = (await addConnectedAccount(t.db, { accountGroupId: groupA, accountType: 'linkedin', providerAccountId: 'ACoAAshared' })).id;
  // The same LinkedIn account connected in a second group: naming it by provider id is ambiguous.
  await addConnectedAccount(t.db, { accountGroupId: groupB, accountType: 'linkedin', providerAccountId: 'ACoAAshared' });
  await addConnectedAccount(t.db, { accountGroupId: groupB, accountType: 'recruiter', providerAccountId: 'AEbOnly' });
});

afterAll(() => t?.close());

async function runImport(options: ImportOptions, text: string): Promise<{ rejected: { line: number; reason: string }[]; summary: Extract<ImportEvent, { type: 'summary' }> }> {
  const run = await prepareImport(t.db, options);
  const rejected: { line: number; reason: string }[] = [];
  let summary: Extract<ImportEvent, { type: 'summary' }> | undefined;
  for await (const event of run([Buffer.from(text)])) {
    if (event.type === 'rejected') rejected.push({ line: event.line, reason: event.reason });
    if (event.type === 'summary') summary = event;
  }
  return { rejected, summary: summary! };
}

const jsonl = (records: object[]) => records.map((record) => JSON.stringify(record)).join('\n') + '\n';

describe('message import', () => {
  const message = (id: string, extra: object = {}) => ({
    account: accountA,
    conversationProviderId: 'conv-1',
    providerMessageId: id,
    isSender: false,
    sentAt: '2026-04-28T15:30:00Z',
    ...extra,
  });

  it('resolves parents given before, after, in an earlier or a later batch, or a later import, and counts in-file duplicates', async () => {
    const text = jsonl([
      message('p-1'),
      message('p-3', { parentProviderMessageId: 'p-2' }), // parent later in the same batch
      message('p-2', { parentProviderMessageId: 'p-1' }),
      message('p-1'), // the same message twice in one file
      message('p-4', { parentProviderMessageId: 'p-3' }), // parent in an earlier batch (batch size 3)
      message('p-5', { parentProviderMessageId: 'p-7' }), // parent in a later batch
      message('p-6', { parentProviderMessageId: 'p-8' }), // parent in a later import
      message('p-7'),
    ]);
    const { rejected, summary } = await runImport({ kind: 'messages', format: 'jsonl', batchSize: 3 }, text);
    expect(rejected).toEqual([]);
    expect(summary).toMatchObject({ read: 8, imported: 7, duplicates: 1, rejected: 0 });
    await runImport({ kind: 'messages', format: 'jsonl', batchSize: 3 }, jsonl([message('p-8')]));
    const rows = await t.db.query<{ provider_message_id: string; id: string; parent_message_id: string | null }>(
      `SELECT provider_message_id, id, parent_message_id FROM messages WHERE account_id = $1 AND provider_message_id LIKE 'p-%' ORDER BY provider_message_id`,
      [accountA],
    );
    const ids = Object.fromEntries(rows.map((row) => [row.provider_message_id, row.id]));
    expect(Object.fromEntries(rows.map((row) => [row.provider_message_id, row.parent_message_id]))).toEqual({
      'p-1': null,
      'p-2': ids['p-1'],
      'p-3': ids['p-2'],
      'p-4': ids['p-3'],
      'p-5': ids['p-7'],
      'p-6': ids['p-8'],
      'p-7': null,
      'p-8': null,
    });

    const again = await runImport({ kind: 'messages', format: 'jsonl', batchSize: 3 }, text);
    expect(again.summary).toMatchObject({ read: 8, imported: 0, duplicates: 8, rejected: 0 });
  });

  it('names accounts by id or provider id, rejects ambiguous and unknown ones, and --group narrows', async () => {
    const text = jsonl([
      message('q-1', { account: 'ACoAAshared' }),
      message('q-2', { account: 'AEbOnly' }),
      message('q-3', { account: 'ACoAAnobody' }),
    ]);
    const open = await runImport({ kind: 'messages', format: 'jsonl' }, text);
    expect(open.rejected.map((r) => r.line)).toEqual([1, 3]);
    expect(open.rejected[0]!.reason).toMatch(/account ACoAAshared is connected in several account groups .*pass --group/);
    expect(open.rejected[1]!.reason).toMatch(/unknown account ACoAAnobody/);

    const narrowed = await runImport({ kind: 'messages', format: 'jsonl', accountGroupId: groupA }, text);
    // In group A the shared account is unique; AEbOnly belongs to group B only.
    expect(narrowed.rejected.map((r) => [r.line, r.reason.replace(/ \(.*/, '')])).toEqual([
      [2, `unknown account AEbOnly in account group ${groupA}`],
      [3, `unknown account ACoAAnobody in account group ${groupA}`],
    ]);
    expect(narrowed.summary).toMatchObject({ imported: 1 });
  });

  it('leaves the unread count of an existing conversation alone and moves last activity forward only', async () => {
    const conversationId = newId();
    await upsertConversations(t.db, [
      { id: conversationId, accountGroupId: groupA, accountId: accountA, providerId: 'conv-unread', name: 'Old name', participantProviderId: null, unreadCount: 4, lastMessageAt: '2026-05-01T00:00:00.000Z' },
    ]);
    await runImport({ kind: 'messages', format: 'jsonl' }, jsonl([message('u-1', { conversationProviderId: 'conv-unread', conversationName: 'New name' })]));
    const [row] = await t.db.query<{ unread_count: number; name: string; last: string }>(
      `SELECT unread_count, name, to_char(last_message_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS last FROM conversations WHERE id = $1`,
      [conversationId],
    );
    expect(row).toEqual({ unread_count: 4, name: 'New name', last: '2026-05-01' });
  });
});

describe('prospect import', () => {
  it('derives an external id from the content when none is given, so a re-run adds nothing', async () => {
    const text = jsonl([
      { providerId: 'ACoAAx', name: 'Ann', companyName: 'Globex' },
      { providerId: 'ACoAAx', name: 'Ann', companyName: 'Initech' }, // another record of the same person
      { providerId: 'ACoAAy', externalId: 'crm-1', linkedinUrl: 'https://www.linkedin.com/in/y' },
    ]);
    const first = await runImport({ kind: 'prospects', format: 'jsonl', accountGroupId: groupB }, text);
    expect(first.summary).toMatchObject({ read: 3, imported: 3, duplicates: 0, rejected: 0 });
    const second = await runImport({ kind: 'prospects', format: 'jsonl', accountGroupId: groupB }, text);
    expect(second.summary).toMatchObject({ read: 3, imported: 0, duplicates: 3, rejected: 0 });
    const persons = await t.db.query('SELECT provider_id FROM persons WHERE account_group_id = $1 ORDER BY provider_id', [groupB]);
    expect(persons).toEqual([{ provider_id: 'ACoAAx' }, { provider_id: 'ACoAAy' }]);
  });

  it('rejects records naming another group than --group or an unknown one, and refuses an unknown --group', async () => {
    const text = jsonl([
      { accountGroupId: groupB, providerId: 'ACoAAz', externalId: 'z-1' },
      { accountGroupId: '0123456789abcdef01234567', providerId: 'ACoAAz', externalId: 'z-2' },
      { providerId: 'ACoAAz', externalId: 'z-3', linkedinUrl: 'not a url' },
    ]);
    const withGroup = await runImport({ kind: 'prospects', format: 'jsonl', accountGroupId: groupA }, text);
    expect(withGroup.rejected).toEqual([
      { line: 1, reason: `accountGroupId ${groupB} differs from --group ${groupA}` },
      { line: 2, reason: `accountGroupId 0123456789abcdef01234567 differs from --group ${groupA}` },
      { line: 3, reason: 'linkedinUrl must be an http(s) URL; got "not a url"' },
    ]);
    const without = await runImport({ kind: 'prospects', format: 'jsonl' }, text);
    expect(without.rejected).toEqual([
      { line: 2, reason: 'unknown account group 0123456789abcdef01234567' },
      { line: 3, reason: 'accountGroupId is required (or pass --group); linkedinUrl must be an http(s) URL; got "not a url"' },
    ]);
    await expect(prepareImport(t.db, { kind: 'prospects', format: 'jsonl', accountGroupId: 'nope' })).rejects.toThrow('Unknown account group nope.');
  });
});
