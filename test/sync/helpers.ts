import type { Clock } from '../../src/clock.js';
import { type ConnectorRegistry, defaultConnectorRegistry } from '../../src/connectors/registry.js';
import type { Connector, ProviderMessage } from '../../src/connectors/types.js';
import { createAccountGroup } from '../../src/domain/accountGroups.js';
import type { Queryable } from '../../src/storage/db.js';
import { connectAccount } from '../../src/sync/accounts.js';
import type { SyncContext } from '../../src/sync/context.js';
import { type SyncAccount, loadSyncAccount } from '../../src/sync/state.js';
import { type TestDb, createTestDb } from '../helpers/testDb.js';

/** Time that moves only when the test says so. */
export class FakeClock implements Clock {
  constructor(private time: number) {}
  now(): Date {
    return new Date(this.time);
  }
  advance(ms: number): void {
    this.time += ms;
  }
  set(iso: string): void {
    this.time = Date.parse(iso);
  }
}

export const T0 = Date.parse('2026-03-01T12:00:00.000Z');

export interface SyncFixture {
  testDb: TestDb;
  clock: FakeClock;
  connectors: ConnectorRegistry;
  ctx: SyncContext;
  groupId: string;
  close(): Promise<void>;
}

export async function syncFixture(options: { clock?: FakeClock; connectors?: (fixture: Omit<SyncFixture, 'connectors' | 'ctx'>) => ConnectorRegistry } = {}): Promise<SyncFixture> {
  const testDb = await createTestDb();
  const clock = options.clock ?? new FakeClock(T0);
  const groupId = (await createAccountGroup(testDb.db, 'Sync group')).id;
  const base = { testDb, clock, groupId, close: () => testDb.close() };
  const connectors = options.connectors?.(base) ?? defaultConnectorRegistry(testDb.db, clock);
  return { ...base, connectors, ctx: { db: testDb.db, clock, connectors } };
}

/** Connects a sandbox account whose network is described by `network` (history ends at T0 unless said). */
export async function sandboxAccount(fixture: SyncFixture, network: Record<string, unknown>, extra: { faults?: Record<string, unknown>; groupId?: string } = {}): Promise<SyncAccount> {
  const summary = await connectAccount(fixture.testDb.db, fixture.clock, {
    accountGroupId: extra.groupId ?? fixture.groupId,
    connector: 'sandbox',
    network: { historyEndsAt: new Date(T0).toISOString(), ...network },
    ...(extra.faults ? { faults: extra.faults } : {}),
  });
  return (await loadSyncAccount(fixture.testDb.db, summary.id))!;
}

/** Every message the provider holds for the account, by walking its connector to the end. */
export async function providerMessages(connector: Connector): Promise<ProviderMessage[]> {
  const all: ProviderMessage[] = [];
  let cursor: string | null = null;
  do {
    const page = await connector.listConversations(cursor);
    for (const conversation of page.items) {
      let messages: string | null = null;
      do {
        const list = await connector.listMessages(conversation.providerId, messages);
        all.push(...list.items);
        messages = list.nextCursor;
      } while (messages !== null);
    }
    cursor = page.nextCursor;
  } while (cursor !== null);
  return all;
}

export interface StoredMessage {
  provider_message_id: string;
  text: string;
  sent_at: string;
  conversation_provider_id: string;
  parent_provider_message_id: string | null;
  parent_message_id: string | null;
  deleted_at: string | null;
}

export async function storedMessages(db: Queryable, accountId: string): Promise<StoredMessage[]> {
  return db.query<StoredMessage>(
    `SELECT m.provider_message_id, m.text, to_char(m.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS sent_at,
            c.provider_id AS conversation_provider_id, m.parent_provider_message_id, m.parent_message_id, m.deleted_at::text AS deleted_at
     FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.account_id = $1 ORDER BY m.provider_message_id`,
    [accountId],
  );
}

/** Compares what is stored with what the provider has: the missing and the extra ids, and duplicates. */
export function compare(provider: readonly ProviderMessage[], stored: readonly StoredMessage[]) {
  const want = new Set(provider.map((m) => m.providerMessageId));
  const have = stored.map((m) => m.provider_message_id);
  const haveSet = new Set(have);
  return {
    providerDuplicates: provider.length - want.size,
    duplicates: have.length - haveSet.size,
    missing: [...want].filter((id) => !haveSet.has(id)),
    extra: [...haveSet].filter((id) => !want.has(id)),
  };
}
