import type { Clock } from '../clock.js';
import type { ConnectorRegistry } from '../connectors/registry.js';
import { ConnectorError, type SendRequest, type SendResult } from '../connectors/types.js';
import { newId } from '../ids.js';
import type { Db, Queryable } from '../storage/db.js';
import { type PacingPolicy, earliestSendTime, nextSlot, resolvePacing, startOfLocalDay } from './pacing.js';
import { type Job, completeJob, rescheduleJob } from './queue.js';
import { MAX_SEND_ATTEMPTS, backoffMs } from './retry.js';

export interface SendContext {
  db: Db;
  clock: Clock;
  connectors: ConnectorRegistry;
  random: () => number;
  /** A send call that takes longer is abandoned and treated as ambiguous. Keep it well under the job lease. */
  sendTimeoutMs: number;
  onOutcome?: (outcome: SendOutcome) => void;
}

export type SendOutcome = 'sent' | 'reconciled' | 'deferred' | 'retry' | 'ambiguous' | 'failed' | 'cancelled' | 'waiting_for_account';

/** How long replies of a disconnected or paused account wait before the account is checked again. */
const ACCOUNT_RECHECK_MS = 5 * 60_000;

interface WorkRow {
  id: string;
  status: string;
  account_group_id: string;
  account_id: string;
  conversation_id: string | null;
  conversation_provider_id: string | null;
  recipient_provider_id: string;
  parent_message_id: string | null;
  channel: 'direct_message' | 'inmail';
  subject: string | null;
  message: string;
  attempts: number;
  created_at: Date;
  prospect_name: string | null;
  account_status: string;
  account_type: string;
  provider_account_id: string;
  connector: string;
  settings: Record<string, unknown>;
  pacing: Record<string, unknown>;
  time_zone: string;
}

async function loadWork(db: Queryable, responseId: string): Promise<WorkRow | undefined> {
  const [row] = await db.query<WorkRow>(
    `SELECT r.id, r.status, r.account_group_id, r.account_id, r.conversation_id, c.provider_id AS conversation_provider_id,
            r.recipient_provider_id, r.parent_message_id, r.channel, r.subject, r.message, r.attempts, r.created_at, p.name AS prospect_name,
            a.status AS account_status, a.account_type, a.provider_account_id, a.connector, a.settings, a.pacing, a.time_zone
     FROM scheduled_responses r
     JOIN connected_accounts a ON a.id = r.account_id
     JOIN prospects p ON p.id = r.prospect_id
     LEFT JOIN conversations c ON c.id = r.conversation_id
     WHERE r.id = $1`,
    [responseId],
  );
  return row;
}

/**
 * Delivers one scheduled response, exactly once in effect:
 * 1. A response left `sending` by an earlier attempt (crash or timeout mid-call) is first looked up
 *    at the provider by its dedupe id (the response id); if it went out, it is recorded, not resent.
 * 2. Pacing: the account's row is locked while its daily count and next free slot are checked; a
 *    send that may not start yet is deferred without counting as an attempt.
 * 3. `sending` is committed before the provider call, so a crash during the call is recognisable.
 * 4. On success the message enters the history and the response becomes `sent` in one transaction.
 */
export async function runSendResponse(ctx: SendContext, job: Job<{ responseId: string }>): Promise<SendOutcome> {
  const outcome = await deliver(ctx, job);
  ctx.onOutcome?.(outcome);
  return outcome;
}

async function deliver(ctx: SendContext, job: Job<{ responseId: string }>): Promise<SendOutcome> {
  const { db, clock } = ctx;
  const work = await loadWork(db, job.payload.responseId);
  if (!work || work.status === 'sent' || work.status === 'failed' || work.status === 'cancelled') {
    await completeJob(db, job.id);
    return 'cancelled';
  }
  if (work.account_status !== 'connected') {
    await rescheduleJob(db, job.id, new Date(clock.now().getTime() + ACCOUNT_RECHECK_MS), { countAttempt: false, error: `account ${work.account_status}` });
    return 'waiting_for_account';
  }
  const connector = ctx.connectors.forAccount({
    id: work.account_id,
    accountGroupId: work.account_group_id,
    connector: work.connector,
    providerAccountId: work.provider_account_id,
    accountType: work.account_type,
    settings: work.settings,
  });
  const request: SendRequest = {
    dedupeId: work.id,
    channel: work.channel,
    conversationProviderId: work.conversation_provider_id,
    recipientProviderId: work.recipient_provider_id,
    subject: work.subject,
    text: work.message,
    // No attempt can be older than the response: lets connectors without dedupe ids (Unipile)
    // bound their reconciliation search.
    notBefore: new Date(work.created_at).toISOString(),
  };

  if (work.status === 'sending') {
    let found: SendResult | null;
    try {
      found = await connector.findSent(request);
    } catch (error) {
      return retryLater(ctx, job, work, error, 'sending');
    }
    if (found) {
      await recordSent(db, clock, job.id, work, found);
      return 'reconciled';
    }
  }

  const started = await startSending(ctx, job, work);
  if (started !== 'started') return started;

  let result: SendResult;
  try {
    result = await connector.send(request, AbortSignal.timeout(ctx.sendTimeoutMs));
  } catch (error) {
    const kind = error instanceof ConnectorError ? error.kind : (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError' ? 'timeout' : 'unknown';
    return handleSendError(ctx, job, work, error, kind);
  }
  await recordSent(db, clock, job.id, work, result);
  return 'sent';
}

async function startSending(ctx: SendContext, job: Job, work: WorkRow): Promise<SendOutcome | 'started'> {
  const { clock } = ctx;
  return ctx.db.transaction(async (tx) => {
    const now = clock.now();
    const policy = resolvePacing(work.account_type, work.pacing);
    // Locking the account row serializes this account's pacing decisions across workers; with
    // pacing off there is nothing to decide, and sends of one account may run in parallel.
    const earliest = policy.enabled ? await pacedStart(tx, work, policy, now) : now;
    if (earliest > now) {
      await tx.query('UPDATE scheduled_responses SET scheduled_for = $2 WHERE id = $1', [work.id, earliest.toISOString()]);
      await rescheduleJob(tx, job.id, earliest, { countAttempt: false });
      return 'deferred';
    }
    // `sent_at` is stamped when the send starts so that a send in flight counts against today's cap.
    const updated = await tx.query(
      `UPDATE scheduled_responses SET status = 'sending', attempts = attempts + 1, sent_at = $2, scheduled_for = $2, updated_at = $2
       WHERE id = $1 AND status IN ('queued', 'sending') RETURNING id`,
      [work.id, now.toISOString()],
    );
    if (updated.length === 0) {
      await tx.query('DELETE FROM jobs WHERE id = $1', [job.id]);
      return 'cancelled';
    }
    if (policy.enabled) {
      await tx.query('UPDATE connected_accounts SET next_send_at = $2 WHERE id = $1', [work.account_id, nextSlot(now, policy, ctx.random).toISOString()]);
    }
    return 'started';
  });
}

async function pacedStart(tx: Queryable, work: WorkRow, policy: PacingPolicy, now: Date): Promise<Date> {
  const [account] = await tx.query<{ next_send_at: Date | null }>('SELECT next_send_at FROM connected_accounts WHERE id = $1 FOR UPDATE', [work.account_id]);
  const [{ count } = { count: 0 }] = await tx.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM scheduled_responses
     WHERE account_id = $1 AND channel = $2 AND status IN ('sent', 'sending') AND sent_at >= $3 AND id <> $4`,
    [work.account_id, work.channel, startOfLocalDay(now, work.time_zone).toISOString(), work.id],
  );
  const earliest = earliestSendTime({
    now,
    policy,
    timeZone: work.time_zone,
    channel: work.channel,
    sentToday: count,
    nextSendAt: account?.next_send_at ? new Date(account.next_send_at) : null,
  });
  // An account's replies leave in the order they were queued. Workers run the jobs they claim
  // concurrently, so a younger reply can reach this lock first: it yields the slot to any older
  // one of the same channel still queued, and looks again one gap later.
  const [older] = await tx.query(
    `SELECT 1 FROM scheduled_responses
     WHERE account_id = $1 AND channel = $2 AND status = 'queued' AND (created_at, id) < ($3::timestamptz, $4) LIMIT 1`,
    [work.account_id, work.channel, new Date(work.created_at).toISOString(), work.id],
  );
  if (!older) return earliest;
  return new Date(Math.max(earliest.getTime(), now.getTime() + Math.max(1, policy.minGapSeconds) * 1000));
}

async function handleSendError(ctx: SendContext, job: Job, work: WorkRow, error: unknown, kind: string): Promise<SendOutcome> {
  const { db, clock } = ctx;
  const message = error instanceof Error ? error.message : String(error);
  const now = clock.now();
  switch (kind) {
    case 'timeout':
      // Unknown whether LinkedIn got it: stay `sending`, so the next attempt asks before resending.
      return retryLater(ctx, job, work, error, 'sending');
    case 'permanent':
      await fail(db, clock, job.id, work.id, 'SEND_REJECTED', message);
      return 'failed';
    case 'rate_limited': {
      const wait = error instanceof ConnectorError && error.retryAfterMs ? error.retryAfterMs : 60_000;
      await db.transaction(async (tx) => {
        await tx.query(`UPDATE scheduled_responses SET status = 'queued', sent_at = NULL, updated_at = $2, scheduled_for = $3 WHERE id = $1`, [
          work.id,
          now.toISOString(),
          new Date(now.getTime() + wait).toISOString(),
        ]);
        await rescheduleJob(tx, job.id, new Date(now.getTime() + wait), { countAttempt: false, error: message });
      });
      return 'deferred';
    }
    case 'auth_expired':
      await db.transaction(async (tx) => {
        await tx.query(`UPDATE connected_accounts SET status = 'disconnected' WHERE id = $1`, [work.account_id]);
        await tx.query(`UPDATE scheduled_responses SET status = 'queued', sent_at = NULL, updated_at = $2 WHERE id = $1`, [work.id, now.toISOString()]);
        await rescheduleJob(tx, job.id, new Date(now.getTime() + ACCOUNT_RECHECK_MS), { countAttempt: false, error: message });
      });
      return 'waiting_for_account';
    default:
      // Transient: the provider said no, so nothing was sent.
      return retryLater(ctx, job, work, error, 'queued');
  }
}

async function retryLater(ctx: SendContext, job: Job, work: WorkRow, error: unknown, status: 'queued' | 'sending'): Promise<SendOutcome> {
  const { db, clock } = ctx;
  const message = error instanceof Error ? error.message : String(error);
  if (job.attempts >= MAX_SEND_ATTEMPTS) {
    await fail(db, clock, job.id, work.id, status === 'sending' ? 'DELIVERY_UNCONFIRMED' : 'SEND_FAILED', `Gave up after ${job.attempts} attempts: ${message}`);
    return 'failed';
  }
  const now = clock.now();
  const at = new Date(now.getTime() + backoffMs(job.attempts, ctx.random));
  await db.transaction(async (tx) => {
    await tx.query(
      `UPDATE scheduled_responses SET status = $2, sent_at = CASE WHEN $2 = 'queued' THEN NULL ELSE sent_at END, updated_at = $3, scheduled_for = $4
       WHERE id = $1 AND status IN ('queued', 'sending')`,
      [work.id, status, now.toISOString(), at.toISOString()],
    );
    await rescheduleJob(tx, job.id, at, { countAttempt: true, error: message });
  });
  return status === 'sending' ? 'ambiguous' : 'retry';
}

async function fail(db: Db, clock: Clock, jobId: string, responseId: string, code: string, message: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(
      `UPDATE scheduled_responses SET status = 'failed', sent_at = NULL, failure_code = $2, failure_message = $3, updated_at = $4
       WHERE id = $1 AND status IN ('queued', 'sending')`,
      [responseId, code, message.slice(0, 500), clock.now().toISOString()],
    );
    await completeJob(tx, jobId);
  });
}

/**
 * A send job given up on by the worker (its handler threw on every attempt: a bug or a poison row,
 * not a connector failure, which ends the reply `failed` on its own) takes its reply with it, so no
 * reply waits `queued` for ever without a job. A reply that was `sending` may have reached
 * LinkedIn: DELIVERY_UNCONFIRMED, as after exhausted retries.
 */
export async function giveUpOnSend(tx: Queryable, job: Job<{ responseId: string }>, error: string, now: Date): Promise<void> {
  await tx.query(
    `UPDATE scheduled_responses SET status = 'failed', sent_at = NULL, updated_at = $3,
            failure_code = CASE WHEN status = 'sending' THEN 'DELIVERY_UNCONFIRMED' ELSE 'SEND_FAILED' END, failure_message = $2
     WHERE id = $1 AND status IN ('queued', 'sending')`,
    [job.payload.responseId, `The scheduler gave up after repeated internal failures: ${error}`.slice(0, 500), now.toISOString()],
  );
}

/** The message enters the history and the response becomes `sent`, together. */
async function recordSent(db: Db, clock: Clock, jobId: string, work: WorkRow, result: SendResult): Promise<void> {
  const sentAt = new Date(result.sentAt).toISOString();
  await db.transaction(async (tx) => {
    let conversationId = work.conversation_id;
    if (!conversationId) {
      const [conversation] = await tx.query<{ id: string }>(
        `INSERT INTO conversations (id, account_group_id, account_id, provider_id, name, participant_provider_id, unread_count, last_message_at)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7)
         ON CONFLICT (account_id, provider_id) DO UPDATE SET last_message_at = GREATEST(conversations.last_message_at, EXCLUDED.last_message_at)
         RETURNING id`,
        [newId(), work.account_group_id, work.account_id, result.conversationProviderId, work.prospect_name, work.recipient_provider_id, sentAt],
      );
      conversationId = conversation!.id;
    } else {
      await tx.query('UPDATE conversations SET last_message_at = GREATEST(last_message_at, $2) WHERE id = $1', [conversationId, sentAt]);
    }
    // The provider may already have reported this message through sync; then it is stored once.
    await tx.query(
      `INSERT INTO messages (id, account_group_id, account_id, conversation_id, provider_message_id, sender_provider_id, is_sender, text, sent_at, parent_message_id, attachments)
       VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8, $9, '[]') ON CONFLICT (account_id, provider_message_id) DO NOTHING`,
      [newId(), work.account_group_id, work.account_id, conversationId, result.providerMessageId, work.provider_account_id, work.message, sentAt, work.parent_message_id],
    );
    const [message] = await tx.query<{ id: string }>('SELECT id FROM messages WHERE account_id = $1 AND provider_message_id = $2', [work.account_id, result.providerMessageId]);
    await tx.query(
      `UPDATE scheduled_responses SET status = 'sent', sent_at = $2, sent_message_id = $3, conversation_id = $4, updated_at = $5 WHERE id = $1`,
      [work.id, sentAt, message!.id, conversationId, clock.now().toISOString()],
    );
    await completeJob(tx, jobId);
  });
}
