import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxNetwork, type TimedMessage } from '../../src/connectors/sandbox/network.js';
import { sandboxNetworkOf } from '../../src/connectors/sandbox/connector.js';
import { type SandboxWebhookEvent, sandboxMessageEvent, signSandboxWebhook } from '../../src/connectors/sandbox/webhooks.js';
import { backfillAccount } from '../../src/sync/backfill.js';
import type { SyncAccount } from '../../src/sync/state.js';
import { syncApp } from './app.js';
import { T0, sandboxAccount, syncFixture, type SyncFixture } from './helpers.js';

let f: SyncFixture;
let api: Awaited<ReturnType<typeof syncApp>>;
let account: SyncAccount;
let network: SandboxNetwork;
let conversationId: string;

const secretOf = (a: SyncAccount) => a.settings.webhookSecret as string;

async function post(target: SyncAccount, events: SandboxWebhookEvent[], sign: (body: string) => string | undefined = (body) => signSandboxWebhook(secretOf(target), body), connector = 'sandbox') {
  const body = JSON.stringify({ events });
  const signature = sign(body);
  return api.app.inject({
    method: 'POST',
    url: `/v1/webhooks/${connector}/${target.id}`,
    headers: { 'content-type': 'application/json', ...(signature ? { 'x-sandbox-signature': signature } : {}) },
    payload: body,
  });
}

const jobCount = async () => (await f.testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs WHERE kind = $1', ['process_webhook_event']))[0]!.n;

function reply(index: number, minutesAfter: number, text: string): TimedMessage {
  const person = network.person(index);
  const t = T0 + minutesAfter * 60_000;
  return {
    t,
    providerMessageId: `${network.conversationProviderId(index)}-live-${minutesAfter}`,
    conversationProviderId: network.conversationProviderId(index),
    senderProviderId: person.providerId,
    isSender: false,
    text,
    sentAt: new Date(t).toISOString(),
    parentProviderMessageId: null,
    attachments: [],
  };
}

const event = (type: 'message.created' | 'message.edited' | 'message.deleted', message: TimedMessage, occurredAt = message.sentAt) =>
  sandboxMessageEvent(type, message, { name: network.person(0).name, participant: network.person(0) }, occurredAt);

beforeAll(async () => {
  f = await syncFixture();
  api = await syncApp(f);
  account = await sandboxAccount(f, { seed: 3, conversations: 5 });
  network = sandboxNetworkOf(account);
  await backfillAccount(f.ctx, account.id);
  await f.testDb.db.query('DELETE FROM jobs');
  conversationId = (await f.testDb.db.query<{ id: string }>('SELECT id FROM conversations WHERE provider_id = $1', [network.conversationProviderId(0)]))[0]!.id;
});
afterAll(async () => {
  await api?.app.close();
  await f?.close();
});

describe('POST /v1/webhooks/{connector}/{accountId}', () => {
  it('the same event delivered 3 times and out of order: stored once, listed in order by sentAt', async () => {
    const first = reply(0, 1, 'first reply');
    const second = reply(0, 2, 'second reply');
    const third = reply(0, 3, 'third reply');
    const { unread_count: unreadBefore } = (await f.testDb.db.query<{ unread_count: number }>('SELECT unread_count FROM conversations WHERE id = $1', [conversationId]))[0]!;
    for (const events of [[event('message.created', third)], [event('message.created', first)], [event('message.created', third)], [event('message.created', second), event('message.created', first)], [event('message.created', third)]]) {
      const response = await post(account, events);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ success: true, data: { accepted: events.length }, error: null });
    }
    expect(await jobCount()).toBe(5);
    expect(await api.drain()).toBe(5);
    const stored = await f.testDb.db.query<{ provider_message_id: string }>('SELECT provider_message_id FROM messages WHERE provider_message_id LIKE $1', [`%-live-%`]);
    expect(stored.map((r) => r.provider_message_id).sort()).toEqual([first, second, third].map((m) => m.providerMessageId).sort());
    const page = await api.messages(conversationId, 3);
    expect(page.status).toBe(200);
    expect(page.body.data!.items.map((m) => m.text)).toEqual(['third reply', 'second reply', 'first reply']);
    expect(page.body.data!.items[0]!.sentAt).toBe(third.sentAt);
    // Three new messages from the prospect: unread rises by three, whatever the redeliveries.
    expect(page.body.data!.items[0]!.unreadCount).toBe(unreadBefore + 3);
  });

  it('a bad or missing signature: 401, nothing stored, nothing queued', async () => {
    const message = reply(1, 10, 'forged');
    const cases: [string, () => Promise<{ statusCode: number; json(): unknown }>][] = [
      ['missing signature', () => post(account, [event('message.created', message)], () => undefined)],
      ['wrong secret', () => post(account, [event('message.created', message)], (body) => signSandboxWebhook('not-the-secret', body))],
      ['signature of another body', () => post(account, [event('message.created', message)], () => signSandboxWebhook(secretOf(account), '{"events":[]}'))],
      ['malformed signature', () => post(account, [event('message.created', message)], () => 'sha256=zz')],
      ['wrong connector in the path', () => post(account, [event('message.created', message)], undefined, 'unipile')],
      [
        'an account that does not exist',
        () =>
          api.app.inject({
            method: 'POST',
            url: '/v1/webhooks/sandbox/507f1f77bcf86cd799439011',
            headers: { 'content-type': 'application/json', 'x-sandbox-signature': signSandboxWebhook(secretOf(account), '{}') },
            payload: '{}',
          }),
      ],
      ['no body at all', () => api.app.inject({ method: 'POST', url: `/v1/webhooks/sandbox/${account.id}` })],
    ];
    const answers = [];
    for (const [name, send] of cases) {
      const response = await send();
      expect(response.statusCode, name).toBe(401);
      answers.push(response.json());
    }
    for (const answer of answers) expect(answer).toMatchObject({ success: false, data: null, error: { code: 'UNAUTHORIZED', message: (answers[0] as { error: { message: string } }).error.message } });
    expect(await jobCount()).toBe(0);
    expect(await f.testDb.db.query('SELECT 1 FROM messages WHERE provider_message_id = $1', [message.providerMessageId])).toEqual([]);
  });

  it('an edited message is updated, not duplicated; an older edit arriving late does not win; a deletion is final', async () => {
    const original = reply(2, 20, 'original text');
    const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();
    await post(account, [event('message.created', original)]);
    await post(account, [event('message.edited', { ...original, text: 'edited at :40' }, at(40))]);
    await post(account, [event('message.edited', { ...original, text: 'edited at :30 (late)' }, at(30))]);
    await api.drain();
    const text = async () => (await f.testDb.db.query<{ text: string; deleted_at: string | null; n: number }>('SELECT text, deleted_at, count(*) OVER ()::int AS n FROM messages WHERE provider_message_id = $1', [original.providerMessageId]))[0]!;
    expect(await text()).toMatchObject({ text: 'edited at :40', deleted_at: null, n: 1 });
    await post(account, [event('message.deleted', original, at(50))]);
    await post(account, [event('message.edited', { ...original, text: 'edited after deletion' }, at(60))]);
    await api.drain();
    const deleted = await text();
    expect(deleted).toMatchObject({ text: '', n: 1 });
    expect(deleted.deleted_at).not.toBeNull();
  });

  it('an account status event disconnects the account', async () => {
    const other = await sandboxAccount(f, { seed: 4, conversations: 2 });
    const response = await post(other, [{ id: 'status-1', type: 'account.disconnected', occurred_at: new Date(T0).toISOString() }]);
    expect(response.statusCode).toBe(200);
    await api.drain();
    const [row] = await f.testDb.db.query<{ status: string }>('SELECT status FROM connected_accounts WHERE id = $1', [other.id]);
    expect(row!.status).toBe('disconnected');
  });
});

describe('SandboxNetwork.unread', () => {
  it('counts the messages from the other side since ours', () => {
    const m = (isSender: boolean) => ({ isSender }) as TimedMessage;
    expect(SandboxNetwork.unread([m(false), m(false), m(true), m(false)])).toBe(2);
    expect(SandboxNetwork.unread([m(true), m(false)])).toBe(0);
  });
});
