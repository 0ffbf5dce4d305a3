import type { Queryable } from '../storage/db.js';

/** A prospect of the group with a conversation, so the banner can offer a reply that will go out. */
export async function demoReplyTarget(db: Queryable, accountGroupId: string): Promise<string | null> {
  const [row] = await db.query<{ id: string }>(
    `SELECT p.id FROM prospects p
     JOIN conversations c ON c.account_group_id = p.account_group_id AND c.participant_provider_id = p.provider_id
     JOIN connected_accounts a ON a.id = c.account_id AND a.status = 'connected'
     WHERE p.account_group_id = $1 ORDER BY c.last_message_at DESC NULLS LAST, p.id LIMIT 1`,
    [accountGroupId],
  );
  return row?.id ?? null;
}
