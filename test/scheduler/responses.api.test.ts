import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimIdempotencyKey, fingerprint, reapIdempotencyKeys } from '../../src/domain/responses/idempotency.js';
import { SCHEDULE_OPERATION } from '../../src/domain/responses/service.js';
import { FakeClock } from '../helpers/fakeClock.js';
import { Harness } from '../helpers/harness.js';
import { addProspect, replyFixture } from '../helpers/outbound.js';

interface Scheduled {
  id: string;
  status: string;
  conversationId: string | null;
  accountId: string;
  channel: string;
  subject: string | null;
}

const clock = new FakeClock();
let h: Harness;
let f: Awaited<ReturnType<typeof replyFixture>>;

beforeAll(async () => {
  h = await Harness.create({ clock });
  f = await replyFixture(h);
});
afterAll(() => h?.close());

const url = () => `/v1/accounts/${f.groupId}/messages/responses`;
const post = (body: unknown, headers: Record<string, string> = {}) => h.request<Scheduled>('POST', url(), { key: f.key, body, headers });
const count = async (table: string) => (await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n;

describe('POST /v1/accounts/{accountGroupId}/messages/responses', () => {
  it('queues a reply into the prospect\'s most recent conversation and answers 202 with the scheduled response', async () => {
    const response = await post({ prospectId: f.prospectId, message: 'Thanks, talk Tuesday.' });
    expect(response.status).toBe(202);
    expect(Object.keys(response.body.data).sort()).toEqual(
      ['id', 'status', 'prospectId', 'accountId', 'conversationId', 'channel', 'subject', 'message', 'scheduledFor', 'createdAt', 'updatedAt', 'sentAt', 'sentMessageId', 'failure'].sort(),
    );
    expect(response.body.data).toMatchObject({ status: 'queued', channel: 'direct_message', conversationId: f.conversationId, accountId: f.accountId, subject: null });
    const jobs = await h.db.query<{ payload: { responseId: string } }>(`SELECT payload FROM jobs WHERE payload->>'responseId' = $1`, [response.body.data.id]);
    expect(jobs).toHaveLength(1);
  });

  describe('400 VALIDATION_ERROR naming the field', () => {
    it.each([
      ['unknown channel', { message: 'hi', channel: 'sms' }, 'channel'],
      ['empty message', { message: '' }, 'message'],
      ['whitespace-only message', { message: '  \n\t ' }, 'message'],
      ['message over 8000 characters', { message: 'x'.repeat(8001) }, 'message'],
      ['InMail body over 1900 characters', { message: 'x'.repeat(1901), channel: 'inmail', subject: 'Hi' }, 'message'],
      ['subject over 200 characters', { message: 'hi', channel: 'inmail', subject: 's'.repeat(201) }, 'subject'],
      ['inmail without subject', { message: 'hi', channel: 'inmail' }, 'subject'],
      ['inmail with a blank subject', { message: 'hi', channel: 'inmail', subject: '   ' }, 'subject'],
      ['an unknown field', { message: 'hi', status: 'sent' }, 'status'],
      ['a non-hex conversationId', { message: 'hi', conversationId: 'abc' }, 'conversationId'],
    ])('%s', async (_name, extra, field) => {
      const before = await count('scheduled_responses');
      const response = await post({ prospectId: f.prospectId, ...extra });
      expect(response.status).toBe(400);
      expect(response.body.error?.code).toBe('VALIDATION_ERROR');
      expect(response.body.error?.message).toContain(`'${field}'`);
      expect(await count('scheduled_responses')).toBe(before);
    });

    it('a missing prospectId', async () => {
      const response = await post({ message: 'hi' });
      expect(response.status).toBe(400);
      expect(response.body.error?.message).toContain("'prospectId'");
    });

    it('malformed JSON', async () => {
      const response = await h.app.inject({ method: 'POST', url: url(), headers: { authorization: `Bearer ${f.key}`, 'content-type': 'application/json' }, payload: '{"prospectId":' });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('VALIDATION_ERROR');
    });
  });

  describe('422 for references that do not fit', () => {
    it('a prospect of another group', async () => {
      const other = await replyFixture(h);
      const response = await post({ prospectId: other.prospectId, message: 'hi' });
      expect(response.status).toBe(422);
      expect(response.body.error?.message).toContain("'prospectId'");
    });

    it('a conversation of another group', async () => {
      const other = await replyFixture(h);
      const response = await post({ prospectId: f.prospectId, message: 'hi', conversationId: other.conversationId });
      expect(response.status).toBe(422);
      expect(response.body.error?.message).toContain("'conversationId'");
    });

    it('a conversation with someone else', async () => {
      const someoneElse = await h.conversation(f.groupId, f.accountId);
      const response = await post({ prospectId: f.prospectId, message: 'hi', conversationId: someoneElse });
      expect(response.status).toBe(422);
      expect(response.body.error?.message).toContain('someone other');
    });

    it('a direct message to a prospect without a conversation points to InMail', async () => {
      const stranger = await addProspect(h, f.groupId);
      const response = await post({ prospectId: stranger.prospectId, message: 'hi' });
      expect(response.status).toBe(422);
      expect(response.body.error?.message).toContain("'inmail'");
    });

    it('an InMail when no account can send InMail', async () => {
      const stranger = await addProspect(h, f.groupId);
      const response = await post({ prospectId: stranger.prospectId, message: 'hi', channel: 'inmail', subject: 'Intro' });
      expect(response.status).toBe(422);
      expect(response.body.error?.message).toContain('InMail');
    });
  });

  it('queues an InMail through a Sales Navigator account', async () => {
    const navigator = await h.account(f.groupId, 'sales_navigator');
    const stranger = await addProspect(h, f.groupId);
    const response = await post({ prospectId: stranger.prospectId, message: 'hi', channel: 'inmail', subject: 'Intro' });
    expect(response.status).toBe(202);
    expect(response.body.data).toMatchObject({ channel: 'inmail', accountId: navigator, conversationId: null, subject: 'Intro' });
  });

  it('409 CONFLICT when the sending account is disconnected or paused', async () => {
    const g = await replyFixture(h);
    for (const status of ['disconnected', 'paused']) {
      await h.db.query('UPDATE connected_accounts SET status = $2 WHERE id = $1', [g.accountId, status]);
      const response = await h.request('POST', `/v1/accounts/${g.groupId}/messages/responses`, { key: g.key, body: { prospectId: g.prospectId, message: 'hi' } });
      expect(response.status).toBe(409);
      expect(response.body.error?.code).toBe('CONFLICT');
    }
  });
});

describe('Idempotency-Key', () => {
  it('replays the original response for the same key and body, with identical data and a replay header', async () => {
    const body = { prospectId: f.prospectId, message: 'Replay me', channel: 'direct_message' };
    const first = await post(body, { 'idempotency-key': 'key-replay-1' });
    const before = await count('scheduled_responses');
    const reordered = { channel: 'direct_message', message: 'Replay me', prospectId: f.prospectId };
    const second = await h.app.inject({
      method: 'POST',
      url: url(),
      headers: { authorization: `Bearer ${f.key}`, 'content-type': 'application/json', 'idempotency-key': '"key-replay-1"' },
      payload: JSON.stringify(reordered, null, 4),
    });
    expect(first.status).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(second.headers['idempotency-replayed']).toBe('true');
    expect(first.headers['idempotency-replayed']).toBeUndefined();
    expect(second.json().data).toEqual(first.body.data);
    expect(await count('scheduled_responses')).toBe(before);
  });

  it('answers 409 IDEMPOTENCY_CONFLICT for the same key with any one field changed, and creates nothing', async () => {
    const navigator = await h.account(f.groupId, 'recruiter');
    expect(navigator).toBeTruthy();
    const base = { prospectId: f.prospectId, message: 'Original body', channel: 'direct_message' as const, conversationId: f.conversationId };
    await post(base, { 'idempotency-key': 'key-conflict' });
    const before = await count('scheduled_responses');
    const jobsBefore = await count('jobs');
    const variant = fc.oneof(
      fc.string({ minLength: 1, maxLength: 50 }).filter((m) => m !== base.message && m.trim().length > 0).map((message) => ({ ...base, message })),
      fc.constant({ ...base, channel: 'inmail' as const, subject: 'Subject' }),
      fc.constant({ ...base, conversationId: undefined }),
      fc.string({ minLength: 1, maxLength: 20 }).map((subject) => ({ ...base, subject })),
      fc.stringMatching(/^[0-9a-f]{24}$/).filter((id) => id !== base.prospectId).map((prospectId) => ({ ...base, prospectId })),
    );
    await fc.assert(
      fc.asyncProperty(variant, async (body) => {
        const response = await post(JSON.parse(JSON.stringify(body)), { 'idempotency-key': 'key-conflict' });
        expect(response.status).toBe(409);
        expect(response.body.error?.code).toBe('IDEMPOTENCY_CONFLICT');
      }),
      { numRuns: 1000, seed: 20261127 },
    );
    expect(await count('scheduled_responses')).toBe(before);
    expect(await count('jobs')).toBe(jobsBefore);
  });

  it('does not store a 400, so the corrected retry with the same key goes through', async () => {
    const bad = await post({ prospectId: f.prospectId, message: '   ' }, { 'idempotency-key': 'key-fix-me' });
    expect(bad.status).toBe(400);
    const good = await post({ prospectId: f.prospectId, message: 'fixed' }, { 'idempotency-key': 'key-fix-me' });
    expect(good.status).toBe(202);
  });

  it('stores a 422 and replays it', async () => {
    const stranger = await addProspect(h, f.groupId);
    const first = await post({ prospectId: stranger.prospectId, message: 'hi' }, { 'idempotency-key': 'key-422' });
    const again = await post({ prospectId: stranger.prospectId, message: 'hi' }, { 'idempotency-key': 'key-422' });
    expect(first.status).toBe(422);
    expect(again.status).toBe(422);
    expect(again.headers['idempotency-replayed']).toBe('true');
    expect(again.body.error).toEqual(first.body.error);
  });

  it('rejects keys longer than 255 characters with 400', async () => {
    const response = await post({ prospectId: f.prospectId, message: 'hi' }, { 'idempotency-key': 'k'.repeat(256) });
    expect(response.status).toBe(400);
    expect(response.body.error?.message).toContain('Idempotency-Key');
    expect((await post({ prospectId: f.prospectId, message: 'hi' }, { 'idempotency-key': 'k'.repeat(255) })).status).toBe(202);
  });

  it('answers 409 IDEMPOTENCY_IN_PROGRESS while the first request runs, and lets a retry take over an abandoned one', async () => {
    const body = { prospectId: f.prospectId, message: 'in flight' };
    await claimIdempotencyKey(h.db, { accountGroupId: f.groupId, key: 'key-busy', operation: SCHEDULE_OPERATION, fingerprint: fingerprint(SCHEDULE_OPERATION, body) }, clock.now());
    const busy = await post(body, { 'idempotency-key': 'key-busy' });
    expect(busy.status).toBe(409);
    expect(busy.body.error?.code).toBe('IDEMPOTENCY_IN_PROGRESS');
    expect(busy.headers['retry-after']).toBe('1');
    clock.advance(31_000);
    expect((await post(body, { 'idempotency-key': 'key-busy' })).status).toBe(202);
  });

  it('keeps keys for 24 hours, then reaps them and treats the key as new', async () => {
    const body = { prospectId: f.prospectId, message: 'retention' };
    const first = await post(body, { 'idempotency-key': 'key-ttl' });
    clock.advance(23 * 3600_000 + 59 * 60_000);
    expect(await reapIdempotencyKeys(h.db, clock.now())).toBe(0);
    const replay = await post(body, { 'idempotency-key': 'key-ttl' });
    expect(replay.body.data.id).toBe(first.body.data.id);
    clock.advance(2 * 60_000);
    expect(await reapIdempotencyKeys(h.db, clock.now())).toBeGreaterThan(0);
    const fresh = await post(body, { 'idempotency-key': 'key-ttl' });
    expect(fresh.status).toBe(202);
    expect(fresh.body.data.id).not.toBe(first.body.data.id);
  });

  it('scopes keys to the account group', async () => {
    const other = await replyFixture(h);
    const mine = await post({ prospectId: f.prospectId, message: 'scoped' }, { 'idempotency-key': 'shared-key' });
    const theirs = await h.request<Scheduled>('POST', `/v1/accounts/${other.groupId}/messages/responses`, {
      key: other.key,
      body: { prospectId: other.prospectId, message: 'scoped' },
      headers: { 'idempotency-key': 'shared-key' },
    });
    expect(theirs.status).toBe(202);
    expect(theirs.body.data.id).not.toBe(mine.body.data.id);
  });

  it('500 concurrent POSTs with one key and body create exactly one scheduled response and one job', async () => {
    const g = await replyFixture(h);
    const body = { prospectId: g.prospectId, message: 'exactly once' };
    const responses = await Promise.all(
      Array.from({ length: 500 }, () => h.request<Scheduled>('POST', `/v1/accounts/${g.groupId}/messages/responses`, { key: g.key, body, headers: { 'idempotency-key': 'burst' } })),
    );
    const created = await h.db.query<{ id: string }>('SELECT id FROM scheduled_responses WHERE account_group_id = $1', [g.groupId]);
    expect(created).toHaveLength(1);
    expect(await h.db.query(`SELECT 1 FROM jobs WHERE payload->>'responseId' = $1`, [created[0]!.id])).toHaveLength(1);
    for (const response of responses) {
      if (response.status === 202) expect(response.body.data.id).toBe(created[0]!.id);
      else {
        expect(response.status).toBe(409);
        expect(response.body.error?.code).toBe('IDEMPOTENCY_IN_PROGRESS');
      }
    }
    expect(responses.filter((r) => r.status === 202).length).toBeGreaterThanOrEqual(1);
  });
});

describe('GET, list and cancel', () => {
  it('gets one response; another group\'s id is 404', async () => {
    const created = await post({ prospectId: f.prospectId, message: 'get me' });
    const got = await h.get<Scheduled>(`${url()}/${created.body.data.id}`, f.key);
    expect(got.status).toBe(200);
    expect(got.body.data).toEqual(created.body.data);
    const other = await replyFixture(h);
    const foreign = await h.get(`/v1/accounts/${other.groupId}/messages/responses/${created.body.data.id}`, other.key);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error?.code).toBe('NOT_FOUND');
  });

  it('lists newest first with a status filter and cursor pages', async () => {
    const g = await replyFixture(h);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await h.request<Scheduled>('POST', `/v1/accounts/${g.groupId}/messages/responses`, { key: g.key, body: { prospectId: g.prospectId, message: `m${i}` } });
      ids.push(r.body.data.id);
    }
    await h.request('POST', `/v1/accounts/${g.groupId}/messages/responses/${ids[0]}/cancel`, { key: g.key });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { data: { items: Scheduled[]; nextCursor: string | null } } } = await h.get(
        `/v1/accounts/${g.groupId}/messages/responses?status=queued&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        g.key,
      );
      expect(page.status).toBe(200);
      seen.push(...page.body.data.items.map((item) => item.id));
      cursor = page.body.data.nextCursor;
    } while (cursor);
    expect(seen).toEqual(ids.slice(1).reverse());
    const cancelled = await h.get<{ items: Scheduled[] }>(`/v1/accounts/${g.groupId}/messages/responses?status=cancelled`, g.key);
    expect(cancelled.body.data.items.map((i) => i.id)).toEqual([ids[0]]);
    const bad = await h.get(`/v1/accounts/${g.groupId}/messages/responses?status=lost`, g.key);
    expect(bad.status).toBe(400);
  });

  it('cancels a queued response once; afterwards 409', async () => {
    const created = await post({ prospectId: f.prospectId, message: 'cancel me' });
    const cancelled = await h.request<Scheduled>('POST', `${url()}/${created.body.data.id}/cancel`, { key: f.key });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.data.status).toBe('cancelled');
    expect(await h.db.query(`SELECT 1 FROM jobs WHERE payload->>'responseId' = $1`, [created.body.data.id])).toHaveLength(0);
    const again = await h.request('POST', `${url()}/${created.body.data.id}/cancel`, { key: f.key });
    expect(again.status).toBe(409);
    expect(again.body.error?.code).toBe('CONFLICT');
  });

  it('refuses to cancel a response that is already sending', async () => {
    const created = await post({ prospectId: f.prospectId, message: 'too late' });
    await h.db.query(`UPDATE scheduled_responses SET status = 'sending' WHERE id = $1`, [created.body.data.id]);
    const response = await h.request('POST', `${url()}/${created.body.data.id}/cancel`, { key: f.key });
    expect(response.status).toBe(409);
  });
});
