import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../../clock.js';
import { newId } from '../../ids.js';
import type { Queryable } from '../../storage/db.js';
import { ConnectorError, type SendRequest, type SendResult } from '../types.js';
import type { SandboxFaults } from './faults.js';

/**
 * The sandbox's LinkedIn side of sending: every send that "reaches LinkedIn" is a row in
 * `sandbox_sends`, which outlives the worker that made it, as LinkedIn's record would. It does not
 * deduplicate by itself (LinkedIn does not), so a double send shows up in tests; `findSent` is the
 * lookup our reconciliation relies on.
 */
export class SandboxSends {
  constructor(
    private readonly db: Queryable,
    private readonly accountId: string,
    private readonly clock: Clock,
    private readonly faults: SandboxFaults,
    private readonly random: () => number = Math.random,
  ) {}

  async send(request: SendRequest, signal?: AbortSignal): Promise<SendResult> {
    if (this.faults.latencyMs > 0) await delay(this.faults.latencyMs, undefined, signal ? { signal } : {});
    const roll = this.random();
    let threshold = 0;
    const hit = (rate: number) => roll < (threshold += rate);
    if (hit(this.faults.errorRate)) throw new ConnectorError('transient', 'Sandbox: LinkedIn answered 503.');
    if (hit(this.faults.timeoutRate)) throw new ConnectorError('timeout', 'Sandbox: the call timed out.');
    if (hit(this.faults.rateLimitRate)) throw new ConnectorError('rate_limited', 'Sandbox: LinkedIn answered 429.', 60_000);
    if (hit(this.faults.authExpiredRate)) throw new ConnectorError('auth_expired', 'Sandbox: the LinkedIn session expired.');
    const result = await this.record(request);
    if (hit(this.faults.deliveredTimeoutRate)) throw new ConnectorError('timeout', 'Sandbox: the call timed out after delivery.');
    return result;
  }

  async findSent(request: SendRequest): Promise<SendResult | null> {
    const [row] = await this.db.query<SendResult>(
      `SELECT provider_message_id AS "providerMessageId", conversation_provider_id AS "conversationProviderId",
              to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "sentAt"
       FROM sandbox_sends WHERE account_id = $1 AND dedupe_id = $2 ORDER BY sent_at, id LIMIT 1`,
      [this.accountId, request.dedupeId],
    );
    return row ?? null;
  }

  private async record(request: SendRequest): Promise<SendResult> {
    const id = newId();
    const result: SendResult = {
      providerMessageId: `sandbox-msg-${id}`,
      // An InMail opens a new thread with the recipient.
      conversationProviderId: request.conversationProviderId ?? `sandbox-conv-${this.accountId}-${request.recipientProviderId}-${id}`,
      sentAt: this.clock.now().toISOString(),
    };
    await this.db.query(
      `INSERT INTO sandbox_sends (id, account_id, dedupe_id, channel, conversation_provider_id, recipient_provider_id, subject, text, provider_message_id, sent_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [id, this.accountId, request.dedupeId, request.channel, result.conversationProviderId, request.recipientProviderId, request.subject, request.text, result.providerMessageId, result.sentAt],
    );
    return result;
  }
}
