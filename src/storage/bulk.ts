import type { Queryable } from './db.js';

export interface MessageRow {
  id: string;
  accountGroupId: string;
  accountId: string;
  conversationId: string;
  providerMessageId: string;
  senderProviderId: string | null;
  isSender: boolean;
  text: string;
  sentAt: string;
  parentMessageId: string | null;
  /** The provider's id of the parent, kept while `parentMessageId` cannot point at it yet. */
  parentProviderMessageId?: string | null;
  attachments: unknown[];
}

/**
 * Inserts many messages in one statement (arrays unnested server-side), skipping any whose
 * (account, provider message id) is already stored. Returns the ids actually inserted.
 */
export async function insertMessages(db: Queryable, rows: readonly MessageRow[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const inserted = await db.query<{ id: string }>(
    `INSERT INTO messages (id, account_group_id, account_id, conversation_id, provider_message_id, sender_provider_id,
                           is_sender, text, sent_at, parent_message_id, attachments, parent_provider_message_id)
     SELECT id, g, a, c, p, s, i, t, at, pm, att::jsonb, ppm
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::text[],
                 $9::timestamptz[], $10::text[], $11::text[], $12::text[]) AS r(id, g, a, c, p, s, i, t, at, pm, att, ppm)
     ON CONFLICT (account_id, provider_message_id) DO NOTHING
     RETURNING id`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.accountGroupId),
      rows.map((r) => r.accountId),
      rows.map((r) => r.conversationId),
      rows.map((r) => r.providerMessageId),
      rows.map((r) => r.senderProviderId),
      rows.map((r) => r.isSender),
      rows.map((r) => r.text),
      rows.map((r) => r.sentAt),
      rows.map((r) => r.parentMessageId),
      rows.map((r) => JSON.stringify(r.attachments)),
      rows.map((r) => r.parentProviderMessageId ?? null),
    ],
  );
  return inserted.map((row) => row.id);
}

/**
 * Points replies stored before their parent (in an earlier batch, or out of order) at it, in the
 * given conversations; the partial index messages_unresolved_parent keeps this to the replies
 * still waiting. A parent is looked up in the reply's own account only.
 */
export async function linkWaitingReplies(db: Queryable, conversationIds: readonly string[]): Promise<void> {
  if (conversationIds.length === 0) return;
  await db.query(
    `UPDATE messages SET parent_message_id = linked.parent_id
     FROM (SELECT c.id, (SELECT p.id FROM messages p WHERE p.account_id = c.account_id AND p.provider_message_id = c.parent_provider_message_id) AS parent_id
           FROM messages c
           WHERE c.conversation_id = ANY($1::text[]) AND c.parent_message_id IS NULL AND c.parent_provider_message_id IS NOT NULL) AS linked
     WHERE messages.id = linked.id AND linked.parent_id IS NOT NULL`,
    [conversationIds],
  );
}

export interface ConversationRow {
  id: string;
  accountGroupId: string;
  accountId: string;
  providerId: string;
  name: string | null;
  participantProviderId: string | null;
  unreadCount: number;
  lastMessageAt: string | null;
}

/** Inserts conversations or refreshes name, unread count and last activity of existing ones; returns their ids by provider id. */
export async function upsertConversations(db: Queryable, rows: readonly ConversationRow[]): Promise<Map<string, string>> {
  if (rows.length === 0) return new Map();
  const result = await db.query<{ id: string; provider_id: string }>(
    `INSERT INTO conversations (id, account_group_id, account_id, provider_id, name, participant_provider_id, unread_count, last_message_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::timestamptz[])
     ON CONFLICT (account_id, provider_id) DO UPDATE SET
       name = COALESCE(EXCLUDED.name, conversations.name),
       participant_provider_id = COALESCE(EXCLUDED.participant_provider_id, conversations.participant_provider_id),
       unread_count = EXCLUDED.unread_count,
       last_message_at = GREATEST(conversations.last_message_at, EXCLUDED.last_message_at)
     RETURNING id, provider_id`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.accountGroupId),
      rows.map((r) => r.accountId),
      rows.map((r) => r.providerId),
      rows.map((r) => r.name),
      rows.map((r) => r.participantProviderId),
      rows.map((r) => r.unreadCount),
      rows.map((r) => r.lastMessageAt),
    ],
  );
  return new Map(result.map((row) => [row.provider_id, row.id]));
}
