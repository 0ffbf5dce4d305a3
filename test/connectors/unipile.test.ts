import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConnectorRegistry } from '../../src/connectors/registry.js';
import { type Connector, type ConnectorAccount, ConnectorError, type SendRequest, WebhookSignatureError } from '../../src/connectors/types.js';
import { UNIPILE_SECRET_HEADER } from '../../src/connectors/unipile/webhooks.js';
import { CursorCodec } from '../../src/domain/cursor.js';
import { serverSecret } from '../../src/domain/serverSecrets.js';
import { buildApp } from '../../src/http/app.js';
import { connectAccount } from '../../src/sync/accounts.js';
import { backfillAccount } from '../../src/sync/backfill.js';
import { applyEvents, pollAccount } from '../../src/sync/incremental.js';
import { createReadThrough } from '../../src/sync/readThrough.js';
import { type SyncAccount, getSyncState, loadSyncAccount } from '../../src/sync/state.js';
import { syncApp } from '../sync/app.js';
import { storedMessages, syncFixture, type SyncFixture } from '../sync/helpers.js';
import { UnipileStub } from './unipileStub.js';

let f: SyncFixture;
let stub: UnipileStub;
let account: SyncAccount;
let connector: Connector;

async function connectStub(target: UnipileStub, timeoutMs = 1_000): Promise<SyncAccount> {
  const summary = await connectAccount(f.testDb.db, f.clock, { accountGroupId: f.groupId, connector: 'unipile', unipile: { dsn: target.baseUrl, apiKey: target.apiKey, accountId: target.accountId } });
  await f.testDb.db.query(`UPDATE connected_accounts SET settings = settings || $2::jsonb WHERE id = $1`, [summary.id, JSON.stringify({ timeoutMs, pageSize: 25 })]);
  return (await loadSyncAccount(f.testDb.db, summary.id))!;
}

beforeAll(async () => {
  f = await syncFixture();
  stub = await new UnipileStub().seed({ chats: 60, maxMessages: 70 }).start();
  account = await connectStub(stub);
  connector = f.connectors.forAccount(account);
});
afterAll(async () => {
  await stub?.close();
  await f?.close();
});

const expectError = async (promise: Promise<unknown>, kind: ConnectorError['kind']) => {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectorError);
  expect((error as ConnectorError).kind).toBe(kind);
  return error as ConnectorError;
};

describe('connecting a Unipile account', () => {
  it("reads the LinkedIn id, name and seat from Unipile, and keeps the credentials out of what it returns", async () => {
    expect(account).toMatchObject({ connector: 'unipile', providerAccountId: stub.selfProviderId, name: 'Stub Seller', accountType: 'sales_navigator', status: 'connected' });
    expect(stub.requests.find((r) => r.path === `/api/v1/accounts/${stub.accountId}`)?.apiKey).toBe(stub.apiKey);
  });
});

describe('backfill from the stubbed Unipile', () => {
  it('equals the provider set (0 duplicates, 0 missing), also when the sync process dies midway and resumes', async () => {
    const real = defaultConnectorRegistry(f.testDb.db, f.clock);
    let deaths = 0;
    for (let run = 0; run < 100; run++) {
      let left = 9;
      const dying = {
        forAccount: (a: ConnectorAccount) => {
          const inner = real.forAccount(a);
          return new Proxy(inner, {
            get(target, property) {
              const value = Reflect.get(target, property) as unknown;
              if (typeof value !== 'function') return value;
              if (property !== 'listMessages') return value.bind(target);
              return (...args: unknown[]) => {
                if (left-- <= 0) throw new Error('killed');
                return (value as (...a: unknown[]) => unknown).apply(target, args);
              };
            },
          });
        },
      };
      try {
        expect((await backfillAccount({ ...f.ctx, connectors: dying }, account.id, { batchSize: 60 })).status).toBe('completed');
        break;
      } catch (error) {
        expect((error as Error).message).toBe('killed');
        deaths++;
      }
    }
    expect(deaths).toBeGreaterThan(3);
    const stored = await storedMessages(f.testDb.db, account.id);
    const expected = stub.expectedMessageIds();
    expect(stored.length).toBe(new Set(stored.map((m) => m.provider_message_id)).size);
    expect(stored.map((m) => m.provider_message_id).sort()).toEqual([...expected].sort());
    // Deleted rows are stored without their text; event and hidden rows are not messages.
    const deleted = stub.chats.flatMap((c) => c.messages).filter((m) => m.deleted && !m.is_event && !m.hidden);
    expect(deleted.length).toBeGreaterThan(0);
    for (const m of deleted) expect(stored.find((s) => s.provider_message_id === m.id)).toMatchObject({ text: '' });
    expect((await getSyncState(f.testDb.db, account.id))!.backfillStatus).toBe('completed');
    // Every API call carried the key, none carried it anywhere else.
    for (const request of stub.requests) {
      expect(request.apiKey).toBe(stub.apiKey);
      expect(JSON.stringify(request.query)).not.toContain(stub.apiKey);
    }
  });

  it('polling stores new replies and follows unread counts', async () => {
    const chat = stub.chats[5]!;
    stub.now += 60_000;
    f.clock.advance(60_000);
    stub.receive(chat, 'Interested, call me tomorrow');
    const result = await pollAccount(f.ctx, account.id);
    expect(result.status).toBe('polled');
    const stored = await storedMessages(f.testDb.db, account.id);
    expect(stored.map((m) => m.provider_message_id).sort()).toEqual([...stub.expectedMessageIds()].sort());
    const [row] = await f.testDb.db.query<{ unread_count: number; name: string }>('SELECT unread_count, name FROM conversations WHERE account_id = $1 AND provider_id = $2', [account.id, chat.id]);
    expect(row).toEqual({ unread_count: chat.unread_count, name: chat.name });
  });
});

describe('the Unipile connector', () => {
  const request = (overrides: Partial<SendRequest>): SendRequest => ({
    dedupeId: 'resp-1',
    channel: 'direct_message',
    conversationProviderId: stub.chats[0]!.id,
    recipientProviderId: stub.chats[0]!.attendee_provider_id,
    subject: null,
    text: 'Thanks, sending the deck now.',
    ...overrides,
  });

  it('sends in an existing chat and starts an InMail thread, as documented (multipart fields)', async () => {
    const sent = await connector.send(request({ dedupeId: 'dm-1', text: 'Direct reply' }));
    expect(sent.conversationProviderId).toBe(stub.chats.find((c) => c.messages[0]!.id === sent.providerMessageId)!.id);
    const dm = stub.requests.at(-1)!;
    expect(dm).toMatchObject({ method: 'POST', path: `/api/v1/chats/${sent.conversationProviderId}/messages` });
    expect(dm.form).toEqual({ text: ['Direct reply'], account_id: [stub.accountId] });

    const inmail = await connector.send(request({ dedupeId: 'in-1', channel: 'inmail', conversationProviderId: null, recipientProviderId: 'ACoAANewPerson42', subject: 'Quick question', text: 'Hello from an InMail' }));
    expect(stub.requests.at(-1)!.form).toEqual({
      account_id: [stub.accountId],
      attendees_ids: ['ACoAANewPerson42'],
      text: ['Hello from an InMail'],
      subject: ['Quick question'],
      'linkedin[api]': ['sales_navigator'],
      'linkedin[inmail]': ['true'],
    });
    expect(await connector.findSent(request({ dedupeId: 'in-1', channel: 'inmail', conversationProviderId: null, recipientProviderId: 'ACoAANewPerson42', text: 'Hello from an InMail' }))).toMatchObject({
      providerMessageId: inmail.providerMessageId,
      conversationProviderId: inmail.conversationProviderId,
    });
  });

  it('findSent after a delivered-then-timeout send finds the delivered message', async () => {
    const ambiguous = request({ dedupeId: 'resp-ambiguous', text: 'Does Thursday 3pm work?', notBefore: new Date(stub.now).toISOString() });
    expect(await connector.findSent(ambiguous)).toBeNull();
    stub.failNext('deliver-then-hang');
    await expectError(connector.send(ambiguous), 'timeout');
    const delivered = stub.chats.flatMap((c) => c.messages).filter((m) => m.text === 'Does Thursday 3pm work?');
    expect(delivered).toHaveLength(1);
    const found = await connector.findSent(ambiguous);
    expect(found).toMatchObject({ providerMessageId: delivered[0]!.id, conversationProviderId: ambiguous.conversationProviderId });
    // Timed out before reaching LinkedIn: nothing to find, so the scheduler may send.
    stub.failNext('hang');
    const lost = request({ dedupeId: 'resp-lost', text: 'Never delivered' });
    await expectError(connector.send(lost), 'timeout');
    expect(await connector.findSent(lost)).toBeNull();
  });

  it('maps failures to typed errors, without the upstream payload or the key', async () => {
    stub.failNext({ status: 503 });
    const transient = await expectError(connector.listConversations(null), 'transient');
    stub.failNext({ status: 500 });
    await expectError(connector.send(request({ text: 'x' })), 'timeout');
    stub.failNext({ status: 429, type: 'api/too_many_requests', retryAfter: '7' });
    const limited = await expectError(connector.listMessages(stub.chats[0]!.id, null), 'rate_limited');
    expect(limited.retryAfterMs).toBe(7_000);
    stub.failNext({ status: 401, type: 'errors/disconnected_account' });
    const expired = await expectError(connector.listConversations(null), 'auth_expired');
    expect(expired.message).toContain('errors/disconnected_account');
    stub.failNext({ status: 422, type: 'errors/invalid_recipient' });
    await expectError(connector.send(request({ text: 'y' })), 'permanent');
    stub.failNext('hang');
    await expectError(connector.listConversations(null), 'timeout');
    for (const error of [transient, limited, expired]) {
      expect(error.message).not.toMatch(/UPSTREAM-RAW-DETAIL|Stub error/);
      expect(error.message).not.toContain(stub.apiKey);
    }
    const wrongKey = defaultConnectorRegistry(f.testDb.db, f.clock).forAccount({ ...account, settings: { ...account.settings, apiKey: 'wrong' } });
    await expectError(wrongKey.listConversations(null), 'auth_expired');
    const closed = await new UnipileStub().start();
    const closedUrl = closed.baseUrl;
    await closed.close();
    const nowhere = defaultConnectorRegistry(f.testDb.db, f.clock).forAccount({ ...account, settings: { ...account.settings, dsn: closedUrl } });
    await expectError(nowhere.listConversations(null), 'transient');
  });

  it('verifies webhooks by their secret header and parses new messages and account status', async () => {
    const chat = stub.chats[3]!;
    const message = stub.receive(chat, 'Webhook hello');
    const body = Buffer.from(JSON.stringify(stub.messageWebhook(chat, message)));
    const secret = account.settings.webhookSecret as string;
    expect(() => connector.parseWebhook({ headers: {}, body })).toThrow(WebhookSignatureError);
    expect(() => connector.parseWebhook({ headers: { [UNIPILE_SECRET_HEADER]: 'nope' }, body })).toThrow(WebhookSignatureError);
    const [event] = connector.parseWebhook({ headers: { [UNIPILE_SECRET_HEADER]: secret }, body });
    expect(event).toMatchObject({
      type: 'message',
      conversation: { providerId: chat.id, participant: { providerId: chat.attendee_provider_id, publicIdentifier: stub.attendees.get(chat.attendee_provider_id)!.publicIdentifier } },
      message: { providerMessageId: message.id, isSender: false, text: 'Webhook hello', sentAt: message.timestamp, senderProviderId: chat.attendee_provider_id },
    });
    const status = connector.parseWebhook({ headers: { [UNIPILE_SECRET_HEADER]: secret }, body: Buffer.from(JSON.stringify(stub.statusWebhook('CREDENTIALS'))) });
    expect(status).toMatchObject([{ type: 'account_status', status: 'disconnected' }]);
    const foreign = { ...stub.messageWebhook(chat, message), account_id: 'someone-else' };
    expect(connector.parseWebhook({ headers: { [UNIPILE_SECRET_HEADER]: secret }, body: Buffer.from(JSON.stringify(foreign)) })).toEqual([]);
    await applyEvents(f.ctx, account.id, [event!]);
    expect((await storedMessages(f.testDb.db, account.id)).filter((m) => m.provider_message_id === message.id)).toHaveLength(1);
  });
});

describe('through the API', () => {
  it('a webhook from Unipile is accepted with the right secret and refused without it', async () => {
    const api = await syncApp(f);
    try {
      const chat = stub.chats[7]!;
      const message = stub.receive(chat, 'Via the route');
      const payload = JSON.stringify(stub.messageWebhook(chat, message));
      // Webhooks created through Unipile's API carry no JSON content type unless told (docs: webhooks-2).
      const refused = await api.app.inject({ method: 'POST', url: `/v1/webhooks/unipile/${account.id}`, payload });
      expect(refused.statusCode).toBe(401);
      const accepted = await api.app.inject({ method: 'POST', url: `/v1/webhooks/unipile/${account.id}`, headers: { [UNIPILE_SECRET_HEADER]: account.settings.webhookSecret as string }, payload });
      expect(accepted.statusCode).toBe(200);
      await api.drain();
      expect((await storedMessages(f.testDb.db, account.id)).some((m) => m.provider_message_id === message.id)).toBe(true);
    } finally {
      await api.app.close();
    }
  });

  it('read-through answers 502 on Unipile 5xx, 429 and timeouts, and no log line carries the API key', async () => {
    const logs: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        logs.push(String(chunk));
        done();
      },
    });
    const services = {
      db: f.testDb.db,
      cursors: new CursorCodec(await serverSecret(f.testDb.db, 'cursor_signing_key')),
      clock: f.clock,
      connectors: f.connectors,
      readThrough: createReadThrough(f.ctx, { timeoutMs: 500 }),
    };
    const app = await buildApp(services, { logger: { level: 'trace', stream } });
    const { createApiKey } = await import('../../src/domain/apiKeys.js');
    const key = (await createApiKey(f.testDb.db, { permissions: ['messages:read'], accountGroupIds: [f.groupId] })).secret;
    try {
      const [conversation] = await f.testDb.db.query<{ id: string }>('SELECT id FROM conversations WHERE account_id = $1 LIMIT 1', [account.id]);
      for (const fault of [{ status: 502 }, { status: 429, type: 'api/too_many_requests' }, 'hang' as const]) {
        await f.testDb.db.query('UPDATE conversations SET history_complete = false, history_cursor = NULL WHERE id = $1', [conversation!.id]);
        stub.failNext(fault);
        const response = await app.inject({ method: 'GET', url: `/v1/accounts/${f.groupId}/messages?conversationId=${conversation!.id}`, headers: { authorization: `Bearer ${key}` } });
        expect(response.statusCode).toBe(502);
        expect(response.json().error.code).toBe('UPSTREAM_ERROR');
        expect(response.body).not.toMatch(/UPSTREAM-RAW-DETAIL|api\/too_many_requests|Unipile answered/);
      }
      const groupWide = await app.inject({ method: 'GET', url: `/v1/accounts/${f.groupId}/messages`, headers: { authorization: `Bearer ${key}` } });
      expect(groupWide.statusCode).toBe(200);
      expect(logs.length).toBeGreaterThan(0);
      expect(logs.join('')).not.toContain(stub.apiKey);
      expect(logs.join('')).not.toContain(account.settings.webhookSecret as string);
    } finally {
      await app.close();
    }
  });
});
