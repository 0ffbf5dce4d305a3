import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createAccountGroup } from '../../src/domain/accountGroups.js';
import { createApiKey } from '../../src/domain/apiKeys.js';
import { addConnectedAccount } from '../../src/domain/connectedAccounts.js';
import { insertProspect } from '../../src/domain/prospects.js';
import { scheduleResponse } from '../../src/domain/responses/create.js';
import { newId } from '../../src/ids.js';
import { seededRandom } from '../../src/random.js';
import { upsertConversations } from '../../src/storage/bulk.js';
import type { Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { openPglite } from '../../src/storage/pglite.js';
import { backend, createTestDb, type TestDb, testDatabaseUrl } from '../helpers/testDb.js';

/**
 * A slow sandbox (300 ms per send, 8 in flight: at most ~27 sends/s) keeps the work going through
 * all the kills on a fast machine, and puts most kills inside a send call.
 *
 * Kills the process running the scheduler with SIGKILL at random moments while it delivers
 * replies through a sandbox that answers slowly (so many kills land inside the send call), then
 * lets a last process finish. Nothing may be lost, sent twice or stored twice.
 */
const REPLIES = 500;
const KILLS = 20;
const CLI = path.resolve('src/cli/main.ts');
const random = seededRandom(99);

async function seedReplies(db: Db): Promise<{ accountId: string; groupId: string; key: string }> {
  const group = await createAccountGroup(db, 'Crash');
  const account = await addConnectedAccount(db, { accountGroupId: group.id, accountType: 'linkedin', providerAccountId: 'ACoCrash' });
  await db.query(`UPDATE connected_accounts SET pacing = '{"enabled":false}', settings = '{"faults":{"latencyMs":300}}' WHERE id = $1`, [account.id]);
  const prospects: { id: string; providerId: string }[] = [];
  for (let i = 0; i < 50; i++) {
    const providerId = `ACoCrash${i}`;
    await insertProspect(db, { accountGroupId: group.id, providerId, externalId: providerId, name: `P${i}` });
    const [row] = await db.query<{ id: string }>('SELECT id FROM prospects WHERE external_id = $1', [providerId]);
    prospects.push({ id: row!.id, providerId });
  }
  await upsertConversations(
    db,
    prospects.map((p) => ({ id: newId(), accountGroupId: group.id, accountId: account.id, providerId: `conv-${p.providerId}`, name: null, participantProviderId: p.providerId, unreadCount: 0, lastMessageAt: null })),
  );
  await db.transaction(async (tx) => {
    for (let i = 0; i < REPLIES; i++) await scheduleResponse(tx, systemClock, group.id, { prospectId: prospects[i % prospects.length]!.id, message: `reply ${i}` });
  });
  const { secret } = await createApiKey(db, { permissions: ['messages:read'], accountGroupIds: [group.id] });
  return { accountId: account.id, groupId: group.id, key: secret };
}

function start(args: string[], env: Record<string, string>): { child: ChildProcess; ready: Promise<void>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', WORKER_LEASE_MS: '3000', SEND_TIMEOUT_MS: '1000', WORKER_CONCURRENCY: '8', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('worker started') || output.includes('listening on')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`exited early (${code}): ${output.slice(-2000)}`)));
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, ready, exit };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function terminalCount(db: Db): Promise<number> {
  const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM scheduled_responses WHERE status IN ('sent', 'failed', 'cancelled')`);
  return row!.n;
}

async function assertExactlyOnce(db: Db, accountId: string) {
  const statuses = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM scheduled_responses GROUP BY status');
  expect(statuses).toEqual([{ status: 'sent', n: REPLIES }]);
  const duplicates = await db.query('SELECT dedupe_id FROM sandbox_sends GROUP BY dedupe_id HAVING count(*) > 1');
  expect(duplicates).toEqual([]);
  const [sends] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM sandbox_sends WHERE account_id = $1', [accountId]);
  expect(sends!.n).toBe(REPLIES);
  const [stored] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE account_id = $1 AND is_sender', [accountId]);
  expect(stored!.n).toBe(REPLIES);
  const unlinked = await db.query(`SELECT r.id FROM scheduled_responses r LEFT JOIN messages m ON m.id = r.sent_message_id WHERE m.id IS NULL`);
  expect(unlinked).toEqual([]);
  expect(await db.query('SELECT id FROM jobs')).toEqual([]);
}

describe.skipIf(backend !== 'postgres')('worker crashes on PostgreSQL', () => {
  let testDb: TestDb;
  beforeAll(async () => {
    testDb = await createTestDb();
  });
  afterAll(() => testDb?.close());

  it(`${KILLS} SIGKILLs of worker processes during ${REPLIES} sends: 0 lost, 0 sent twice, then a clean SIGTERM`, { timeout: 300_000 }, async () => {
    const { accountId } = await seedReplies(testDb.db);
    const url = new URL(testDatabaseUrl());
    url.searchParams.set('options', `-c search_path=${testDb.schema}`);
    const env = { DATABASE_URL: url.toString() };
    let killsDuringWork = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const worker = start(['worker'], env);
      await worker.ready;
      await pause(50 + random() * 400);
      worker.child.kill('SIGKILL');
      await worker.exit;
      if ((await terminalCount(testDb.db)) < REPLIES) killsDuringWork++;
    }
    expect(killsDuringWork).toBe(KILLS);
    const last = start(['worker'], env);
    await last.ready;
    for (let waited = 0; waited < 240 && (await terminalCount(testDb.db)) < REPLIES; waited++) await pause(500);
    last.child.kill('SIGTERM');
    expect(await last.exit).toBe(0);
    await assertExactlyOnce(testDb.db, accountId);
  });
});

describe.skipIf(backend !== 'pglite')('server crashes on the embedded database', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'sonarly-crash-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it(`${KILLS} SIGKILLs of \`sonarly serve\` during ${REPLIES} sends: 0 lost, 0 sent twice`, { timeout: 900_000 }, async () => {
    const pgdata = path.join(dataDir, 'pgdata');
    let db = await openPglite(pgdata);
    await migrate(db);
    const seeded = await seedReplies(db);
    await db.close();
    const args = ['serve', '--port', '0', '--data-dir', dataDir, '--no-demo'];
    for (let kill = 0; kill < KILLS; kill++) {
      const server = start(args, {});
      await server.ready;
      await pause(50 + random() * 400);
      server.child.kill('SIGKILL');
      await server.exit;
    }
    const last = start(args, {});
    await last.ready;
    // The server owns the data directory, so progress is read through its API.
    const { url } = JSON.parse(await readFile(path.join(dataDir, 'owner.json'), 'utf8')) as { url: string };
    const pending = async () => {
      let open = 0;
      for (const status of ['queued', 'sending']) {
        const response = await fetch(`${url}/v1/accounts/${seeded.groupId}/messages/responses?status=${status}&limit=1`, { headers: { authorization: `Bearer ${seeded.key}` } });
        open += ((await response.json()) as { data: { items: unknown[] } }).data.items.length;
      }
      return open;
    };
    for (let waited = 0; waited < 240 && (await pending()) > 0; waited++) await pause(500);
    last.child.kill('SIGTERM');
    expect(await last.exit).toBe(0);
    db = await openPglite(pgdata);
    try {
      await assertExactlyOnce(db, seeded.accountId);
    } finally {
      await db.close();
    }
  });
});
