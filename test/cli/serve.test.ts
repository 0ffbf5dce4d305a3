import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDataDir } from '../../src/storage/dataDirLock.js';
import { backend } from '../helpers/testDb.js';
import { CliEnv, type RunningServer, collect, jsonLines, startServer, waitForOutput } from './cliHarness.js';

let cli: CliEnv;
let groupId: string;
let server: RunningServer | undefined;

beforeAll(async () => {
  cli = await CliEnv.create();
  groupId = (JSON.parse((await cli.run(['groups', 'create', 'Acme', '--json'])).stdout) as { id: string }).id;
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await cli?.close();
});

async function api(url: string, key: string): Promise<{ status: number; body: { success: boolean; data: unknown; error: { code: string } | null } }> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  return { status: response.status, body: (await response.json()) as never };
}

describe('admin commands while `sonarly serve` runs on the same database', { timeout: 600_000 }, () => {
  it('go through the server (embedded) or straight to PostgreSQL, and the server keeps answering', async () => {
    server = await startServer(cli);
    if (cli.embedded) {
      const owner = JSON.parse(await readFile(path.join(cli.dataDir, 'owner.json'), 'utf8')) as { kind: string; url: string; adminToken: string };
      expect(owner).toMatchObject({ kind: 'server', url: server.url, adminUrl: expect.any(String), adminToken: expect.stringMatching(/^[0-9a-f]{48}$/) });
    }

    const account = await cli.run(['accounts', 'add', '--group', groupId, '--type', 'linkedin', '--provider-account-id', 'ACoAAavery', '--json']);
    expect(account).toMatchObject({ code: 0, stderr: '' });
    const created = await cli.run(['keys', 'create', '--group', groupId, '--permissions', 'messages:read', '--json']);
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; secret: string };

    const accounts = await api(`${server.url}/v1/accounts`, key.secret);
    expect(accounts.status).toBe(200);
    expect(accounts.body.data).toMatchObject({ items: [{ id: groupId, name: 'Acme' }] });

    // An import streamed through the server: bad lines come back by number, progress ends in a summary.
    const lines = Array.from({ length: 5000 }, (_, i) =>
      i === 1200
        ? '{"broken": '
        : JSON.stringify({ account: 'ACoAAavery', conversationProviderId: `c-${i % 7}`, providerMessageId: `m-${i}`, isSender: i % 2 === 0, sentAt: new Date(Date.UTC(2026, 3, 1) + i * 60_000).toISOString() }),
    );
    const source = path.join(cli.dataDir, 'history.jsonl');
    await writeFile(source, lines.join('\n') + '\n');
    const importing = cli.spawn(['import', 'messages', source, '--json']);
    importing.stdin!.end();
    const imported = collect(importing);
    // The rejection is reported after the second of five batches: the API answers mid-import.
    await waitForOutput(importing.stdout!, /"type":"rejected"/);
    expect((await api(`${server.url}/v1/accounts`, key.secret)).status).toBe(200);
    const result = await imported;
    expect(result.code).toBe(3);
    expect(jsonLines(result.stdout)).toEqual([
      { type: 'rejected', line: 1201, reason: expect.stringMatching(/^not valid JSON/) },
      { type: 'summary', interrupted: false, read: 5000, imported: 4999, duplicates: 0, rejected: 1, bytes: expect.any(Number) },
    ]);
    const rerun = await cli.run(['import', 'messages', source]);
    expect(rerun.stdout).toContain('Read 5000 records: 0 imported, 4999 skipped as duplicates, 1 rejected.');

    const page = await api(`${server.url}/v1/accounts/${groupId}/messages?limit=3`, key.secret);
    expect(page.status).toBe(200);
    expect((page.body.data as { items: { sentAt: string }[] }).items.map((m) => m.sentAt)).toEqual([
      new Date(Date.UTC(2026, 3, 1) + 4999 * 60_000).toISOString(),
      new Date(Date.UTC(2026, 3, 1) + 4998 * 60_000).toISOString(),
      new Date(Date.UTC(2026, 3, 1) + 4997 * 60_000).toISOString(),
    ]);

    // A revoked key is refused on its very next request.
    expect((await cli.run(['keys', 'revoke', key.id])).stdout).toBe(`Revoked API key ${key.id}.\n`);
    const refused = await api(`${server.url}/v1/accounts`, key.secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error!.code).toBe('UNAUTHORIZED');

    // Same output through the server as straight from the database.
    const throughServer = await cli.run(['keys', 'list', '--json']);
    expect((await fetch(`${server.url}/v1/openapi.json`)).status).toBe(200);
    const stopped = await server.stop();
    server = undefined;
    expect(stopped.code).toBe(0);
    const direct = await cli.run(['keys', 'list', '--json']);
    expect(direct.stdout).toBe(throughServer.stdout);
    expect(JSON.parse(direct.stdout)).toEqual([expect.objectContaining({ id: key.id, revokedAt: expect.any(String) })]);
  });

  it('keeps the admin endpoint off the API listener and closed without the token', async () => {
    server = await startServer(cli);
    try {
      const document = await (await fetch(`${server.url}/v1/openapi.json`)).text();
      expect(document).not.toContain('/internal/');
      const adminCall = (base: string, token: string) =>
        fetch(`${base}/internal/admin/groups/list`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sonarly-admin-token': token }, body: '{}' });
      expect((await adminCall(server.url, 'guess')).status).toBe(404);
      if (cli.embedded) {
        const owner = JSON.parse(await readFile(path.join(cli.dataDir, 'owner.json'), 'utf8')) as { adminUrl: string; adminToken: string };
        expect(owner.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        const denied = await adminCall(owner.adminUrl, owner.adminToken.replace(/.$/, (c) => (c === '0' ? '1' : '0')));
        expect(denied.status).toBe(401);
        expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
        const allowed = await adminCall(owner.adminUrl, owner.adminToken);
        expect(((await allowed.json()) as { data: { id: string }[] }).data).toEqual([expect.objectContaining({ id: groupId })]);
      }
    } finally {
      await server.stop();
      server = undefined;
    }
  });
});

// PostgreSQL takes many clients: there is no lock to wait for.
describe.runIf(backend === 'pglite')('while another CLI command holds the embedded database', { timeout: 300_000 }, () => {
  it('waits for it to finish, then runs', async () => {
    const lock = await acquireDataDir(cli.dataDir, 'cli');
    const child = cli.spawn(['groups', 'list', '--json'], { env: { SONARLY_LOCK_WAIT_MS: '600000' } });
    child.stdin!.end();
    const done = collect(child);
    await waitForOutput(child.stderr!, new RegExp(`in use by another sonarly command \\(pid ${process.pid}\\); waiting up to 600 s`));
    await lock.release();
    const result = await done;
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([expect.objectContaining({ id: groupId })]);
  });

  it('gives up after the wait with a message naming the holder', async () => {
    const lock = await acquireDataDir(cli.dataDir, 'cli');
    try {
      const result = await cli.run(['groups', 'list'], { env: { SONARLY_LOCK_WAIT_MS: '0' } });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(`sonarly: ${cli.dataDir} is in use by another sonarly command (pid ${process.pid}); gave up after waiting 0 s.`);
    } finally {
      await lock.release();
    }
  });
});
