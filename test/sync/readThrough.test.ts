import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxNetworkOf } from '../../src/connectors/sandbox/connector.js';
import type { ProviderEvent } from '../../src/connectors/types.js';
import { backfillAccount } from '../../src/sync/backfill.js';
import { applyEvents } from '../../src/sync/incremental.js';
import type { SyncAccount } from '../../src/sync/state.js';
import { syncApp } from './app.js';
import { sandboxAccount, syncFixture, type SyncFixture } from './helpers.js';

let f: SyncFixture;
let api: Awaited<ReturnType<typeof syncApp>>;

beforeAll(async () => {
  f = await syncFixture();
  api = await syncApp(f, { readThroughTimeoutMs: 300 });
});
afterAll(async () => {
  await api?.app.close();
  await f?.close();
});

/**
 * A conversation first seen through a webhook: its newest message is stored, its older history is
 * not (the state read-through exists for). Returns our conversation id.
 */
async function conversationSeenByEvent(account: SyncAccount, index: number): Promise<{ id: string; providerId: string; history: number }> {
  const network = sandboxNetworkOf(account);
  const history = network.history(index);
  const newest = history[0]!;
  const { t: _t, ...message } = newest;
  const event: ProviderEvent = { type: 'message', eventId: 'e1', occurredAt: newest.sentAt, conversation: { providerId: newest.conversationProviderId, name: network.person(index).name, participant: network.person(index) }, message };
  await applyEvents(f.ctx, account.id, [event]);
  const [row] = await f.testDb.db.query<{ id: string; history_complete: boolean }>('SELECT id, history_complete FROM conversations WHERE account_id = $1 AND provider_id = $2', [account.id, newest.conversationProviderId]);
  expect(row!.history_complete).toBe(false);
  return { id: row!.id, providerId: newest.conversationProviderId, history: history.length };
}

const setFaults = (account: SyncAccount, faults: Record<string, number>) =>
  f.testDb.db.query(`UPDATE connected_accounts SET settings = jsonb_set(settings, '{faults}', $2::jsonb) WHERE id = $1`, [account.id, JSON.stringify(faults)]);

describe('GET /messages?conversationId= for a conversation whose history is not complete', () => {
  it('fetches the older history from the connector first, then lists it; the next request reads the database only', async () => {
    const account = await sandboxAccount(f, { seed: 21, conversations: 4, messagesPerConversation: { min: 30, max: 30 }, pageSize: 7 });
    const conversation = await conversationSeenByEvent(account, 2);
    const first = await api.messages(conversation.id, 100);
    expect(first.status).toBe(200);
    expect(first.body.data!.items).toHaveLength(conversation.history);
    const [row] = await f.testDb.db.query<{ history_complete: boolean; history_cursor: string | null }>('SELECT history_complete, history_cursor FROM conversations WHERE id = $1', [conversation.id]);
    expect(row).toEqual({ history_complete: true, history_cursor: null });
    // LinkedIn now fails every call: the complete conversation does not need it.
    await setFaults(account, { errorRate: 1 });
    const again = await api.messages(conversation.id, 100);
    expect(again.status).toBe(200);
    expect(again.body.data!.items.map((m) => m.id)).toEqual(first.body.data!.items.map((m) => m.id));
  });

  const failures: [string, Record<string, number>, RegExp][] = [
    ['a 5xx', { errorRate: 1 }, /failed to return this conversation's older messages/],
    ['a timeout', { timeoutRate: 1 }, /did not return this conversation's older messages within/],
    ['a call that hangs past the bound', { latencyMs: 600_000 }, /within 0.3 s/],
    ['a 429', { rateLimitRate: 1 }, /rate limiting this account/],
  ];
  it.each(failures)('answers 502 UPSTREAM_ERROR within its bound on %s, sanitised; other requests are unaffected', async (_name, faults, message) => {
    const account = await sandboxAccount(f, { seed: 22, conversations: 3 });
    await backfillAccount(f.ctx, account.id);
    const complete = (await f.testDb.db.query<{ id: string }>('SELECT id FROM conversations WHERE account_id = $1 LIMIT 1', [account.id]))[0]!.id;
    const other = await sandboxAccount(f, { seed: 23, conversations: 3 });
    const incomplete = await conversationSeenByEvent(other, 1);
    await setFaults(other, faults);

    const failed = await api.messages(incomplete.id);
    expect(failed.status).toBe(502);
    expect(failed.body).toMatchObject({ success: false, data: null, error: { code: 'UPSTREAM_ERROR' } });
    expect(failed.body.error!.message).toMatch(message);
    // Never the provider's own words (the sandbox says "LinkedIn answered 503", "429", "Sandbox: …").
    expect(JSON.stringify(failed.body)).not.toMatch(/Sandbox|answered|503|429/);

    expect((await api.messages(complete)).status).toBe(200);
    const groupWide = await api.messages();
    expect(groupWide.status).toBe(200);
    expect(groupWide.body.data!.items.length).toBeGreaterThan(0);
  });

  it('an expired session: 502, and the account turns disconnected; its other conversations still list', async () => {
    const account = await sandboxAccount(f, { seed: 24, conversations: 3 });
    const conversation = await conversationSeenByEvent(account, 0);
    await setFaults(account, { authExpiredRate: 1 });
    const failed = await api.messages(conversation.id);
    expect(failed.status).toBe(502);
    expect(failed.body.error!.message).toMatch(/session of this conversation's account has expired/);
    const [row] = await f.testDb.db.query<{ status: string }>('SELECT status FROM connected_accounts WHERE id = $1', [account.id]);
    expect(row!.status).toBe('disconnected');
    const again = await api.messages(conversation.id);
    expect(again.status).toBe(502);
    expect(again.body.error!.message).toMatch(/is disconnected/);
  });
});
