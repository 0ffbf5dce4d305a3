import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxConnector } from '../../src/connectors/sandbox/connector.js';
import { NO_FAULTS } from '../../src/connectors/sandbox/faults.js';
import { SandboxSettingsError, parseNetworkSettings } from '../../src/connectors/sandbox/network.js';
import { sandboxMessageEvent, signSandboxWebhook } from '../../src/connectors/sandbox/webhooks.js';
import { type Connector, type ConnectorAccount, ConnectorError, type SendRequest, WebhookSignatureError } from '../../src/connectors/types.js';
import { FakeClock, T0, providerMessages, syncFixture, type SyncFixture } from '../sync/helpers.js';

let f: SyncFixture;
beforeAll(async () => {
  f = await syncFixture();
});
afterAll(() => f?.close());

const accountWith = (network: Record<string, unknown>, id = 'acct-1'): ConnectorAccount => ({
  id,
  accountGroupId: 'g',
  connector: 'sandbox',
  providerAccountId: `ACoAASbxMe-${id}`,
  accountType: 'linkedin',
  settings: { network: { historyEndsAt: new Date(T0).toISOString(), ...network }, webhookSecret: 'shh' },
});

const connector = (account: ConnectorAccount, clock = f.clock, faults = NO_FAULTS, random = Math.random): Connector => new SandboxConnector(f.testDb.db, account, clock, faults, random);

describe('the simulated network', () => {
  it('is the same for the same seed, on every walk, and different for another seed', async () => {
    const network = { seed: 5, conversations: 40, pageSize: 9 };
    const first = await providerMessages(connector(accountWith(network)));
    const second = await providerMessages(connector(accountWith(network)));
    expect(second).toEqual(first);
    expect(new Set(first.map((m) => m.providerMessageId)).size).toBe(first.length);
    const other = await providerMessages(connector(accountWith({ ...network, seed: 6 })));
    expect(other.map((m) => m.text)).not.toEqual(first.map((m) => m.text));
  });

  it('pages conversations most recent first and messages newest first, with ties broken by id, ending with a null cursor', async () => {
    const c = connector(accountWith({ seed: 5, conversations: 40, pageSize: 9 }));
    const conversations = [];
    let cursor: string | null = null;
    do {
      const page = await c.listConversations(cursor);
      expect(page.items.length).toBeLessThanOrEqual(9);
      conversations.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    expect(conversations).toHaveLength(40);
    const order = conversations.map((x) => [x.lastMessageAt!, x.providerId] as const);
    expect([...order].sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? 1 : -1) : a[0] < b[0] ? 1 : -1))).toEqual(order);
    const { items } = await c.listMessages(conversations[0]!.providerId, null);
    expect(items[0]!.sentAt).toBe(conversations[0]!.lastMessageAt);
    for (let i = 1; i < items.length; i++) expect(items[i - 1]!.sentAt >= items[i]!.sentAt).toBe(true);
    expect(items.every((m) => m.sentAt < new Date(T0).toISOString())).toBe(true);
    expect(conversations.every((x) => x.participant?.providerId.startsWith('ACoAASbx'))).toBe(true);
  });

  it('has attachments and threads', async () => {
    const all = await providerMessages(connector(accountWith({ seed: 9, conversations: 60 })));
    expect(all.some((m) => m.attachments.length > 0)).toBe(true);
    const ids = new Set(all.map((m) => m.providerMessageId));
    const replies = all.filter((m) => m.parentProviderMessageId);
    expect(replies.length).toBeGreaterThan(0);
    expect(replies.every((m) => ids.has(m.parentProviderMessageId!))).toBe(true);
  });

  it('prospects reply at the configured rate, as time passes', async () => {
    const clock = new FakeClock(T0);
    const account = accountWith({ seed: 5, conversations: 20, replyEveryMs: 60_000, replyingShare: 0.5 });
    const before = (await providerMessages(connector(account, clock))).length;
    clock.advance(60 * 60_000);
    const after = await providerMessages(connector(account, clock));
    // One reply a minute across the account, for an hour (each replying prospect on its own period).
    expect(after.length - before).toBeGreaterThanOrEqual(55);
    expect(after.length - before).toBeLessThanOrEqual(65);
    const newest = (await connector(account, clock).listConversations(null)).items[0]!;
    expect(Date.parse(newest.lastMessageAt!)).toBeGreaterThan(T0);
    expect(newest.unreadCount).toBeGreaterThan(0);
    const since = await connector(account, clock).listConversations(null, { after: new Date(T0 + 30 * 60_000).toISOString() });
    expect(since.items.length).toBeGreaterThan(0);
    expect(since.items.every((x) => Date.parse(x.lastMessageAt!) > T0 + 30 * 60_000)).toBe(true);
  });

  it('rejects settings that make no sense, naming the setting', () => {
    expect(() => parseNetworkSettings({ conversations: -1 })).toThrow(SandboxSettingsError);
    expect(() => parseNetworkSettings({ messagesPerConversation: { min: 5, max: 2 } })).toThrow(/messagesPerConversation.max/);
    expect(() => parseNetworkSettings({ replyingShare: 2 })).toThrow(/replyingShare/);
  });
});

describe('sending through the sandbox', () => {
  const send = (overrides: Partial<SendRequest> = {}): SendRequest => ({
    dedupeId: 'resp-1',
    channel: 'direct_message',
    conversationProviderId: 'sbx-5-c3',
    recipientProviderId: 'ACoAASbx5Z3',
    subject: null,
    text: 'hello',
    ...overrides,
  });

  it('findSent after a delivered-then-timeout send: the send happened once and is found', async () => {
    const account = accountWith({ seed: 5, conversations: 10 }, 'acct-send');
    const flaky = connector(account, f.clock, { ...NO_FAULTS, deliveredTimeoutRate: 1 });
    const request = send({ dedupeId: 'resp-ambiguous', text: 'Are you free Thursday?' });
    await expect(flaky.send(request)).rejects.toMatchObject({ kind: 'timeout' });
    const found = await connector(account).findSent(request);
    expect(found).not.toBeNull();
    const rows = await f.testDb.db.query<{ provider_message_id: string }>('SELECT provider_message_id FROM sandbox_sends WHERE account_id = $1 AND dedupe_id = $2', [account.id, 'resp-ambiguous']);
    expect(rows).toEqual([{ provider_message_id: found!.providerMessageId }]);
    // The delivered message is part of the conversation on "LinkedIn", with the prospect's answer once due.
    const replying = accountWith({ seed: 5, conversations: 10, replyToSendsRate: 1, replyDelayMs: { min: 1000, max: 1000 } }, 'acct-send');
    const clock = new FakeClock(f.clock.now().getTime() + 2_000);
    const { items } = await connector(replying, clock).listMessages('sbx-5-c3', null);
    expect(items.slice(0, 2).map((m) => m.providerMessageId)).toEqual([`${found!.providerMessageId}-reply`, found!.providerMessageId]);
    // A send that timed out before reaching LinkedIn leaves nothing to find.
    const lost = connector(account, f.clock, { ...NO_FAULTS, timeoutRate: 1 });
    await expect(lost.send(send({ dedupeId: 'resp-lost' }))).rejects.toMatchObject({ kind: 'timeout' });
    expect(await connector(account).findSent(send({ dedupeId: 'resp-lost' }))).toBeNull();
  });
});

describe('faults', () => {
  const account = accountWith({ seed: 5, conversations: 10 });
  it.each([
    ['errorRate', 'transient'],
    ['timeoutRate', 'timeout'],
    ['rateLimitRate', 'rate_limited'],
    ['authExpiredRate', 'auth_expired'],
  ] as const)('%s makes reads fail with %s', async (fault, kind) => {
    const failing = connector(account, f.clock, { ...NO_FAULTS, [fault]: 1 });
    for (const call of [() => failing.listConversations(null), () => failing.listMessages('sbx-5-c1', null), () => failing.getProfile('ACoAASbx5Z1')]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectorError);
      expect((error as ConnectorError).kind).toBe(kind);
    }
  });

  it('an error rate fails about that share of calls', async () => {
    let roll = 0;
    const half = connector(account, f.clock, { ...NO_FAULTS, errorRate: 0.5 }, () => (roll++ % 10) / 10);
    const results = await Promise.all(Array.from({ length: 20 }, () => half.listConversations(null).then(() => 'ok', () => 'failed')));
    expect(results.filter((r) => r === 'failed')).toHaveLength(10);
  });

  it('latency is abandoned when the caller gives up', async () => {
    const slow = connector(account, f.clock, { ...NO_FAULTS, latencyMs: 600_000 });
    const controller = new AbortController();
    const pending = slow.listMessages('sbx-5-c1', null, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ kind: 'timeout' });
  });
});

describe('webhooks', () => {
  it('verifies the HMAC of the raw body and parses the events', () => {
    const c = connector(accountWith({ seed: 5, conversations: 3 }));
    const body = JSON.stringify({
      events: [
        sandboxMessageEvent(
          'message.created',
          { providerMessageId: 'm1', conversationProviderId: 'sbx-5-c1', senderProviderId: 'ACoAASbx5Z1', isSender: false, text: 'hi', sentAt: '2026-03-01T12:00:00.123Z', parentProviderMessageId: null, attachments: [] },
          { name: 'Ada', participant: { providerId: 'ACoAASbx5Z1', name: 'Ada', publicIdentifier: 'ada' } },
          '2026-03-01T12:00:00.123Z',
        ),
      ],
    });
    const events = c.parseWebhook({ headers: { 'x-sandbox-signature': signSandboxWebhook('shh', body) }, body: Buffer.from(body) });
    expect(events).toMatchObject([{ type: 'message', message: { providerMessageId: 'm1', text: 'hi', sentAt: '2026-03-01T12:00:00.123Z', deleted: false } }]);
    expect(() => c.parseWebhook({ headers: { 'x-sandbox-signature': signSandboxWebhook('other', body) }, body: Buffer.from(body) })).toThrow(WebhookSignatureError);
    expect(() => c.parseWebhook({ headers: {}, body: Buffer.from(body) })).toThrow(WebhookSignatureError);
    expect(() => c.parseWebhook({ headers: { 'x-sandbox-signature': signSandboxWebhook('shh', body) }, body: Buffer.from(body + ' ') })).toThrow(WebhookSignatureError);
  });
});
