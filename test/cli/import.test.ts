import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliEnv, jsonLines } from './cliHarness.js';

let cli: CliEnv;
let groupId: string;
let accountId: string;

beforeAll(async () => {
  cli = await CliEnv.create();
  groupId = (JSON.parse((await cli.run(['groups', 'create', 'Acme', '--json'])).stdout) as { id: string }).id;
  const added = await cli.run(['accounts', 'add', '--group', groupId, '--type', 'linkedin', '--provider-account-id', 'ACoAAavery', '--json']);
  accountId = (JSON.parse(added.stdout) as { id: string }).id;
}, 300_000);

afterAll(() => cli?.close());

async function file(name: string, content: string): Promise<string> {
  const target = path.join(cli.dataDir, name);
  await writeFile(target, content);
  return target;
}

/** Lines 3, 5, 6 and 7 are bad; line 4 is blank (skipped, not counted). */
const messagesJsonl = () =>
  [
    { account: 'ACoAAavery', conversationProviderId: 'c-1', conversationName: 'Jo Lee', participantProviderId: 'ACoAAjo', providerMessageId: 'm-1', senderProviderId: 'ACoAAavery', isSender: true, text: 'Hi Jo', sentAt: '2026-04-28T15:30:00.123456Z' },
    { account: 'ACoAAavery', conversationProviderId: 'c-1', providerMessageId: 'm-2', senderProviderId: 'ACoAAjo', isSender: false, text: 'Hello!', sentAt: '2026-04-28T17:31:00+02:00', parentProviderMessageId: 'm-1', attachments: [{ type: 'img', url: 'https://example.com/a.png' }] },
    { account: 'ACoAAavery', conversationProviderId: 'c-1', providerMessageId: 'm-3', isSender: false, sentAt: '28/04/2026 15:30' },
    null,
    'this is not json',
    { conversationProviderId: 'c-2', providerMessageId: 'm-4', isSender: 'yes', sentAt: '2026-04-28T15:32:00Z' },
    { account: 'ACoAAnobody', conversationProviderId: 'c-2', providerMessageId: 'm-5', isSender: true, sentAt: '2026-04-28T15:33:00Z' },
    { account: accountId, conversationProviderId: 'c-2', providerMessageId: 'm-6', isSender: true, sentAt: '2026-04-28T15:34:00Z' },
  ]
    .map((record) => (record === null ? '' : typeof record === 'string' ? record : JSON.stringify(record)))
    .join('\n') + '\n';

describe('sonarly import', { timeout: 600_000 }, () => {
  it('imports JSONL messages, reports each bad line with its number, and a re-run imports nothing', async () => {
    const content = messagesJsonl();
    const source = await file('messages.jsonl', content);

    const first = await cli.run(['import', 'messages', source, '--json']);
    expect(first.code).toBe(3);
    const events = jsonLines(first.stdout) as { type: string; line?: number; reason?: string }[];
    expect(events.filter((e) => e.type === 'rejected').map((e) => [e.line, e.reason])).toEqual([
      [3, 'sentAt must be an ISO 8601 timestamp with a time zone, e.g. 2026-04-28T15:30:00.000Z; got "28/04/2026 15:30"'],
      [5, expect.stringMatching(/^not valid JSON/)],
      [6, 'account is required; isSender must be true or false; got "yes"'],
      [7, 'unknown account ACoAAnobody (record it first with `sonarly accounts add`)'],
    ]);
    expect(events.at(-1)).toEqual({ type: 'summary', interrupted: false, read: 7, imported: 3, duplicates: 0, rejected: 4, bytes: Buffer.byteLength(content) });

    const second = await cli.run(['import', 'messages', source]);
    expect(second.code).toBe(3);
    expect(second.stdout.split('\n').filter((line) => line.startsWith('line '))).toHaveLength(4);
    expect(second.stdout).toContain('line 7: unknown account ACoAAnobody');
    expect(second.stdout).toContain('Read 7 records: 0 imported, 3 skipped as duplicates, 4 rejected.\n');

    const runtime = await cli.openRuntime();
    try {
      const rows = await runtime.db.query<{ provider_message_id: string; sent_at: string; parent: string | null; attachments: unknown }>(
        `SELECT m.provider_message_id, to_char(m.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS sent_at, p.provider_message_id AS parent, m.attachments
         FROM messages m LEFT JOIN messages p ON p.id = m.parent_message_id WHERE m.account_group_id = $1 ORDER BY m.provider_message_id`,
        [groupId],
      );
      expect(rows).toEqual([
        { provider_message_id: 'm-1', sent_at: '2026-04-28T15:30:00.123Z', parent: null, attachments: [] },
        { provider_message_id: 'm-2', sent_at: '2026-04-28T15:31:00.000Z', parent: 'm-1', attachments: [{ type: 'img', url: 'https://example.com/a.png' }] },
        { provider_message_id: 'm-6', sent_at: '2026-04-28T15:34:00.000Z', parent: null, attachments: [] },
      ]);
    } finally {
      await runtime.close();
    }
  });

  it('imports CSV prospects with quoted fields, reports bad rows by line, and a re-run imports nothing', async () => {
    const csv = [
      'providerId,externalId,name,companyName,title,linkedinUrl',
      'ACoAAann,crm-1,Ann Lee,"Globex, Inc.",VP Sales,https://www.linkedin.com/in/ann',
      'ACoAAbo,crm-2,"Bo ""The Closer"" Ray",Initech,"Head of',
      'Growth",',
      ',crm-3,No Provider,Hooli,CTO,',
      'ACoAAcy,crm-4,Cy,Vandelay,Founder',
      'ACoAAdee,,Dee,Stark,CTO,ftp://example.com',
      'ACoAAeve,,Eve,Wayne,CTO,',
    ].join('\r\n');
    const source = await file('prospects.csv', csv);

    const first = await cli.run(['import', 'prospects', source, '--group', groupId]);
    expect(first.code).toBe(3);
    expect(first.stdout).toBe(
      [
        'line 5: providerId is required',
        'line 6: has 5 fields; the header has 6',
        'line 7: linkedinUrl must be an http(s) URL; got "ftp://example.com"',
        'Read 6 records: 3 imported, 0 skipped as duplicates, 3 rejected.',
        '',
      ].join('\n'),
    );
    const second = await cli.run(['import', 'prospects', source, '--group', groupId, '--json']);
    expect(jsonLines(second.stdout).at(-1)).toMatchObject({ type: 'summary', read: 6, imported: 0, duplicates: 3, rejected: 3 });

    const runtime = await cli.openRuntime();
    try {
      const rows = await runtime.db.query('SELECT external_id, name, company_name, title FROM prospects WHERE account_group_id = $1 ORDER BY name', [groupId]);
      expect(rows).toEqual([
        { external_id: 'crm-1', name: 'Ann Lee', company_name: 'Globex, Inc.', title: 'VP Sales' },
        { external_id: 'crm-2', name: 'Bo "The Closer" Ray', company_name: 'Initech', title: 'Head of\nGrowth' },
        { external_id: expect.stringMatching(/^derived:[0-9a-f]{32}$/), name: 'Eve', company_name: 'Wayne', title: 'CTO' },
      ]);
    } finally {
      await runtime.close();
    }
  });

  it('imports CSV messages with a JSON attachments cell, and exits 0 when nothing is rejected', async () => {
    const csv = [
      'account,conversationProviderId,providerMessageId,isSender,text,sentAt,attachments',
      `${accountId},c-9,csv-1,true,"Hello, ""world""",2026-04-29T10:00:00Z,"[{""type"":""file"",""fileName"":""deck.pdf""}]"`,
      `ACoAAavery,c-9,csv-2,false,,2026-04-29T10:01:00Z,`,
    ].join('\n');
    const result = await cli.run(['import', 'messages', await file('messages.csv', csv), '--json']);
    expect(result.code).toBe(0);
    expect(jsonLines(result.stdout)).toEqual([{ type: 'summary', interrupted: false, read: 2, imported: 2, duplicates: 0, rejected: 0, bytes: Buffer.byteLength(csv) }]);
  });

  it('fails clearly on an unreadable file, an unknown format, a bad header or an unknown group', async () => {
    const missing = await cli.run(['import', 'messages', path.join(cli.dataDir, 'nope.jsonl')]);
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringContaining('no such file') });
    const unknownFormat = await cli.run(['import', 'messages', await file('data.txt', '{}')]);
    expect(unknownFormat.stderr).toContain('pass --format jsonl or --format csv');
    const badHeader = await cli.run(['import', 'prospects', await file('bad.csv', 'providerId,fullName\nx,y\n'), '--group', groupId]);
    expect(badHeader).toMatchObject({ code: 2, stderr: expect.stringContaining("CSV header (line 1): unknown column 'fullName'.") });
    const badGroup = await cli.run(['import', 'prospects', '-', '--format', 'jsonl', '--group', '0123456789abcdef01234567'], { stdin: '{"providerId":"x"}\n' });
    expect(badGroup).toMatchObject({ code: 2, stderr: expect.stringContaining('Unknown account group 0123456789abcdef01234567.') });
  });
});
