import type { Queryable } from '../../storage/db.js';
import { isoTimestamp } from '../../storage/sqlFragments.js';

export const RESPONSE_STATUSES = ['queued', 'sending', 'sent', 'failed', 'cancelled'] as const;
export type ResponseStatus = (typeof RESPONSE_STATUSES)[number];
export const CHANNELS = ['direct_message', 'inmail'] as const;
export type Channel = (typeof CHANNELS)[number];

/** A scheduled message response as the API shows it. */
export interface ScheduledResponse {
  id: string;
  status: ResponseStatus;
  prospectId: string;
  accountId: string;
  conversationId: string | null;
  channel: Channel;
  subject: string | null;
  message: string;
  scheduledFor: string;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
  sentMessageId: string | null;
  failure: { code: string; message: string } | null;
}

export const RESPONSE_COLUMNS = `r.id, r.status, r.prospect_id AS "prospectId", r.account_id AS "accountId",
  r.conversation_id AS "conversationId", r.channel, r.subject, r.message,
  ${isoTimestamp('r.scheduled_for')} AS "scheduledFor", ${isoTimestamp('r.created_at')} AS "createdAt",
  ${isoTimestamp('r.updated_at')} AS "updatedAt", ${isoTimestamp('r.sent_at')} AS "sentAt",
  r.sent_message_id AS "sentMessageId", r.failure_code, r.failure_message`;

export type ResponseRow = Omit<ScheduledResponse, 'failure'> & { failure_code: string | null; failure_message: string | null };

export function toScheduledResponse(row: ResponseRow): ScheduledResponse {
  const { failure_code, failure_message, ...rest } = row;
  return { ...rest, failure: failure_code ? { code: failure_code, message: failure_message ?? '' } : null };
}

export async function getScheduledResponse(db: Queryable, accountGroupId: string, id: string): Promise<ScheduledResponse | null> {
  const [row] = await db.query<ResponseRow>(`SELECT ${RESPONSE_COLUMNS} FROM scheduled_responses r WHERE r.id = $1 AND r.account_group_id = $2`, [
    id,
    accountGroupId,
  ]);
  return row ? toScheduledResponse(row) : null;
}
