import type { ProviderConversation, ProviderMessage } from '../connectors/types.js';
import { randomId } from '../ids.js';
import type { Queryable } from '../storage/db.js';
import { type SyncContext, SyncError } from './context.js';
import { claimBackfill, ensureSyncState, loadSyncAccount, releaseBackfill, saveBackfillProgress } from './state.js';
import { type HistoryProgress, type StoreAccount, recordHistoryProgress, upsertConversations, upsertMessages } from './store.js';

export interface BackfillOptions {
  /** Who holds the lease (defaults to a random id per run). */
  owner?: string;
  /** The lease is renewed at every write; a run silent for longer loses it to the next. (Default 2 min) */
  leaseMs?: number;
  /** Messages written per transaction. (Default 2,000) */
  batchSize?: number;
  /** Stop (resumably) once this much time has passed: job handlers run in slices. */
  budgetMs?: number;
  /** Walk everything again from the newest conversation, complete conversations included, even if a backfill completed before. */
  restart?: boolean;
  onProgress?: (progress: BackfillProgress) => void;
}

export interface BackfillProgress {
  /** Conversations whose page was finished in this run. */
  conversations: number;
  /** Messages fetched and written in this run. */
  messages: number;
  /** Conversations pages walked in this run. */
  pages: number;
}

export type BackfillOutcome = BackfillProgress & {
  /** `paused`: the budget ran out; run again to continue. `busy`: another run holds the lease. */
  status: 'completed' | 'paused' | 'busy' | 'not_connected';
};

/** Messages fetched but not yet written, with what finishing them records. */
class Batch {
  messages: ProviderMessage[] = [];
  conversationIds = new Map<string, string>();
  history: HistoryProgress[] = [];
  fetchedAt: Date | null = null;

  add(conversationProviderId: string, conversationId: string, items: readonly ProviderMessage[], progress: HistoryProgress, fetchedAt: Date): void {
    this.fetchedAt ??= fetchedAt;
    this.conversationIds.set(conversationProviderId, conversationId);
    for (const item of items) this.messages.push(item);
    this.history.push(progress);
  }
}

/**
 * Copies an account's whole history, newest conversations first, each conversation to its first
 * message. Everything a transaction writes is accompanied by the checkpoint that covers it (the
 * conversations page being walked, and per conversation the cursor of its next older page), so a
 * run killed at any point resumes where the last commit left off; what it re-reads is stored once.
 */
export async function backfillAccount(ctx: SyncContext, accountId: string, options: BackfillOptions = {}): Promise<BackfillOutcome> {
  const { db, clock } = ctx;
  const started = clock.now().getTime();
  const owner = options.owner ?? `backfill:${randomId().slice(0, 12)}`;
  const leaseMs = options.leaseMs ?? 120_000;
  const batchSize = options.batchSize ?? 2_000;
  const progress: BackfillProgress = { conversations: 0, messages: 0, pages: 0 };
  const outcome = (status: BackfillOutcome['status']): BackfillOutcome => ({ status, ...progress });

  const account = await loadSyncAccount(db, accountId);
  if (!account) throw new SyncError(`No connected account ${accountId}.`);
  if (account.status !== 'connected') return outcome('not_connected');
  let state = await ensureSyncState(db, account, clock.now());
  if (options.restart) {
    await db.query(`UPDATE sync_states SET backfill_status = 'pending', backfill_cursor = NULL, backfill_started_at = NULL, rewalk = true WHERE account_id = $1`, [accountId]);
    state = await ensureSyncState(db, account, clock.now());
  }
  if (state.backfillStatus === 'completed') return outcome('completed');
  if (!(await claimBackfill(db, accountId, owner, clock.now(), leaseMs))) return outcome('busy');

  const store: StoreAccount = { id: account.id, accountGroupId: account.accountGroupId };
  const connector = ctx.connectors.forAccount(account);
  const overBudget = () => options.budgetMs !== undefined && clock.now().getTime() - started >= options.budgetMs;

  /** Writes the batch, the conversations' progress and the account checkpoint, and renews the lease, in one transaction. */
  const flush = async (batch: Batch, checkpoint: { cursor?: string | null; conversations: number; completed?: boolean }) => {
    const now = clock.now();
    await db.transaction(async (tx) => {
      if (!(await claimBackfill(tx, accountId, owner, now, leaseMs))) throw new SyncError('Another run took over this backfill (its lease ran out).');
      if (batch.messages.length > 0) await upsertMessages(tx, store, batch.conversationIds, batch.messages, (batch.fetchedAt ?? now).toISOString(), { touchConversations: false });
      await recordHistoryProgress(tx, store, batch.history);
      await saveBackfillProgress(tx, accountId, { ...checkpoint, messages: batch.messages.length, now });
    });
    progress.messages += batch.messages.length;
    progress.conversations += checkpoint.conversations;
    options.onProgress?.({ ...progress });
  };

  try {
    let cursor = state.backfillCursor;
    for (;;) {
      const page = await connector.listConversations(cursor);
      const stored = await db.transaction((tx) => upsertConversations(tx, store, page.items.map(toConversationInput)));
      let batch = new Batch();
      for (const conversation of page.items) {
        const row = stored.get(conversation.providerId)!;
        // A restart walks complete conversations again from their newest message (edits, deletions).
        if (row.historyComplete && !state.rewalk) continue;
        let messagesCursor = row.historyComplete ? null : row.historyCursor;
        for (;;) {
          const fetchedAt = clock.now();
          const messages = await connector.listMessages(conversation.providerId, messagesCursor);
          batch.add(conversation.providerId, row.id, messages.items, { conversationId: row.id, cursor: messages.nextCursor, complete: messages.nextCursor === null }, fetchedAt);
          if (batch.messages.length >= batchSize) {
            await flush(batch, { conversations: 0 });
            batch = new Batch();
            if (overBudget()) return outcome('paused');
          }
          if (messages.nextCursor === null) break;
          messagesCursor = messages.nextCursor;
        }
      }
      progress.pages++;
      await flush(batch, { cursor: page.nextCursor, conversations: page.items.length, completed: page.nextCursor === null });
      if (page.nextCursor === null) return outcome('completed');
      cursor = page.nextCursor;
      if (overBudget()) return outcome('paused');
    }
  } finally {
    await releaseBackfill(db, accountId, owner).catch(() => {});
  }
}

export function toConversationInput(conversation: ProviderConversation) {
  return {
    providerId: conversation.providerId,
    name: conversation.name,
    participant: conversation.participant,
    unreadCount: conversation.unreadCount,
    lastMessageAt: conversation.lastMessageAt,
  };
}

/**
 * Walks one conversation's older history from where it stopped, to its first message or until
 * `signal` aborts (read-through, polling of conversations discovered by events).
 */
export async function completeConversationHistory(
  ctx: SyncContext,
  store: StoreAccount,
  conversation: { id: string; providerId: string; historyCursor: string | null },
  connector: ReturnType<SyncContext['connectors']['forAccount']>,
  options: { signal?: AbortSignal } = {},
): Promise<number> {
  let cursor = conversation.historyCursor;
  let written = 0;
  const ids = new Map([[conversation.providerId, conversation.id]]);
  for (;;) {
    const fetchedAt = ctx.clock.now();
    const page = await connector.listMessages(conversation.providerId, cursor, options.signal ? { signal: options.signal } : {});
    await ctx.db.transaction(async (tx: Queryable) => {
      await upsertMessages(tx, store, ids, page.items, fetchedAt.toISOString());
      await recordHistoryProgress(tx, store, [{ conversationId: conversation.id, cursor: page.nextCursor, complete: page.nextCursor === null }]);
    });
    written += page.items.length;
    if (page.nextCursor === null) return written;
    cursor = page.nextCursor;
  }
}
