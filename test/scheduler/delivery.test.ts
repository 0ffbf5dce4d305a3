import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOT_CONNECTED } from '../../src/connectors/manual/connector.js';
import { defaultConnectorRegistry } from '../../src/connectors/registry.js';
import { buildApp } from '../../src/http/app.js';
import { connectAccount } from '../../src/sync/accounts.js';
import { createReadThrough } from '../../src/sync/readThrough.js';
import { seededRandom } from '../../src/random.js';
import { deadJobHandlers, jobHandlers } from '../../src/scheduler/handlers.js';
import { SEND_RESPONSE_JOB } from '../../src/domain/responses/create.js';
import { MAX_JOB_ATTEMPTS, MAX_SEND_ATTEMPTS } from '../../src/scheduler/retry.js';
import type { SendOutcome } from '../../src/scheduler/sendResponse.js';
import { Worker } from '../../src/scheduler/worker.js';
import { FakeClock } from '../helpers/fakeClock.js';
import { Harness } from '../helpers/harness.js';
import { replyFixture } from '../helpers/outbound.js';

interface Scheduled {
  id: string;
  status: string;
  scheduledFor: string;
  sentAt: string | null;
  sentMessageId: string | null;
  conversationId: string | null;
  failure: { code: string; message: string } | null;
}

const clock = new FakeClock('2026-05-04T09:00:00.000Z');
let h: Harness;
let worker: Worker;
const outcomes: SendOutcome[] = [];

beforeAll(async () => {
  h = await Harness.create({ clock });
  worker = new Worker({
    db: h.db,
    clock,
    handlers: jobHandlers({ db: h.db, clock, connectors: defaultConnectorRegistry(h.db, clock), random: seededRandom(7), onSendOutcome: (o) => outcomes.push(o) }),
    random: seededRandom(8),
  });
});
afterAll(() => h?.close());

type Fixture = Awaited<ReturnType<typeof replyFixture>>;

async function queue(f: Fixture, message: string, extra: Record<string, unknown> = {}): Promise<Scheduled> {
  const response = await h.request<Scheduled>('POST', `/v1/accounts/${f.groupId}/messages/responses`, { key: f.key, body: { prospectId: f.prospectId, message, ...extra } });
  expect(response.status).toBe(202);
  return response.body.data;
}

const get = async (f: Fixture, id: string) => (await h.get<Scheduled>(`/v1/accounts/${f.groupId}/messages/responses/${id}`, f.key)).body.data;

/** Moves the fake clock forward in steps, letting the worker run at each step. */
async function runFor(ms: number, step = 5_000): Promise<void> {
  for (let elapsed = 0; elapsed <= ms; elapsed += step) {
    while ((await worker.runOnce()) > 0);
    clock.advance(step);
  }
}

async function configure(accountId: string, pacing: object, timeZone = 'UTC', settings: object = {}) {
  await h.db.query('UPDATE connected_accounts SET pacing = $2, time_zone = $3, settings = $4, next_send_at = NULL WHERE id = $1', [
    accountId,
    JSON.stringify(pacing),
    timeZone,
    JSON.stringify(settings),
  ]);
}

const sandboxSends = (accountId: string) =>
  h.db.query<{ dedupe_id: string; sent_at: Date }>('SELECT dedupe_id, sent_at FROM sandbox_sends WHERE account_id = $1 ORDER BY sent_at, id', [accountId]);

describe('delivery', () => {
  it('sends a queued reply once and writes it into the message history as isSender, answering the last inbound message', async () => {
    const f = await replyFixture(h);
    const lastInbound = (await h.db.query<{ id: string }>('SELECT id FROM messages WHERE conversation_id = $1 AND is_sender = false ORDER BY sent_at DESC LIMIT 1', [f.conversationId]))[0];
    const queued = await queue(f, 'Happy to help.');
    await runFor(0);
    const sent = await get(f, queued.id);
    expect(sent.status).toBe('sent');
    expect(sent.sentMessageId).toMatch(/^[0-9a-f]{24}$/);
    const history = await h.get<{ items: { id: string; text: string; isSender: boolean; parentMessageId: string | null }[] }>(
      `/v1/accounts/${f.groupId}/messages?conversationId=${f.conversationId}&limit=1`,
      (await h.key(['messages:read'], [f.groupId])),
    );
    expect(history.body.data.items[0]).toMatchObject({ id: sent.sentMessageId, text: 'Happy to help.', isSender: true, parentMessageId: lastInbound?.id ?? null });
    expect(await sandboxSends(f.accountId)).toHaveLength(1);
    expect(await h.db.query('SELECT 1 FROM jobs')).toHaveLength(0);
  });

  it('keeps every two sends of one account at least the minimum gap apart', async () => {
    const f = await replyFixture(h);
    await configure(f.accountId, { minGapSeconds: 90, jitterSeconds: 60 });
    for (let i = 0; i < 6; i++) await queue(f, `paced ${i}`);
    await runFor(20 * 60_000);
    const sends = await sandboxSends(f.accountId);
    expect(sends).toHaveLength(6);
    for (let i = 1; i < sends.length; i++) {
      expect(new Date(sends[i]!.sent_at).getTime() - new Date(sends[i - 1]!.sent_at).getTime()).toBeGreaterThanOrEqual(90_000);
    }
  });

  it('holds the daily cap until midnight in the account\'s time zone, then resumes', async () => {
    clock.set('2026-05-04T23:00:00.000Z'); // 19:00 in New York (UTC-4)
    const f = await replyFixture(h);
    await configure(f.accountId, { minGapSeconds: 0, jitterSeconds: 0, dailyCaps: { direct_message: 3 } }, 'America/New_York');
    for (let i = 0; i < 5; i++) await queue(f, `capped ${i}`);
    await runFor(60 * 60_000, 60_000);
    expect(await sandboxSends(f.accountId)).toHaveLength(3);
    await runFor(4 * 3600_000, 60_000); // past 04:00Z = local midnight
    const sends = await sandboxSends(f.accountId);
    expect(sends).toHaveLength(5);
    expect(new Date(sends[3]!.sent_at).getTime()).toBeGreaterThanOrEqual(Date.parse('2026-05-05T04:00:00.000Z'));
  });

  it('sends only inside working hours in the account\'s time zone', async () => {
    clock.set('2026-05-09T10:00:00.000Z'); // Saturday, 12:00 in Berlin
    const f = await replyFixture(h);
    await configure(f.accountId, { workingHours: { start: '09:00', end: '17:00', weekdays: [1, 2, 3, 4, 5] } }, 'Europe/Berlin');
    const queued = await queue(f, 'weekday only');
    await runFor(24 * 3600_000, 10 * 60_000);
    expect((await get(f, queued.id)).status).toBe('queued');
    expect((await get(f, queued.id)).scheduledFor).toBe('2026-05-11T07:00:00.000Z');
    await runFor(26 * 3600_000, 10 * 60_000);
    const sent = await get(f, queued.id);
    expect(sent.status).toBe('sent');
    expect(sent.sentAt).toBe('2026-05-11T07:00:00.000Z');
  });

  it('reconciles a send that was delivered but timed out, instead of sending it again', async () => {
    const f = await replyFixture(h);
    await configure(f.accountId, {}, 'UTC', { faults: { deliveredTimeoutRate: 1 } });
    const queued = await queue(f, 'ambiguous');
    await runFor(0);
    expect((await get(f, queued.id)).status).toBe('sending');
    await runFor(10 * 60_000);
    expect((await get(f, queued.id)).status).toBe('sent');
    expect(await sandboxSends(f.accountId)).toHaveLength(1);
    expect(outcomes).toContain('reconciled');
  });

  it('retries transient failures with backoff, then fails with a reason', async () => {
    const f = await replyFixture(h);
    await configure(f.accountId, { minGapSeconds: 0, jitterSeconds: 0 }, 'UTC', { faults: { errorRate: 1 } });
    const queued = await queue(f, 'doomed');
    await runFor(60_000, 1_000);
    const early = await h.db.query<{ attempts: number }>('SELECT attempts FROM scheduled_responses WHERE id = $1', [queued.id]);
    expect(early[0]!.attempts).toBeGreaterThan(1);
    expect(early[0]!.attempts).toBeLessThan(MAX_SEND_ATTEMPTS);
    await runFor(3 * 3600_000, 60_000);
    const failed = await get(f, queued.id);
    expect(failed.status).toBe('failed');
    expect(failed.failure?.code).toBe('SEND_FAILED');
    expect(await sandboxSends(f.accountId)).toHaveLength(0);
  });

  it('waits as told on a provider rate limit', async () => {
    const f = await replyFixture(h);
    await configure(f.accountId, {}, 'UTC', { faults: { rateLimitRate: 1 } });
    const queued = await queue(f, 'slow down');
    await runFor(0);
    const waiting = await get(f, queued.id);
    expect(waiting.status).toBe('queued');
    expect(Date.parse(waiting.scheduledFor) - clock.now().getTime()).toBeGreaterThanOrEqual(55_000);
  });

  it('marks the account disconnected on auth expiry; its replies wait and other accounts keep sending', async () => {
    const expired = await replyFixture(h);
    const healthy = await replyFixture(h);
    await configure(expired.accountId, {}, 'UTC', { faults: { authExpiredRate: 1 } });
    const waiting = await queue(expired, 'blocked');
    const flowing = await queue(healthy, 'flows');
    await runFor(30 * 60_000, 60_000);
    expect((await h.db.query<{ status: string }>('SELECT status FROM connected_accounts WHERE id = $1', [expired.accountId]))[0]!.status).toBe('disconnected');
    expect((await get(expired, waiting.id)).status).toBe('queued');
    expect((await get(healthy, flowing.id)).status).toBe('sent');
    // Reconnected and healthy again: the reply goes out.
    await configure(expired.accountId, {});
    await h.db.query(`UPDATE connected_accounts SET status = 'connected' WHERE id = $1`, [expired.accountId]);
    await runFor(10 * 60_000, 60_000);
    expect((await get(expired, waiting.id)).status).toBe('sent');
  });

  it('does not send a reply cancelled before its turn', async () => {
    const f = await replyFixture(h);
    await configure(f.accountId, { minGapSeconds: 600, jitterSeconds: 0 });
    const first = await queue(f, 'first');
    const second = await queue(f, 'second');
    await runFor(0);
    const cancelled = await h.request('POST', `/v1/accounts/${f.groupId}/messages/responses/${second.id}/cancel`, { key: f.key });
    expect(cancelled.status).toBe(200);
    await runFor(30 * 60_000, 60_000);
    expect((await get(f, first.id)).status).toBe('sent');
    expect((await get(f, second.id)).status).toBe('cancelled');
    expect((await sandboxSends(f.accountId)).map((s) => s.dedupe_id)).toEqual([first.id]);
  });

  it("sends an account's replies in the order they were queued, even when the younger one's job runs first", async () => {
    const f = await replyFixture(h);
    await configure(f.accountId, { minGapSeconds: 600, jitterSeconds: 0 });
    const older = await queue(f, 'older');
    const younger = await queue(f, 'younger');
    // The older reply's job is not due yet when the worker first looks: only the younger one runs.
    await h.db.query(`UPDATE jobs SET available_at = $2 WHERE payload->>'responseId' = $1`, [older.id, new Date(clock.now().getTime() + 30_000).toISOString()]);
    await runFor(0);
    expect((await get(f, younger.id)).status).toBe('queued');
    await runFor(30 * 60_000, 10_000);
    expect((await sandboxSends(f.accountId)).map((s) => s.dedupe_id)).toEqual([older.id, younger.id]);
  });

  it('a send job given up on (its handler failing on every attempt) fails its reply instead of leaving it queued', async () => {
    const f = await replyFixture(h);
    const queued = await queue(f, 'poison');
    const broken = new Worker({
      db: h.db,
      clock,
      random: seededRandom(9),
      handlers: { [SEND_RESPONSE_JOB]: async () => Promise.reject(new Error('a bug')) },
      onDead: deadJobHandlers(),
    });
    for (let i = 0; i < MAX_JOB_ATTEMPTS; i++) {
      while ((await broken.runOnce()) > 0);
      clock.advance(11 * 60_000);
    }
    const final = await get(f, queued.id);
    expect(final.status).toBe('failed');
    expect(final.failure).toMatchObject({ code: 'SEND_FAILED', message: expect.stringContaining('a bug') });
    expect(await h.db.query(`SELECT id FROM jobs WHERE payload->>'responseId' = $1`, [queued.id])).toEqual([]);
    expect(await h.db.query(`SELECT id FROM dead_jobs WHERE payload->>'responseId' = $1`, [queued.id])).toHaveLength(1);
  });

  it('takes a job over when its worker died and its lease ran out', async () => {
    const f = await replyFixture(h);
    const queued = await queue(f, 'orphaned');
    const { claimJobs } = await import('../../src/scheduler/queue.js');
    const claimed = await claimJobs(h.db, 'dead-worker', clock.now(), 10, 60_000);
    expect(claimed.length).toBeGreaterThan(0);
    await runFor(50_000, 10_000);
    expect((await get(f, queued.id)).status).toBe('queued');
    await runFor(20_000, 10_000);
    expect((await get(f, queued.id)).status).toBe('sent');
  });
});

describe('accounts recorded without a connector (`sonarly accounts add`, history from imports)', () => {
  it('refuse replies when they are queued (409, nothing stored), and their imported history still reads', async () => {
    const f = await replyFixture(h);
    await h.db.query(`UPDATE connected_accounts SET connector = 'manual' WHERE id = $1`, [f.accountId]);
    const jobsBefore = await h.db.query('SELECT id FROM jobs ORDER BY id');
    const refused = await h.request('POST', `/v1/accounts/${f.groupId}/messages/responses`, {
      key: f.key,
      body: { prospectId: f.prospectId, message: 'hello' },
      headers: { 'idempotency-key': 'manual-1' },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'CONFLICT', message: NOT_CONNECTED, details: `accountId: ${f.accountId}` });
    expect(await h.db.query('SELECT id FROM scheduled_responses WHERE account_id = $1', [f.accountId])).toEqual([]);
    expect(await h.db.query('SELECT id FROM jobs ORDER BY id')).toEqual(jobsBefore);
    // An InMail looks for an account that can send: a recorded-only seat is not one.
    await h.db.query(`UPDATE connected_accounts SET account_type = 'sales_navigator' WHERE id = $1`, [f.accountId]);
    const inmail = await h.request('POST', `/v1/accounts/${f.groupId}/messages/responses`, {
      key: f.key,
      body: { prospectId: f.prospectId, message: 'hello', channel: 'inmail', subject: 'Hi' },
    });
    expect(inmail.status).toBe(422);
    // Reading goes through read-through with the manual connector: nothing more to fetch.
    const readThroughApp = await buildApp({ ...h.services, readThrough: createReadThrough({ db: h.db, clock, connectors: defaultConnectorRegistry(h.db, clock) }) });
    try {
      const page = await readThroughApp.inject({ url: `/v1/accounts/${f.groupId}/messages?conversationId=${f.conversationId}`, headers: { authorization: `Bearer ${f.key}` } });
      expect(page.statusCode).toBe(200);
      expect(page.json().data.items).toHaveLength(2);
    } finally {
      await readThroughApp.close();
    }
  });

  it('connected later (`accounts connect`, same provider id), the same account sends', async () => {
    const f = await replyFixture(h);
    await h.db.query(`UPDATE connected_accounts SET connector = 'manual' WHERE id = $1`, [f.accountId]);
    const [{ provider_account_id: providerAccountId }] = (await h.db.query<{ provider_account_id: string }>('SELECT provider_account_id FROM connected_accounts WHERE id = $1', [f.accountId])) as [{ provider_account_id: string }];
    const connected = await connectAccount(h.db, clock, { accountGroupId: f.groupId, connector: 'sandbox', providerAccountId, accountType: 'linkedin' });
    expect(connected).toMatchObject({ id: f.accountId, connector: 'sandbox' });
    const queued = await queue(f, 'now it can');
    await runFor(60_000);
    expect((await get(f, queued.id)).status).toBe('sent');
  });

  it('a reply queued before its account lost its connector ends failed with the reason, never "sent"', async () => {
    const f = await replyFixture(h);
    const queued = await queue(f, 'queued while connected');
    await h.db.query(`UPDATE connected_accounts SET connector = 'manual' WHERE id = $1`, [f.accountId]);
    await runFor(60_000);
    const final = await get(f, queued.id);
    expect(final.status).toBe('failed');
    expect(final.failure?.message).toContain('recorded without a connector');
    expect(await h.db.query('SELECT id FROM sandbox_sends WHERE dedupe_id = $1', [queued.id])).toEqual([]);
  });
});
