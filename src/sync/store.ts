import type { ProviderConversationHint, ProviderMessage, ProviderPerson } from '../connectors/types.js';
import { newId } from '../ids.js';
import type { Queryable } from '../storage/db.js';

/**
 * The write side of sync: what connectors report becomes persons, conversations and messages,
 * idempotently. A message is identified by (account, provider message id): seen twice, it is
 * stored once; seen again edited or deleted, its row is updated, unless the state it carries is
 * older than the one stored (`provider_version`), so events arriving out of order cannot undo a
 * newer state. A deletion is final. Every statement is scoped to one account (and its group).
 */
export interface StoreAccount {
  id: string;
  accountGroupId: string;
}

export interface ConversationInput extends ProviderConversationHint {
  /** Unread count as the provider reports it; undefined leaves the stored count alone. */
  unreadCount?: number | null;
  lastMessageAt?: string | null;
}

export interface StoredConversation {
  id: string;
  providerId: string;
  historyComplete: boolean;
  historyCursor: string | null;
  inserted: boolean;
}

function lastWins<T>(items: readonly T[], key: (item: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const item of items) byKey.set(key(item), item);
  return [...byKey.values()];
}

/** Participants become persons of the group; prospects of the group with the same provider id point at them. */
export async function upsertPersons(db: Queryable, account: StoreAccount, people: readonly ProviderPerson[]): Promise<void> {
  const rows = lastWins(people, (p) => p.providerId);
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO persons (id, account_group_id, provider_id, public_identifier, linkedin_url, name)
     SELECT r.id, $1, r.p, r.pi, r.u, r.n FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS r(id, p, pi, u, n)
     ON CONFLICT (account_group_id, provider_id) DO UPDATE SET
       public_identifier = COALESCE(EXCLUDED.public_identifier, persons.public_identifier),
       linkedin_url = COALESCE(EXCLUDED.linkedin_url, persons.linkedin_url),
       name = COALESCE(EXCLUDED.name, persons.name)
     WHERE (persons.public_identifier, persons.linkedin_url, persons.name) IS DISTINCT FROM
           (COALESCE(EXCLUDED.public_identifier, persons.public_identifier), COALESCE(EXCLUDED.linkedin_url, persons.linkedin_url), COALESCE(EXCLUDED.name, persons.name))`,
    [
      account.accountGroupId,
      rows.map(() => newId()),
      rows.map((p) => p.providerId),
      rows.map((p) => p.publicIdentifier),
      rows.map((p) => p.linkedinUrl),
      rows.map((p) => p.name),
    ],
  );
  await db.query(
    `UPDATE prospects pr SET person_id = p.id FROM persons p
     WHERE pr.account_group_id = $1 AND pr.person_id IS NULL AND pr.provider_id = ANY($2::text[])
       AND p.account_group_id = $1 AND p.provider_id = pr.provider_id`,
    [account.accountGroupId, rows.map((p) => p.providerId)],
  );
}

/**
 * Inserts or refreshes conversations (name, participant, last activity; unread count when given)
 * and their participants. New conversations start with `history_complete = false`: their older
 * messages are not stored yet. Returns every conversation by provider id.
 */
export async function upsertConversations(db: Queryable, account: StoreAccount, conversations: readonly ConversationInput[]): Promise<Map<string, StoredConversation>> {
  const rows = lastWins(conversations, (c) => c.providerId);
  if (rows.length === 0) return new Map();
  await upsertPersons(
    db,
    account,
    rows.flatMap((c) => (c.participant ? [c.participant] : [])),
  );
  const stored = await db.query<{ id: string; provider_id: string; history_complete: boolean; history_cursor: string | null; inserted: boolean }>(
    `INSERT INTO conversations AS c (id, account_group_id, account_id, provider_id, name, participant_provider_id, unread_count, last_message_at, history_complete)
     SELECT r.id, $1, $2, r.p, r.n, r.pp, COALESCE(r.u, 0), r.l, false
     FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::timestamptz[]) AS r(id, p, n, pp, u, l)
     ON CONFLICT (account_id, provider_id) DO UPDATE SET
       name = COALESCE(EXCLUDED.name, c.name),
       participant_provider_id = COALESCE(EXCLUDED.participant_provider_id, c.participant_provider_id),
       last_message_at = GREATEST(c.last_message_at, EXCLUDED.last_message_at)
     RETURNING c.id, c.provider_id, c.history_complete, c.history_cursor, (c.xmax = 0) AS inserted`,
    [
      account.accountGroupId,
      account.id,
      rows.map(() => newId()),
      rows.map((c) => c.providerId),
      rows.map((c) => c.name ?? null),
      rows.map((c) => c.participant?.providerId ?? null),
      rows.map((c) => c.unreadCount ?? null),
      rows.map((c) => c.lastMessageAt ?? null),
    ],
  );
  const result = new Map<string, StoredConversation>();
  for (const row of stored) {
    result.set(row.provider_id, { id: row.id, providerId: row.provider_id, historyComplete: row.history_complete, historyCursor: row.history_cursor, inserted: row.inserted });
  }
  const unread = rows.filter((c) => typeof c.unreadCount === 'number');
  if (unread.length > 0) {
    await db.query(
      `UPDATE conversations c SET unread_count = r.u FROM unnest($2::text[], $3::int[]) AS r(id, u)
       WHERE c.id = r.id AND c.account_id = $1 AND c.unread_count <> r.u`,
      [account.id, unread.map((c) => result.get(c.providerId)!.id), unread.map((c) => c.unreadCount!)],
    );
  }
  return result;
}

export interface MessageWriteResult {
  /** Messages newly stored. */
  inserted: number;
  /** Newly stored messages from the other side, by conversation id (webhooks raise unread counts by these). */
  insertedInbound: Map<string, number>;
}

const INSERT_MESSAGES = `WITH written AS (
  INSERT INTO messages AS m (id, account_group_id, account_id, conversation_id, provider_message_id, sender_provider_id, is_sender, text, sent_at,
                             parent_message_id, parent_provider_message_id, attachments, edited_at, deleted_at, provider_version)
  -- The parent is looked up per row through the unique index (a join could scan all messages).
  SELECT r.id, $1, $2, r.c, r.p, r.s, r.i, r.t, r.at,
         CASE WHEN r.pp IS NOT NULL THEN (SELECT parent.id FROM messages parent WHERE parent.account_id = $2 AND parent.provider_message_id = r.pp) END,
         r.pp, r.att::jsonb, r.ed, r.del, $3
  FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::boolean[], $9::text[], $10::timestamptz[], $11::text[], $12::text[],
              $13::timestamptz[], $14::timestamptz[]) AS r(id, c, p, s, i, t, at, pp, att, ed, del)
  ON CONFLICT (account_id, provider_message_id) DO UPDATE SET
    text = CASE WHEN COALESCE(m.deleted_at, EXCLUDED.deleted_at) IS NOT NULL THEN ''
                WHEN m.provider_version IS NULL OR EXCLUDED.provider_version >= m.provider_version THEN EXCLUDED.text ELSE m.text END,
    attachments = CASE WHEN COALESCE(m.deleted_at, EXCLUDED.deleted_at) IS NOT NULL THEN '[]'::jsonb
                       WHEN m.provider_version IS NULL OR EXCLUDED.provider_version >= m.provider_version THEN EXCLUDED.attachments ELSE m.attachments END,
    edited_at = CASE WHEN m.provider_version IS NULL OR EXCLUDED.provider_version >= m.provider_version THEN COALESCE(EXCLUDED.edited_at, m.edited_at) ELSE m.edited_at END,
    deleted_at = COALESCE(m.deleted_at, EXCLUDED.deleted_at),
    provider_version = GREATEST(m.provider_version, EXCLUDED.provider_version),
    parent_provider_message_id = COALESCE(m.parent_provider_message_id, EXCLUDED.parent_provider_message_id),
    parent_message_id = COALESCE(m.parent_message_id, EXCLUDED.parent_message_id)
  WHERE (EXCLUDED.deleted_at IS NOT NULL AND m.deleted_at IS NULL)
     OR (m.deleted_at IS NULL AND (m.provider_version IS NULL OR EXCLUDED.provider_version >= m.provider_version)
         AND (m.text <> EXCLUDED.text OR m.attachments <> EXCLUDED.attachments OR m.edited_at IS DISTINCT FROM COALESCE(EXCLUDED.edited_at, m.edited_at)))
     OR (m.parent_message_id IS NULL AND EXCLUDED.parent_message_id IS NOT NULL)
  RETURNING m.conversation_id, m.is_sender, (m.xmax = 0) AS inserted
)
SELECT conversation_id, count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE inserted AND NOT is_sender)::int AS inbound
FROM written GROUP BY conversation_id`;

interface Row {
  message: ProviderMessage;
  conversationId: string;
}

/**
 * Stores messages (of conversations already stored: `conversationIds` maps provider ids to ours),
 * as the provider showed them at `version`. Replies point at their parent message once both are
 * stored: parents in the same batch are written first, parents stored later are linked then.
 */
export async function upsertMessages(
  db: Queryable,
  account: StoreAccount,
  conversationIds: ReadonlyMap<string, string>,
  messages: readonly ProviderMessage[],
  version: string,
  options: { touchConversations?: boolean } = {},
): Promise<MessageWriteResult> {
  const result: MessageWriteResult = { inserted: 0, insertedInbound: new Map() };
  const rows: Row[] = [];
  for (const message of lastWins(messages, (m) => m.providerMessageId)) {
    const conversationId = conversationIds.get(message.conversationProviderId);
    if (!conversationId) throw new Error(`upsertMessages: conversation ${message.conversationProviderId} is not stored`);
    rows.push({ message, conversationId });
  }
  if (rows.length === 0) return result;

  // A reply and the message it replies to may arrive together: write parents first (by depth).
  const byId = new Map(rows.map((row) => [row.message.providerMessageId, row]));
  const depth = new Map<string, number>();
  const depthOf = (row: Row, seen = 0): number => {
    const known = depth.get(row.message.providerMessageId);
    if (known !== undefined) return known;
    const parent = row.message.parentProviderMessageId ? byId.get(row.message.parentProviderMessageId) : undefined;
    const value = parent && parent !== row && seen < 1000 ? depthOf(parent, seen + 1) + 1 : 0;
    depth.set(row.message.providerMessageId, value);
    return value;
  };
  const levels: Row[][] = [];
  for (const row of rows) (levels[depthOf(row)] ??= []).push(row);

  for (const level of levels) {
    if (!level) continue;
    const written = await db.query<{ conversation_id: string; inserted: number; inbound: number }>(INSERT_MESSAGES, [
      account.accountGroupId,
      account.id,
      version,
      level.map(() => newId()),
      level.map((r) => r.conversationId),
      level.map((r) => r.message.providerMessageId),
      level.map((r) => r.message.senderProviderId),
      level.map((r) => r.message.isSender),
      level.map((r) => (r.message.deleted ? '' : r.message.text)),
      level.map((r) => new Date(r.message.sentAt).toISOString()),
      level.map((r) => r.message.parentProviderMessageId),
      level.map((r) => (r.message.deleted ? '[]' : JSON.stringify(r.message.attachments))),
      level.map((r) => r.message.editedAt ?? null),
      level.map((r) => (r.message.deleted ? version : null)),
    ]);
    for (const row of written) {
      result.inserted += row.inserted;
      if (row.inbound > 0) result.insertedInbound.set(row.conversation_id, (result.insertedInbound.get(row.conversation_id) ?? 0) + row.inbound);
    }
  }

  const conversationList = [...new Set(rows.map((r) => r.conversationId))];
  // Replies stored before their parent (newest-first walks meet replies first) get linked now.
  await db.query(
    `UPDATE messages SET parent_message_id = linked.parent_id
     FROM (SELECT c.id, (SELECT p.id FROM messages p WHERE p.account_id = $2 AND p.provider_message_id = c.parent_provider_message_id) AS parent_id
           FROM messages c
           WHERE c.conversation_id = ANY($1::text[]) AND c.parent_message_id IS NULL AND c.parent_provider_message_id IS NOT NULL) AS linked
     WHERE messages.id = linked.id AND linked.parent_id IS NOT NULL AND messages.account_id = $2`,
    [conversationList, account.id],
  );
  if (options.touchConversations === false) return result;
  // Last activity follows the newest message stored (listings report it themselves).
  const newest = new Map<string, string>();
  for (const { conversationId, message } of rows) {
    const sentAt = new Date(message.sentAt).toISOString();
    if ((newest.get(conversationId) ?? '') < sentAt) newest.set(conversationId, sentAt);
  }
  await db.query(
    `UPDATE conversations c SET last_message_at = r.l FROM unnest($2::text[], $3::timestamptz[]) AS r(id, l)
     WHERE c.id = r.id AND c.account_id = $1 AND (c.last_message_at IS NULL OR c.last_message_at < r.l)`,
    [account.id, [...newest.keys()], [...newest.values()]],
  );
  return result;
}

/** Raises unread counts by newly received messages (webhooks); the next listing sets the provider's exact count. */
export async function addUnread(db: Queryable, account: StoreAccount, byConversation: ReadonlyMap<string, number>): Promise<void> {
  if (byConversation.size === 0) return;
  await db.query(
    `UPDATE conversations c SET unread_count = c.unread_count + r.n FROM unnest($2::text[], $3::int[]) AS r(id, n)
     WHERE c.id = r.id AND c.account_id = $1`,
    [account.id, [...byConversation.keys()], [...byConversation.values()]],
  );
}

export interface HistoryProgress {
  conversationId: string;
  /** Cursor of the next older page; null with `complete`. */
  cursor: string | null;
  complete: boolean;
}

/** Records how far back each conversation's history is stored. Completeness is never undone. */
export async function recordHistoryProgress(db: Queryable, account: StoreAccount, progress: readonly HistoryProgress[]): Promise<void> {
  const rows = lastWins(progress, (p) => p.conversationId);
  if (rows.length === 0) return;
  await db.query(
    `UPDATE conversations c SET history_cursor = CASE WHEN c.history_complete OR r.done THEN NULL ELSE r.cur END,
                                history_complete = c.history_complete OR r.done
     FROM unnest($2::text[], $3::text[], $4::boolean[]) AS r(id, cur, done)
     WHERE c.id = r.id AND c.account_id = $1`,
    [account.id, rows.map((p) => p.conversationId), rows.map((p) => p.cursor), rows.map((p) => p.complete)],
  );
}
