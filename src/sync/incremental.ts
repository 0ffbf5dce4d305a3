import type { ProviderEvent } from '../connectors/types.js';
import { completeConversationHistory, toConversationInput } from './backfill.js';
import { type SyncContext, SyncError } from './context.js';
import { ensureSyncState, loadSyncAccount, markConnected, markDisconnected, recordEventReceived, recordSyncError, savePolledUntil } from './state.js';
import { type StoreAccount, addUnread, upsertConversations, upsertMessages } from './store.js';

export interface PollOutcome {
  status: 'polled' | 'not_connected' | 'backfill_pending';
  conversations: number;
  messages: number;
  /** The account's own polling interval (`settings.pollIntervalMs`), if it has one. */
  pollIntervalMs: number | null;
}

/** Polling starts this far before the last poll: clocks and provider indexing are not exact. */
export const POLL_OVERLAP_MS = 2 * 60_000;

/**
 * The safety net under webhooks: every conversation active since the last poll is refreshed
 * (name, unread count) and its new messages are stored; a conversation whose older history is not
 * stored yet (first seen through an event) is walked to its start. Runs after the backfill.
 */
export async function pollAccount(ctx: SyncContext, accountId: string): Promise<PollOutcome> {
  const { db, clock } = ctx;
  const account = await loadSyncAccount(db, accountId);
  if (!account) throw new SyncError(`No connected account ${accountId}.`);
  const interval = account.settings.pollIntervalMs;
  const result: PollOutcome = { status: 'polled', conversations: 0, messages: 0, pollIntervalMs: typeof interval === 'number' && interval >= 1_000 ? interval : null };
  if (account.status !== 'connected') return { ...result, status: 'not_connected' };
  const state = await ensureSyncState(db, account, clock.now());
  if (state.backfillStatus !== 'completed' || !state.polledUntil) return { ...result, status: 'backfill_pending' };

  const startedAt = clock.now();
  const since = new Date(Date.parse(state.polledUntil) - POLL_OVERLAP_MS).toISOString();
  const store: StoreAccount = { id: account.id, accountGroupId: account.accountGroupId };
  const connector = ctx.connectors.forAccount(account);
  let cursor: string | null = null;
  do {
    const page = await connector.listConversations(cursor, { after: since });
    const stored = await db.transaction((tx) => upsertConversations(tx, store, page.items.map(toConversationInput)));
    for (const conversation of page.items) {
      const row = stored.get(conversation.providerId)!;
      result.conversations++;
      if (!row.historyComplete) {
        result.messages += await completeConversationHistory(ctx, store, { id: row.id, providerId: row.providerId, historyCursor: row.historyCursor }, connector);
        continue;
      }
      const ids = new Map([[conversation.providerId, row.id]]);
      let messagesCursor: string | null = null;
      do {
        const fetchedAt = clock.now();
        const messages = await connector.listMessages(conversation.providerId, messagesCursor, { after: since });
        if (messages.items.length > 0) await db.transaction((tx) => upsertMessages(tx, store, ids, messages.items, fetchedAt.toISOString()));
        result.messages += messages.items.length;
        messagesCursor = messages.nextCursor;
      } while (messagesCursor !== null);
    }
    cursor = page.nextCursor;
  } while (cursor !== null);
  await savePolledUntil(db, accountId, startedAt, clock.now());
  return result;
}

/**
 * Applies verified webhook events of one account: messages are upserted as of the event's time
 * (a late, older event cannot undo a newer state), unread counts rise by the new inbound
 * messages, and the account's status follows status events.
 */
export async function applyEvents(ctx: SyncContext, accountId: string, events: readonly ProviderEvent[]): Promise<{ inserted: number }> {
  const { db, clock } = ctx;
  const account = await loadSyncAccount(db, accountId);
  if (!account) return { inserted: 0 };
  const store: StoreAccount = { id: account.id, accountGroupId: account.accountGroupId };
  let inserted = 0;
  const ordered = [...events].sort((a, b) => (a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : 0));
  await db.transaction(async (tx) => {
    await ensureSyncState(tx, account, clock.now());
    for (const event of ordered) {
      if (event.type === 'account_status') {
        if (event.status === 'disconnected') await markDisconnected(tx, accountId, 'The provider reported that the LinkedIn session ended.', clock.now());
        else if (event.status === 'connected') await markConnected(tx, accountId);
        else await recordSyncError(tx, accountId, 'The provider reported an error with this account.', clock.now());
        continue;
      }
      const conversations = await upsertConversations(tx, store, [event.conversation]);
      const ids = new Map([...conversations.values()].map((c) => [c.providerId, c.id]));
      const written = await upsertMessages(tx, store, ids, [event.message], event.occurredAt);
      inserted += written.inserted;
      await addUnread(tx, store, written.insertedInbound);
    }
    await recordEventReceived(tx, accountId, clock.now());
  });
  return { inserted };
}
