import { expect } from 'vitest';
import { createAccountGroup } from '../../../src/domain/accountGroups.js';
import { createApiKey } from '../../../src/domain/apiKeys.js';
import { addConnectedAccount } from '../../../src/domain/connectedAccounts.js';
import { insertProspect } from '../../../src/domain/prospects.js';
import { newId } from '../../../src/ids.js';
import { upsertConversations } from '../../../src/storage/bulk.js';
import type { Db } from '../../../src/storage/db.js';
import { pause } from './processes.js';

/**
 * A burst of replies POSTed to a real server over HTTP while something bad happens to it (SIGKILLs,
 * a database restart), and the checks of its outcome: Jepsen's total-queue, for replies.
 */
export interface Seeded {
  groupId: string;
  accountId: string;
  key: string;
  prospects: { id: string; conversationId: string }[];
}

/** A group with 20 prospects in conversations of one sandbox account that answers slowly. */
export async function seedBurst(db: Db): Promise<Seeded> {
  const group = await createAccountGroup(db, 'Crash burst');
  const account = await addConnectedAccount(db, { accountGroupId: group.id, accountType: 'linkedin', providerAccountId: `ACoBurst${newId()}` });
  // Slow enough that kills land inside send calls.
  await db.query(`UPDATE connected_accounts SET pacing = '{"enabled":false}', settings = '{"faults":{"latencyMs":20}}' WHERE id = $1`, [account.id]);
  const prospects: Seeded['prospects'] = [];
  for (let i = 0; i < 20; i++) {
    const providerId = `ACoBurst${i}${newId()}`;
    await insertProspect(db, { accountGroupId: group.id, providerId, externalId: `burst-${i}`, name: `P${i}` });
    const [row] = await db.query<{ id: string }>('SELECT id FROM prospects WHERE external_id = $1 AND account_group_id = $2', [`burst-${i}`, group.id]);
    const conversationId = newId();
    await upsertConversations(db, [{ id: conversationId, accountGroupId: group.id, accountId: account.id, providerId: `conv-${conversationId}`, name: null, participantProviderId: providerId, unreadCount: 0, lastMessageAt: null }]);
    prospects.push({ id: row!.id, conversationId });
  }
  const { secret } = await createApiKey(db, { permissions: ['messages:read', 'messages:write'], accountGroupIds: [group.id] });
  return { groupId: group.id, accountId: account.id, key: secret, prospects };
}

/**
 * The client side: `total` requests, a few in flight at a time, each retried with its own
 * Idempotency-Key until it is acknowledged with 202. Remembers every acknowledgement.
 */
export class Burst {
  readonly acked = new Map<number, string>();
  /** Answers that contradict the contract (another id for the same key, an unexpected 4xx). */
  readonly mismatches: string[] = [];
  /** 5xx answers other than 503 SERVICE_UNAVAILABLE, and answers outside the envelope. */
  readonly serverErrors: string[] = [];
  /** 503 SERVICE_UNAVAILABLE answers (shutting down, database unreachable) and whether each had Retry-After. */
  readonly unavailable: { retryAfter: string | null }[] = [];
  attempts = 0;
  unanswered = 0;
  private queue: number[];

  constructor(
    private readonly seeded: Seeded,
    private readonly url: () => string | null,
    readonly total: number,
    private readonly tag: string,
    private readonly random: () => number,
  ) {
    this.queue = Array.from({ length: total }, (_, i) => i);
  }

  body(i: number) {
    const prospect = this.seeded.prospects[i % this.seeded.prospects.length]!;
    return { prospectId: prospect.id, conversationId: prospect.conversationId, message: `burst ${i}` };
  }

  private async send(i: number): Promise<boolean> {
    const base = this.url();
    if (!base) return false;
    this.attempts++;
    let response: Response;
    try {
      response = await fetch(`${base}/v1/accounts/${this.seeded.groupId}/messages/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.seeded.key}`, 'content-type': 'application/json', 'idempotency-key': `burst-${this.tag}-${i}` },
        body: JSON.stringify(this.body(i)),
        signal: AbortSignal.timeout(15_000),
      });
    } catch {
      this.unanswered++;
      return false; // The server died (or was not up yet): no answer; retry with the same key.
    }
    const text = await response.text().catch(() => '');
    let body: { success?: boolean; data?: { id: string }; error?: { code: string } } = {};
    try {
      body = JSON.parse(text);
    } catch {
      this.serverErrors.push(`${response.status} outside the envelope: ${text.slice(0, 200)}`);
    }
    if (response.status === 202) {
      const id = body.data!.id;
      const earlier = this.acked.get(i);
      if (earlier && earlier !== id) this.mismatches.push(`request ${i} acknowledged as ${earlier} and then as ${id}`);
      this.acked.set(i, id);
      return true;
    }
    // 409 IDEMPOTENCY_IN_PROGRESS: a killed server's claim, free again after 30 s. 5xx: retry.
    if (response.status === 503 && body.error?.code === 'SERVICE_UNAVAILABLE') this.unavailable.push({ retryAfter: response.headers.get('retry-after') });
    else if (response.status >= 500) this.serverErrors.push(`${response.status} ${text.slice(0, 200)}`);
    if (response.status < 500 && !(response.status === 409 && body.error?.code === 'IDEMPOTENCY_IN_PROGRESS')) this.mismatches.push(`request ${i} answered ${response.status} ${text.slice(0, 200)}`);
    return false;
  }

  /** Runs `inFlight` clients, each pausing about `paceMs` between requests, until every request is acknowledged. */
  async run(inFlight = 8, paceMs = 0): Promise<void> {
    const client = async () => {
      for (;;) {
        const i = this.queue.shift();
        if (i === undefined) {
          if (this.acked.size >= this.total) return;
          await pause(100);
          continue;
        }
        if (!(await this.send(i))) {
          this.queue.push(i);
          await pause(this.queue.length < inFlight * 2 ? 500 : 20);
        } else if (paceMs > 0) {
          await pause(paceMs * (0.5 + this.random()));
        }
      }
    };
    await Promise.all(Array.from({ length: inFlight }, client));
  }
}

/** lost = 0, duplicated = 0: every acknowledged reply exists with its id, each request made one, each was sent and stored once. */
export async function expectRepliesExactlyOnce(db: Db, seeded: Seeded, burst: Burst) {
  expect(burst.mismatches).toEqual([]);
  expect(burst.acked.size).toBe(burst.total);
  const rows = await db.query<{ id: string; message: string }>('SELECT id, message FROM scheduled_responses WHERE account_group_id = $1', [seeded.groupId]);
  const byMessage = new Map<string, string[]>();
  for (const row of rows) byMessage.set(row.message, [...(byMessage.get(row.message) ?? []), row.id]);
  const lost = [...burst.acked].filter(([i, id]) => !rows.some((row) => row.id === id && row.message === `burst ${i}`));
  const doubled = [...byMessage].filter(([, ids]) => ids.length > 1);
  expect({ lost: lost.length, doubled: doubled.length, replies: rows.length }).toEqual({ lost: 0, doubled: 0, replies: burst.total });
  const statuses = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM scheduled_responses WHERE account_group_id = $1 GROUP BY status', [seeded.groupId]);
  expect(statuses).toEqual([{ status: 'sent', n: burst.total }]);
  expect(await db.query('SELECT dedupe_id FROM sandbox_sends WHERE account_id = $1 GROUP BY dedupe_id HAVING count(*) > 1', [seeded.accountId])).toEqual([]);
  const [sends] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM sandbox_sends WHERE account_id = $1', [seeded.accountId]);
  expect(sends!.n).toBe(burst.total);
  const [stored] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE account_id = $1 AND is_sender', [seeded.accountId]);
  expect(stored!.n).toBe(burst.total);
  expect(await db.query(`SELECT r.id FROM scheduled_responses r LEFT JOIN messages m ON m.id = r.sent_message_id WHERE r.account_group_id = $1 AND m.id IS NULL`, [seeded.groupId])).toEqual([]);
}
