import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConnectorRegistry } from '../../src/connectors/registry.js';
import type { Connector, ConnectorAccount } from '../../src/connectors/types.js';
import { insertProspect } from '../../src/domain/prospects.js';
import { backfillAccount } from '../../src/sync/backfill.js';
import { claimBackfill, getSyncState } from '../../src/sync/state.js';
import { FakeClock, T0, compare, providerMessages, sandboxAccount, storedMessages, syncFixture, type SyncFixture } from './helpers.js';

/** Wraps a connector so that the run "dies" after a number of message pages: what it held in memory is lost. */
function dyingAfter(connector: Connector, pages: number): Connector {
  let left = pages;
  return new Proxy(connector, {
    get(target, property, receiver) {
      if (property === 'listMessages') {
        return async (...args: Parameters<Connector['listMessages']>) => {
          if (left-- <= 0) throw new Error('killed');
          return target.listMessages(...args);
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

let f: SyncFixture;
beforeAll(async () => {
  f = await syncFixture();
});
afterAll(() => f?.close());

const network = { seed: 7, conversations: 120, messagesPerConversation: { min: 1, max: 40 }, pageSize: 17 };

describe('backfill from the sandbox', () => {
  it('stores exactly the provider set: 0 duplicates, 0 missing, every conversation complete', async () => {
    const account = await sandboxAccount(f, network);
    const outcome = await backfillAccount(f.ctx, account.id, { batchSize: 100 });
    expect(outcome.status).toBe('completed');
    const provider = await providerMessages(f.connectors.forAccount(account));
    expect(provider.length).toBeGreaterThan(1000);
    const stored = await storedMessages(f.testDb.db, account.id);
    expect(compare(provider, stored)).toEqual({ providerDuplicates: 0, duplicates: 0, missing: [], extra: [] });
    expect(stored.length).toBe(provider.length);
    const byId = new Map(provider.map((m) => [m.providerMessageId, m]));
    for (const row of stored) {
      expect(row.text).toBe(byId.get(row.provider_message_id)!.text);
      expect(row.sent_at).toBe(byId.get(row.provider_message_id)!.sentAt);
    }
    const { incomplete } = (await f.testDb.db.query<{ incomplete: number }>('SELECT count(*)::int AS incomplete FROM conversations WHERE account_id = $1 AND NOT history_complete', [account.id]))[0]!;
    expect(incomplete).toBe(0);
    const state = await getSyncState(f.testDb.db, account.id);
    expect(state).toMatchObject({ backfillStatus: 'completed', conversationsSynced: 120, messagesSynced: provider.length, leaseOwner: null });
    expect(state!.polledUntil).toBe(state!.backfillStartedAt);
  });

  it('links every reply to its parent, even when the reply was stored first', async () => {
    const account = await sandboxAccount(f, { ...network, seed: 8 });
    await backfillAccount(f.ctx, account.id, { batchSize: 50 });
    const stored = await storedMessages(f.testDb.db, account.id);
    const replies = stored.filter((m) => m.parent_provider_message_id !== null);
    expect(replies.length).toBeGreaterThan(100);
    expect(replies.filter((m) => m.parent_message_id === null)).toEqual([]);
    const { wrong } = (await f.testDb.db.query<{ wrong: number }>(
      `SELECT count(*)::int AS wrong FROM messages c JOIN messages p ON p.id = c.parent_message_id
       WHERE c.account_id = $1 AND p.provider_message_id <> c.parent_provider_message_id`,
      [account.id],
    ))[0]!;
    expect(wrong).toBe(0);
  });

  it('turns participants into persons, linked to the prospects with their provider id, with the provider names and unread counts', async () => {
    const account = await sandboxAccount(f, { ...network, seed: 9, conversations: 30 });
    const connector = f.connectors.forAccount(account);
    const { items } = await connector.listConversations(null);
    const target = items[0]!;
    await insertProspect(f.testDb.db, { accountGroupId: f.groupId, providerId: target.participant!.providerId, externalId: 'crm-1', name: 'CRM name' });
    await backfillAccount(f.ctx, account.id);
    const [person] = await f.testDb.db.query<{ name: string; public_identifier: string; prospect_person: string; person_id: string }>(
      `SELECT p.name, p.public_identifier, p.id AS person_id, pr.person_id AS prospect_person FROM persons p
       JOIN prospects pr ON pr.provider_id = p.provider_id AND pr.account_group_id = p.account_group_id
       WHERE p.account_group_id = $1 AND p.provider_id = $2`,
      [f.groupId, target.participant!.providerId],
    );
    // The person is what LinkedIn shows; the prospect keeps the CRM's name.
    expect(person).toMatchObject({ name: target.participant!.name, public_identifier: target.participant!.publicIdentifier });
    expect(person!.prospect_person).toBe(person!.person_id);
    const { persons } = (await f.testDb.db.query<{ persons: number }>(
      `SELECT count(DISTINCT p.id)::int AS persons FROM persons p JOIN conversations c ON c.participant_provider_id = p.provider_id AND c.account_id = $1`,
      [account.id],
    ))[0]!;
    expect(persons).toBe(30);
    const conversations = await f.testDb.db.query<{ provider_id: string; name: string; unread_count: number }>('SELECT provider_id, name, unread_count FROM conversations WHERE account_id = $1', [account.id]);
    const all = [...items, ...(await connector.listConversations((await connector.listConversations(null)).nextCursor)).items];
    for (const conversation of all) {
      expect(conversations.find((c) => c.provider_id === conversation.providerId)).toMatchObject({ name: conversation.name, unread_count: conversation.unreadCount });
    }
  });

  it('resumes after the sync process dies midway, again and again: the same set, 0 duplicates, 0 missing', async () => {
    const account = await sandboxAccount(f, { ...network, seed: 11 });
    const real = defaultConnectorRegistry(f.testDb.db, f.clock);
    let deaths = 0;
    for (let run = 0; run < 100; run++) {
      const dying = { forAccount: (a: ConnectorAccount) => dyingAfter(real.forAccount(a), 13) };
      try {
        const outcome = await backfillAccount({ ...f.ctx, connectors: dying }, account.id, { batchSize: 40 });
        expect(outcome.status).toBe('completed');
        break;
      } catch (error) {
        expect((error as Error).message).toBe('killed');
        deaths++;
        const stored = await storedMessages(f.testDb.db, account.id);
        expect(new Set(stored.map((m) => m.provider_message_id)).size).toBe(stored.length);
      }
    }
    expect(deaths).toBeGreaterThan(5);
    const provider = await providerMessages(real.forAccount(account));
    expect(compare(provider, await storedMessages(f.testDb.db, account.id))).toEqual({ providerDuplicates: 0, duplicates: 0, missing: [], extra: [] });
    expect((await getSyncState(f.testDb.db, account.id))!.backfillStatus).toBe('completed');
  });

  it('waits for the lease of a run that vanished, then resumes it', async () => {
    const account = await sandboxAccount(f, { ...network, seed: 12, conversations: 10 });
    await backfillAccount(f.ctx, account.id, { batchSize: 10_000 }).catch(() => {});
    await f.testDb.db.query(`UPDATE sync_states SET backfill_status = 'running', backfill_completed_at = NULL WHERE account_id = $1`, [account.id]);
    expect(await claimBackfill(f.testDb.db, account.id, 'vanished-run', f.clock.now(), 120_000)).toBe(true);
    expect((await backfillAccount(f.ctx, account.id)).status).toBe('busy');
    f.clock.advance(121_000);
    expect((await backfillAccount(f.ctx, account.id)).status).toBe('completed');
  });

  it('runs in slices under a time budget and continues where the slice stopped', async () => {
    const clock = new FakeClock(T0);
    const sliced = await syncFixture({ clock });
    try {
      const account = await sandboxAccount(sliced, { ...network, seed: 13 });
      const ticking = {
        forAccount: (a: ConnectorAccount) => {
          const connector = sliced.connectors.forAccount(a);
          return new Proxy(connector, {
            get(target, property) {
              const value = Reflect.get(target, property) as unknown;
              if (property !== 'listMessages' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
              return (...args: unknown[]) => {
                clock.advance(1_000);
                return (value as (...a: unknown[]) => unknown).apply(target, args);
              };
            },
          });
        },
      };
      let slices = 0;
      for (;;) {
        slices++;
        const outcome = await backfillAccount({ ...sliced.ctx, connectors: ticking }, account.id, { budgetMs: 20_000, batchSize: 30 });
        if (outcome.status === 'completed') break;
        expect(outcome.status).toBe('paused');
      }
      expect(slices).toBeGreaterThan(3);
      const provider = await providerMessages(sliced.connectors.forAccount(account));
      expect(compare(provider, await storedMessages(sliced.testDb.db, account.id))).toEqual({ providerDuplicates: 0, duplicates: 0, missing: [], extra: [] });
    } finally {
      await sliced.close();
    }
  });

  it('changes nothing when run again', async () => {
    const account = await sandboxAccount(f, { ...network, seed: 14, conversations: 20 });
    await backfillAccount(f.ctx, account.id);
    const before = await storedMessages(f.testDb.db, account.id);
    const again = await backfillAccount(f.ctx, account.id, { restart: true });
    expect(again.status).toBe('completed');
    expect(await storedMessages(f.testDb.db, account.id)).toEqual(before);
  });
});
