import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxNetworkOf } from '../../src/connectors/sandbox/connector.js';
import { insertProspect } from '../../src/domain/prospects.js';
import { scheduleResponse } from '../../src/domain/responses/create.js';
import { jobHandlers } from '../../src/scheduler/handlers.js';
import { Worker } from '../../src/scheduler/worker.js';
import { syncJobHandlers } from '../../src/sync/handlers.js';
import { SYNC_POLL_JOB } from '../../src/sync/jobs.js';
import { type SyncAccount, getSyncState } from '../../src/sync/state.js';
import { compare, providerMessages, sandboxAccount, storedMessages, syncFixture, type SyncFixture } from './helpers.js';

let f: SyncFixture;
let worker: Worker;

async function drain(): Promise<void> {
  for (let i = 0; i < 200; i++) if ((await worker.runOnce()) === 0) return;
  throw new Error('jobs keep coming');
}

async function expectInSync(account: SyncAccount) {
  const provider = await providerMessages(f.connectors.forAccount(account));
  expect(compare(provider, await storedMessages(f.testDb.db, account.id))).toEqual({ providerDuplicates: 0, duplicates: 0, missing: [], extra: [] });
  return provider;
}

const status = async (account: SyncAccount) => (await f.testDb.db.query<{ status: string }>('SELECT status FROM connected_accounts WHERE id = $1', [account.id]))[0]!.status;
const setFaults = (account: SyncAccount, faults: Record<string, number>) =>
  f.testDb.db.query(`UPDATE connected_accounts SET settings = jsonb_set(settings, '{faults}', $2::jsonb) WHERE id = $1`, [account.id, JSON.stringify(faults)]);

beforeAll(async () => {
  f = await syncFixture();
  const handlers = {
    ...jobHandlers({ db: f.testDb.db, clock: f.clock, connectors: f.connectors, random: () => 0.5, sendTimeoutMs: 5_000 }),
    ...syncJobHandlers(f.ctx, { pollIntervalMs: 30_000, random: () => 0.5 }),
  };
  worker = new Worker({ db: f.testDb.db, clock: f.clock, handlers, concurrency: 4 });
});
afterAll(() => f?.close());

const live = { conversations: 8, replyEveryMs: 60_000, replyingShare: 0.5, replyToSendsRate: 1, replyDelayMs: { min: 1_000, max: 1_000 } };

describe('after the backfill', () => {
  let a: SyncAccount;
  let b: SyncAccount;
  let prospectId: string;

  it('connecting queues the backfill; the worker runs it and then polls on its own', async () => {
    a = await sandboxAccount(f, { ...live, seed: 31 });
    b = await sandboxAccount(f, { ...live, seed: 32 });
    await f.testDb.db.query(`UPDATE connected_accounts SET pacing = '{"enabled": false}'`);
    await drain();
    for (const account of [a, b]) {
      expect((await getSyncState(f.testDb.db, account.id))!.backfillStatus).toBe('completed');
      const { n } = (await f.testDb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE kind = $1 AND payload->>'accountId' = $2`, [SYNC_POLL_JOB, account.id]))[0]!;
      expect(n).toBe(1);
      await expectInSync(account);
    }
  });

  it('new prospect replies arrive by polling', async () => {
    const before = (await storedMessages(f.testDb.db, a.id)).length;
    f.clock.advance(10 * 60_000);
    await drain();
    const provider = await expectInSync(a);
    expect(provider.length).toBeGreaterThan(before);
    await expectInSync(b);
  });

  it("the scheduler's reply reaches the sandbox's LinkedIn once, is stored once, and the prospect's answer arrives", async () => {
    const network = sandboxNetworkOf(a);
    const person = network.person(0);
    await insertProspect(f.testDb.db, { accountGroupId: f.groupId, providerId: person.providerId, externalId: 'crm-a0', name: person.name });
    prospectId = (await f.testDb.db.query<{ id: string }>('SELECT id FROM prospects WHERE external_id = $1', ['crm-a0']))[0]!.id;
    const [conversation] = await f.testDb.db.query<{ id: string }>('SELECT id FROM conversations WHERE account_id = $1 AND provider_id = $2', [a.id, network.conversationProviderId(0)]);
    await f.testDb.db.transaction((tx) => scheduleResponse(tx, f.clock, f.groupId, { prospectId, message: 'Happy to help: how about Thursday?', conversationId: conversation!.id }));
    await drain();
    const sends = await f.testDb.db.query<{ provider_message_id: string }>('SELECT provider_message_id FROM sandbox_sends WHERE account_id = $1', [a.id]);
    expect(sends).toHaveLength(1);
    f.clock.advance(60_000);
    await drain();
    const stored = await storedMessages(f.testDb.db, a.id);
    expect(stored.filter((m) => m.provider_message_id === sends[0]!.provider_message_id)).toHaveLength(1);
    const answer = stored.find((m) => m.provider_message_id === `${sends[0]!.provider_message_id}-reply`);
    expect(answer).toBeDefined();
    expect(answer!.parent_message_id).not.toBeNull();
    await expectInSync(a);
    const [row] = await f.testDb.db.query<{ unread_count: number }>('SELECT unread_count FROM conversations WHERE id = $1', [conversation!.id]);
    const [listed] = (await f.connectors.forAccount(a).listConversations(null)).items.filter((c) => c.providerId === network.conversationProviderId(0));
    expect(row!.unread_count).toBe(listed!.unreadCount);
  });

  it('transient failures and rate limits are retried later without losing anything', async () => {
    await setFaults(b, { errorRate: 1 });
    f.clock.advance(60_000);
    await drain();
    const failing = await getSyncState(f.testDb.db, b.id);
    expect(failing!.lastError).toMatch(/503/);
    const [job] = await f.testDb.db.query<{ attempts: number; available_at: Date }>(`SELECT attempts, available_at FROM jobs WHERE kind = $1 AND payload->>'accountId' = $2`, [SYNC_POLL_JOB, b.id]);
    expect(job!.attempts).toBe(1);
    await setFaults(b, { rateLimitRate: 1 });
    f.clock.advance(10 * 60_000);
    await drain();
    const [limited] = await f.testDb.db.query<{ available_at: Date }>(`SELECT available_at FROM jobs WHERE kind = $1 AND payload->>'accountId' = $2`, [SYNC_POLL_JOB, b.id]);
    expect(new Date(limited!.available_at).getTime()).toBe(f.clock.now().getTime() + 60_000);
    await setFaults(b, {});
    f.clock.advance(60_000);
    await drain();
    expect((await getSyncState(f.testDb.db, b.id))!.lastError).toBeNull();
    await expectInSync(b);
  });

  it('auth expiry: the account turns disconnected, its queued reply waits, the other account continues', async () => {
    await f.testDb.db.transaction((tx) => scheduleResponse(tx, f.clock, f.groupId, { prospectId, message: 'One more thing.' }));
    await setFaults(a, { authExpiredRate: 1 });
    f.clock.advance(60_000);
    await drain();
    expect(await status(a)).toBe('disconnected');
    expect(await status(b)).toBe('connected');
    const [reply] = await f.testDb.db.query<{ status: string }>(`SELECT status FROM scheduled_responses WHERE message = 'One more thing.'`);
    expect(reply!.status).toBe('queued');
    const [pollA] = await f.testDb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE kind = $1 AND payload->>'accountId' = $2`, [SYNC_POLL_JOB, a.id]);
    expect(pollA!.n).toBe(0);
    expect((await getSyncState(f.testDb.db, a.id))!.lastError).toMatch(/session expired/);
    expect(await f.testDb.db.query('SELECT 1 FROM sandbox_sends WHERE text = $1', ['One more thing.'])).toEqual([]);

    f.clock.advance(5 * 60_000);
    await drain();
    await expectInSync(b);
  });
});
