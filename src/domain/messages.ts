import type { Queryable } from '../storage/db.js';
import { isoTimestamp } from '../storage/sqlFragments.js';
import { type CursorCodec, cursorMismatch } from './cursor.js';
import { validationError } from './errors.js';

export const MESSAGE_PAGE_DEFAULT = 50;
export const MESSAGE_PAGE_MAX = 100;

interface MessagePosition {
  v: 1;
  g: string;
  c: string | null;
  t: string;
  i: string;
}

export interface MessagePageQuery {
  accountGroupId: string;
  conversationId?: string;
  limit: number;
  cursor?: string;
}

/**
 * A page of messages. `itemsJson` is the JSON array of items, rendered by the database: the read
 * path's cost is then one text column per row instead of decoding fourteen columns and
 * re-serializing them (see BENCHMARKS.md for what this bought).
 */
export interface MessagePage {
  itemsJson: string;
  nextCursor: string | null;
  hasMore: boolean;
}

// row_to_json of a sub-select renders compact JSON with the API's field names, in this order.
const ITEM_JSON = `(SELECT row_to_json(item)::text FROM (SELECT
  m.id,
  m.text,
  ${isoTimestamp('m.sent_at')} AS "sentAt",
  m.account_id AS "accountId",
  a.account_type AS "accountType",
  m.conversation_id AS "conversationId",
  c.provider_id AS "conversationProviderId",
  c.name AS "conversationName",
  c.participant_provider_id AS "participantProviderId",
  m.sender_provider_id AS "senderId",
  m.is_sender AS "isSender",
  c.unread_count AS "unreadCount",
  m.parent_message_id AS "parentMessageId",
  m.attachments) AS item)`;

/**
 * The four shapes of the page query, each a static text so it is prepared once per connection.
 *
 * The inner LIMIT is a constant (the largest page plus its look-ahead row) so that PostgreSQL's
 * plan cache settles on the generic plan: with only `LIMIT $5` the planner costs a generic plan as
 * if it read 10% of the group, always prefers a custom plan, and so re-plans the query on every
 * execution (0.4 ms of a 1 ms query here, see BENCHMARKS.md). Execution pulls rows on demand, so
 * the inner limit never fetches more than the outer `LIMIT $5` asks for.
 */
function pageSql(byConversation: boolean, afterCursor: boolean): string {
  const scope = byConversation ? 'm.conversation_id = $2 AND m.account_group_id = $1' : 'm.account_group_id = $1 AND $2::text IS NULL';
  const seek = afterCursor ? 'AND (m.sent_at, m.id) < ($3::timestamptz, $4::text)' : 'AND $3::text IS NULL AND $4::text IS NULL';
  return `SELECT ${ITEM_JSON} AS item
    FROM (SELECT m.id, m.text, m.sent_at, m.account_id, m.conversation_id, m.sender_provider_id, m.is_sender, m.parent_message_id, m.attachments
          FROM messages m
          WHERE ${scope} ${seek}
          ORDER BY m.sent_at DESC, m.id DESC
          LIMIT ${MESSAGE_PAGE_MAX + 1}) AS m
    JOIN conversations c ON c.id = m.conversation_id
    JOIN connected_accounts a ON a.id = m.account_id
    ORDER BY m.sent_at DESC, m.id DESC
    LIMIT $5`;
}

export const MESSAGE_PAGE_SQL = {
  group: pageSql(false, false),
  groupAfter: pageSql(false, true),
  conversation: pageSql(true, false),
  conversationAfter: pageSql(true, true),
};

export async function conversationInGroup(db: Queryable, accountGroupId: string, conversationId: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM conversations WHERE id = $1 AND account_group_id = $2', [conversationId, accountGroupId]);
  return rows.length > 0;
}

/**
 * Fetches the older history of a conversation whose sync has not reached its first message
 * (`src/sync/readThrough.ts`); throws an UPSTREAM_ERROR ApiError when LinkedIn fails.
 */
export type HistoryReadThrough = (conversation: { id: string; accountGroupId: string }) => Promise<void>;

export async function listMessages(db: Queryable, cursors: CursorCodec, query: MessagePageQuery, readThrough?: HistoryReadThrough): Promise<MessagePage> {
  const conversationId = query.conversationId ?? null;
  let after: MessagePosition | null = null;
  if (query.cursor !== undefined) {
    after = cursors.decode<MessagePosition>(query.cursor);
    if (after.v !== 1 || after.g !== query.accountGroupId || after.c !== conversationId) throw cursorMismatch();
  }
  if (conversationId !== null) {
    // The one conversation lookup also says whether its history is complete (read-through).
    const [conversation] = await db.query<{ history_complete: boolean }>('SELECT history_complete FROM conversations WHERE id = $1 AND account_group_id = $2', [
      conversationId,
      query.accountGroupId,
    ]);
    if (!conversation) {
      throw validationError(
        `Query parameter 'conversationId' does not name a conversation in this account group. Use a conversationId from this group's messages, or omit it to list every conversation.`,
      );
    }
    if (!conversation.history_complete && readThrough) await readThrough({ id: conversationId, accountGroupId: query.accountGroupId });
  }
  const sql = conversationId === null ? (after ? MESSAGE_PAGE_SQL.groupAfter : MESSAGE_PAGE_SQL.group) : after ? MESSAGE_PAGE_SQL.conversationAfter : MESSAGE_PAGE_SQL.conversation;
  const rows = await db.query<{ item: string }>(sql, [
    query.accountGroupId,
    conversationId,
    after?.t ?? null,
    after?.i ?? null,
    query.limit + 1,
  ]);
  const hasMore = rows.length > query.limit;
  const page = hasMore ? rows.slice(0, query.limit) : rows;
  // The cursor's position is read back from the last item (sentAt is already in the cursor's
  // format): separate id and sent_at columns cost a second to_char per row for one row's use.
  const last = hasMore ? (JSON.parse(page.at(-1)!.item) as { id: string; sentAt: string }) : null;
  const nextCursor = last ? cursors.encode({ v: 1, g: query.accountGroupId, c: conversationId, t: last.sentAt, i: last.id } satisfies MessagePosition) : null;
  return { itemsJson: '[' + page.map((row) => row.item).join(',') + ']', nextCursor, hasMore };
}
