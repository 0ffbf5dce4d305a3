/**
 * The server side of the soak run, as its own process: the API (with webhooks and read-through)
 * and a worker for sends and sync jobs, on PostgreSQL (DATABASE_URL) or the embedded database
 * (SOAK_DATA_DIR), seeded with one account group. Started by soak.ts with an IPC channel: it
 * reports `ready` with what the load needs, answers `sample` with its memory after a full garbage
 * collection (run with --expose-gc), and stops cleanly on `stop`.
 */
import type { AddressInfo } from 'node:net';
import { systemClock } from '../../src/clock.js';
import { defaultConnectorRegistry } from '../../src/connectors/registry.js';
import { createAccountGroup } from '../../src/domain/accountGroups.js';
import { createApiKey } from '../../src/domain/apiKeys.js';
import { CursorCodec } from '../../src/domain/cursor.js';
import { insertProspect } from '../../src/domain/prospects.js';
import { serverSecret } from '../../src/domain/serverSecrets.js';
import { buildApp } from '../../src/http/app.js';
import type { Services } from '../../src/http/services.js';
import { jobHandlers } from '../../src/scheduler/handlers.js';
import { Worker } from '../../src/scheduler/worker.js';
import { migrate } from '../../src/storage/migrate.js';
import { openDatabase } from '../../src/storage/open.js';
import { connectAccount } from '../../src/sync/accounts.js';
import { backfillAccount } from '../../src/sync/backfill.js';
import { syncJobHandlers } from '../../src/sync/handlers.js';
import { createReadThrough } from '../../src/sync/readThrough.js';

export interface SoakFixture {
  url: string;
  groupId: string;
  key: string;
  accountId: string;
  webhookSecret: string;
  conversations: { id: string; providerId: string; participantProviderId: string; prospectId: string }[];
}

export interface MemorySample {
  heapUsed: number;
  rss: number;
  external: number;
  jobs: number;
}

const send = (message: unknown) => process.send?.(message);

const db = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: process.env.SOAK_DATA_DIR ?? '.soak', databasePoolSize: 10 });
await migrate(db);
const clock = systemClock;
const connectors = defaultConnectorRegistry(db, clock);
const ctx = { db, clock, connectors };

const groupId = (await createAccountGroup(db, 'Soak')).id;
const account = await connectAccount(db, clock, {
  accountGroupId: groupId,
  connector: 'sandbox',
  network: { seed: 4242, conversations: Number(process.env.SOAK_CONVERSATIONS ?? 40), messagesPerConversation: { min: 10, max: 40 }, replyEveryMs: 0 },
});
await db.query(`UPDATE connected_accounts SET pacing = '{"enabled":false}' WHERE id = $1`, [account.id]);
await backfillAccount(ctx, account.id);
await db.query(`DELETE FROM jobs WHERE kind IN ('sync_account', 'sync_poll')`);
const rows = await db.query<{ id: string; provider_id: string; participant_provider_id: string }>('SELECT id, provider_id, participant_provider_id FROM conversations WHERE account_id = $1 ORDER BY id', [account.id]);
const conversations: SoakFixture['conversations'] = [];
for (const [i, row] of rows.entries()) {
  await insertProspect(db, { accountGroupId: groupId, providerId: row.participant_provider_id, externalId: `soak-${i}`, name: `Soak prospect ${i}` });
  const [prospect] = await db.query<{ id: string }>('SELECT id FROM prospects WHERE account_group_id = $1 AND external_id = $2', [groupId, `soak-${i}`]);
  conversations.push({ id: row.id, providerId: row.provider_id, participantProviderId: row.participant_provider_id, prospectId: prospect!.id });
}
const key = (await createApiKey(db, { permissions: ['messages:read', 'messages:write', 'prospects:read'], accountGroupIds: [groupId] })).secret;

const services: Services = { db, cursors: new CursorCodec(await serverSecret(db, 'cursor_signing_key')), clock, connectors, readThrough: createReadThrough(ctx) };
const app = await buildApp(services, { logger: false });
await app.listen({ port: 0, host: '127.0.0.1' });
const worker = new Worker({
  db,
  clock,
  concurrency: 8,
  idlePollMs: 100,
  handlers: { ...jobHandlers({ db, clock, connectors, sendTimeoutMs: 10_000 }), ...syncJobHandlers(ctx, { pollIntervalMs: 60_000 }) },
  log: (level, message, fields) => {
    if (level === 'error') send({ type: 'error', message: `${message} ${JSON.stringify(fields ?? {})}` });
  },
});
worker.start();

const fixture: SoakFixture = {
  url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
  groupId,
  key,
  accountId: account.id,
  webhookSecret: account.webhookSecret,
  conversations,
};
send({ type: 'ready', fixture });

process.on('message', async (message: { type: string }) => {
  if (message.type === 'sample') {
    (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    const [{ n } = { n: 0 }] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs WHERE available_at <= now()');
    send({ type: 'sample', sample: { heapUsed: memory.heapUsed, rss: memory.rss, external: memory.external, jobs: n } satisfies MemorySample });
  }
  if (message.type === 'stop') {
    await worker.stop();
    await app.close();
    await db.close();
    send({ type: 'stopped' });
    process.exit(0);
  }
});
// The driver went away without saying stop: do not linger.
process.on('disconnect', () => process.exit(1));
