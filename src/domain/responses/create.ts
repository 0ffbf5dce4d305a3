import { MANUAL_CONNECTOR, NOT_CONNECTED } from '../../connectors/manual/connector.js';
import type { Clock } from '../../clock.js';
import { newId } from '../../ids.js';
import { resolvePacing } from '../../scheduler/pacing.js';
import { enqueueJob } from '../../scheduler/queue.js';
import type { Queryable } from '../../storage/db.js';
import { ApiError, validationError } from '../errors.js';
import { type Channel, type ResponseRow, RESPONSE_COLUMNS, type ScheduledResponse, toScheduledResponse } from './model.js';

/**
 * LinkedIn's own limits (LinkedIn Help: messages up to 8,000 characters; InMail subject up to 200
 * and body up to 1,900 characters). A longer text would be refused at send time, hours later;
 * refusing it now tells the caller while they can still fix it.
 */
export const LIMITS = { directMessage: 8000, inmailBody: 1900, subject: 200 } as const;

export const SEND_RESPONSE_JOB = 'send_response';

export interface ScheduleResponseInput {
  prospectId: string;
  message: string;
  channel?: Channel;
  conversationId?: string;
  subject?: string;
}

interface AccountRow {
  id: string;
  account_type: string;
  status: string;
  connector: string;
  pacing: Record<string, unknown>;
}

/** Checks that depend only on the body (400s). */
export function checkResponseBody(input: ScheduleResponseInput): void {
  const channel = input.channel ?? 'direct_message';
  if (input.message.trim().length === 0) throw validationError("Body field 'message' must contain text; it is empty or only whitespace.");
  const limit = channel === 'inmail' ? LIMITS.inmailBody : LIMITS.directMessage;
  if ([...input.message].length > limit) {
    throw validationError(`Body field 'message' is longer than LinkedIn allows for ${channel === 'inmail' ? 'an InMail' : 'a direct message'}: at most ${limit} characters.`);
  }
  if (channel === 'inmail' && (input.subject === undefined || input.subject.trim().length === 0)) {
    throw validationError("Body field 'subject' is required when 'channel' is 'inmail': give the InMail a subject line.");
  }
  if (input.subject !== undefined && [...input.subject].length > LIMITS.subject) {
    throw validationError(`Body field 'subject' must be at most ${LIMITS.subject} characters.`);
  }
}

const unprocessable = (message: string) => validationError(message, '', 422);

const inmailCapable = (account: AccountRow) => resolvePacing(account.account_type, account.pacing).dailyCaps.inmail > 0;

/**
 * Resolves the prospect, conversation and sending account for a reply and queues it with its send
 * job, all through `tx` (the caller's transaction). Throws 422 for references that do not fit and
 * 409 when the sending account cannot send.
 */
export async function scheduleResponse(tx: Queryable, clock: Clock, accountGroupId: string, input: ScheduleResponseInput): Promise<ScheduledResponse> {
  checkResponseBody(input);
  const channel = input.channel ?? 'direct_message';
  const [prospect] = await tx.query<{ id: string; provider_id: string }>('SELECT id, provider_id FROM prospects WHERE id = $1 AND account_group_id = $2', [
    input.prospectId,
    accountGroupId,
  ]);
  if (!prospect) throw unprocessable("Body field 'prospectId' does not name a prospect of this account group.");

  let conversation: { id: string; account_id: string } | undefined;
  if (input.conversationId !== undefined) {
    const [row] = await tx.query<{ id: string; account_id: string; participant_provider_id: string | null }>(
      'SELECT id, account_id, participant_provider_id FROM conversations WHERE id = $1 AND account_group_id = $2',
      [input.conversationId, accountGroupId],
    );
    if (!row) throw unprocessable("Body field 'conversationId' does not name a conversation of this account group.");
    if (row.participant_provider_id !== prospect.provider_id) throw unprocessable("Body field 'conversationId' names a conversation with someone other than this prospect.");
    conversation = row;
  } else if (channel === 'direct_message') {
    // The prospect's most recent conversation with any connected account of the group.
    [conversation] = await tx.query<{ id: string; account_id: string }>(
      `SELECT id, account_id FROM conversations WHERE account_group_id = $1 AND participant_provider_id = $2
       ORDER BY last_message_at DESC NULLS LAST, id DESC LIMIT 1`,
      [accountGroupId, prospect.provider_id],
    );
    if (!conversation) {
      throw unprocessable("This prospect has no conversation with any connected account, so a direct message has nowhere to go. Use channel 'inmail' with a 'subject' to start one.");
    }
  }

  let account: AccountRow | undefined;
  if (conversation) {
    [account] = await tx.query<AccountRow>('SELECT id, account_type, status, connector, pacing FROM connected_accounts WHERE id = $1 AND account_group_id = $2', [
      conversation.account_id,
      accountGroupId,
    ]);
    if (channel === 'inmail' && account && !inmailCapable(account)) {
      throw unprocessable("The account holding 'conversationId' cannot send InMail (no InMail allowance). Use channel 'direct_message', or omit 'conversationId'.");
    }
  } else {
    const accounts = await tx.query<AccountRow>(
      `SELECT id, account_type, status, connector, pacing FROM connected_accounts WHERE account_group_id = $1
       ORDER BY (status = 'connected') DESC, created_at, id`,
      [accountGroupId],
    );
    account = accounts.find((candidate) => inmailCapable(candidate) && candidate.connector !== MANUAL_CONNECTOR);
    if (!account) throw unprocessable('No connected account of this account group can send InMail (a Sales Navigator or Recruiter seat, or an account configured with an InMail allowance).');
  }
  if (!account) throw unprocessable('The conversation has no connected account.');
  if (account.connector === MANUAL_CONNECTOR) throw new ApiError('CONFLICT', NOT_CONNECTED, `accountId: ${account.id}`);
  if (account.status !== 'connected') {
    throw new ApiError('CONFLICT', `The sending account is ${account.status}; it cannot queue messages until it is reconnected.`, `accountId: ${account.id}`);
  }

  const [parent] = conversation
    ? await tx.query<{ id: string }>('SELECT id FROM messages WHERE conversation_id = $1 AND is_sender = false ORDER BY sent_at DESC, id DESC LIMIT 1', [conversation.id])
    : [];
  const now = clock.now();
  const id = newId(now);
  const [row] = await tx.query<ResponseRow>(
    `INSERT INTO scheduled_responses AS r (id, account_group_id, prospect_id, account_id, conversation_id, recipient_provider_id, parent_message_id,
       channel, subject, message, status, scheduled_for, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', $11, $11, $11)
     RETURNING ${RESPONSE_COLUMNS}`,
    [id, accountGroupId, prospect.id, account.id, conversation?.id ?? null, prospect.provider_id, parent?.id ?? null, channel, input.subject ?? null, input.message, now.toISOString()],
  );
  await enqueueJob(tx, SEND_RESPONSE_JOB, { responseId: id }, now, now);
  return toScheduledResponse(row!);
}
