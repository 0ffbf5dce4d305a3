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
                           is_sender, text, sent_at, parent_message_id, attachments)
     SELECT id, g, a, c, p, s, i, t, at, pm, att::jsonb
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::text[],
                 $9::timestamptz[], $10::text[], $11::text[]) AS r(id, g, a, c, p, s, i, t, at, pm, att)
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
    ],
  );
  return inserted.map((row) => row.id);
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
