import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConnectorRegistry } from '../../src/connectors/registry.js';
import { sandboxNetworkOf } from '../../src/connectors/sandbox/connector.js';
import { sandboxMessageEvent } from '../../src/connectors/sandbox/webhooks.js';
import type { ProviderEvent } from '../../src/connectors/types.js';
import { createAccountGroup } from '../../src/domain/accountGroups.js';
import { createApiKey } from '../../src/domain/apiKeys.js';
import { CursorCodec } from '../../src/domain/cursor.js';
import { insertProspect } from '../../src/domain/prospects.js';
import { scheduleResponse } from '../../src/domain/responses/create.js';
import { serverSecret } from '../../src/domain/serverSecrets.js';
import { buildApp } from '../../src/http/app.js';
import { jobHandlers } from '../../src/scheduler/handlers.js';
import { Worker } from '../../src/scheduler/worker.js';
import type { Db } from '../../src/storage/db.js';
import { connectAccount } from '../../src/sync/accounts.js';
import { backfillAccount } from '../../src/sync/backfill.js';
import type { SyncContext } from '../../src/sync/context.js';
import { applyEvents, pollAccount } from '../../src/sync/incremental.js';
import { createReadThrough } from '../../src/sync/readThrough.js';
import { FakeClock } from '../helpers/fakeClock.js';
import { openPostgres } from '../../src/storage/postgres.js';
import { type TestDb, backend, createTestDb, testDatabaseUrl } from '../helpers/testDb.js';
import { compare, providerMessages, storedMessages } from '../sync/helpers.js';
import { fuzzSettings } from './support/fuzzing.js';
import { Interleaving } from './support/interleave.js';

/**
 * Races, with fast-check's scheduler choosing the order in which the racing tasks reach the
 * database (statement by statement on PostgreSQL, transaction by transaction on PGlite):
 * - two to five requests with one Idempotency-Key, with the same or different bodies;
 * - cancelling a reply while one or two workers try to send it;
 * - the same new messages arriving through webhooks (twice), polling and read-through while the
 *   scheduler records a reply sent in the same conversation.
 * The property is always "at most one effect": one reply per key, one send or one cancel, one row
 * per message. RACE_RUNS scales the number of interleavings (defaults below); FUZZ_SEED seeds them.
 */
const scale = Number(process.env.RACE_RUNS ?? 1);
const { seed } = fuzzSettings(1);
const RUNS = { idempotency: Math.round(200 * scale), cancel: Math.round(120 * scale), sync: Math.round(40 * scale) };

let testDb: TestDb;
let db: Db;
const clock = new FakeClock('2026-05-04T09:00:00.000Z');
let interleaving: Interleaving;
let racedBase: Db | null = null;
let raced: Db;
/** The racing side's connections, to see which of them wait for a lock. */
const APPLICATION_NAME = `sonarly-race-${process.pid}`;
let app: FastifyInstance;
let groupId: string;
let accountId: string;
let key: string;
const prospects: { id: string; conversationId: string }[] = [];
const workerErrors: string[] = [];

beforeAll(async () => {
  testDb = await createTestDb();
  db = testDb.db;
  if (backend === 'postgres') {
    const url = new URL(testDatabaseUrl());
    url.searchParams.set('application_name', APPLICATION_NAME);
    racedBase = openPostgres({ connectionString: url.toString(), schema: testDb.schema!, poolSize: 12 });
    interleaving = new Interleaving({
      blocked: async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [APPLICATION_NAME]))[0]!.n,
    });
  } else {
    interleaving = new Interleaving();
  }
  raced = interleaving.wrap(racedBase ?? db);
  groupId = (await createAccountGroup(db, 'Races')).id;
  const account = await connectAccount(db, clock, { accountGroupId: groupId, connector: 'sandbox', network: { seed: 5, conversations: 4, messagesPerConversation: { min: 2, max: 3 } } });
  accountId = account.id;
  await db.query(`UPDATE connected_accounts SET pacing = '{"enabled":false}' WHERE id = $1`, [accountId]);
  await backfillAccount({ db, clock, connectors: defaultConnectorRegistry(db, clock) }, accountId);
  await db.query('DELETE FROM jobs');
  const conversations = await db.query<{ id: string; participant_provider_id: string }>('SELECT id, participant_provider_id FROM conversations WHERE account_id = $1', [accountId]);
  for (const [i, conversation] of conversations.entries()) {
    await insertProspect(db, { accountGroupId: groupId, providerId: conversation.participant_provider_id, externalId: `race-${i}`, name: `Prospect ${i}` });
    const [row] = await db.query<{ id: string }>('SELECT id FROM prospects WHERE external_id = $1', [`race-${i}`]);
    prospects.push({ id: row!.id, conversationId: conversation.id });
  }
  key = (await createApiKey(db, { permissions: ['messages:read', 'messages:write'], accountGroupIds: [groupId] })).secret;
  app = await buildApp({ db: raced, cursors: new CursorCodec(await serverSecret(db, 'cursor_signing_key')), clock });
});
afterAll(async () => {
  await app?.close();
  await racedBase?.close();
  await testDb?.close();
});

function worker(on: Db): Worker {
  return new Worker({
    db: on,
    clock,
    handlers: jobHandlers({ db: on, clock, connectors: defaultConnectorRegistry(on, clock), random: () => 0.5, sendTimeoutMs: 5_000 }),
    concurrency: 4,
    log: (level, message, fields) => {
      if (level === 'error') workerErrors.push(`${message} ${JSON.stringify(fields)}`);
    },
  });
}

/** Runs every due job to the end, outside the race. */
async function drain(): Promise<void> {
  const w = worker(db);
  for (let i = 0; i < 50; i++) if ((await w.runOnce()) === 0) return;
  throw new Error('jobs keep coming');
}

const count = async (sql: string, params: unknown[]) => (await db.query<{ n: number }>(sql, params))[0]!.n;

let run = 0;
const figures = { idempotency: { runs: 0, gates: 0, requests: 0 }, cancel: { runs: 0, cancelled: 0, sent: 0 }, sync: { runs: 0, messages: 0 } };

describe('races, interleaved by fast-check\'s scheduler', () => {
  it(`same Idempotency-Key, 2 to 5 concurrent requests (${RUNS.idempotency} interleavings): exactly one reply, one job, every answer consistent`, { timeout: 1_200_000 }, async () => {
    const gatesBefore = interleaving.released;
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(fc.constantFrom('a', 'a-reordered', 'b'), { minLength: 2, maxLength: 5 }), fc.nat(prospects.length - 1), async (s, bodies, p) => {
        const idem = `race-${seed}-${++run}`;
        const prospect = prospects[p]!;
        const body = { prospectId: prospect.id, message: `race ${run} a`, conversationId: prospect.conversationId };
        const payloads = {
          a: JSON.stringify(body),
          'a-reordered': JSON.stringify({ conversationId: body.conversationId, message: body.message, prospectId: body.prospectId }, null, 2),
          b: JSON.stringify({ ...body, message: `race ${run} b` }),
        };
        const results = await interleaving.run(
          s,
          bodies.map((variant) => () =>
            app.inject({
              method: 'POST',
              url: `/v1/accounts/${groupId}/messages/responses`,
              headers: { authorization: `Bearer ${key}`, 'idempotency-key': idem, 'content-type': 'application/json' },
              payload: payloads[variant as keyof typeof payloads],
            }),
          ),
        );
        figures.idempotency.runs++;
        figures.idempotency.requests += bodies.length;
        const answers = results.map((result) => {
          if (result.status === 'rejected') throw result.reason;
          return result.value;
        });
        const rows = await db.query<{ id: string; message: string }>('SELECT id, message FROM scheduled_responses WHERE message IN ($1, $2)', [`race ${run} a`, `race ${run} b`]);
        expect(rows, 'replies created for one key').toHaveLength(1);
        const winner = rows[0]!;
        const winnerVariant = winner.message.endsWith(' a') ? 'a' : 'b';
        expect(await count(`SELECT count(*)::int AS n FROM jobs WHERE payload->>'responseId' = $1`, [winner.id])).toBe(1);
        let created = 0;
        answers.forEach((answer, i) => {
          const variant = bodies[i]!.startsWith('a') ? 'a' : 'b';
          const json = answer.json();
          if (answer.statusCode === 202) {
            expect(json.data.id).toBe(winner.id);
            expect(variant).toBe(winnerVariant);
            if (answer.headers['idempotency-replayed'] !== 'true') created++;
          } else {
            expect(answer.statusCode, answer.body).toBe(409);
            const allowed = variant === winnerVariant ? ['IDEMPOTENCY_IN_PROGRESS'] : ['IDEMPOTENCY_IN_PROGRESS', 'IDEMPOTENCY_CONFLICT'];
            expect(allowed).toContain(json.error.code);
            if (json.error.code === 'IDEMPOTENCY_IN_PROGRESS') expect(answer.headers['retry-after']).toBe('1');
          }
        });
        expect(created, 'answers that created the reply').toBe(1);
        // Afterwards: the winner's body replays, the other conflicts.
        const replay = await app.inject({ method: 'POST', url: `/v1/accounts/${groupId}/messages/responses`, headers: { authorization: `Bearer ${key}`, 'idempotency-key': idem, 'content-type': 'application/json' }, payload: payloads[winnerVariant] });
        expect(replay.statusCode).toBe(202);
        expect(replay.headers['idempotency-replayed']).toBe('true');
        expect(replay.json().data.id).toBe(winner.id);
      }),
      { numRuns: RUNS.idempotency, seed },
    );
    figures.idempotency.gates = interleaving.released - gatesBefore;
    await db.query(`UPDATE scheduled_responses SET status = 'cancelled' WHERE status = 'queued'`);
    await db.query('DELETE FROM jobs');
    console.log(`[races] idempotency: ${JSON.stringify(figures.idempotency)}`);
  });

  it(`cancel versus send, 1-2 cancels and 1-2 workers (${RUNS.cancel} interleavings): cancelled and never sent, or sent exactly once`, { timeout: 1_200_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.nat(prospects.length - 1), async (s, cancels, workers, p) => {
        run++;
        const prospect = prospects[p]!;
        const reply = await db.transaction((tx) => scheduleResponse(tx, clock, groupId, { prospectId: prospect.id, message: `cancel race ${run}`, conversationId: prospect.conversationId }));
        const tasks: (() => Promise<unknown>)[] = [
          ...Array.from({ length: cancels }, () => () => app.inject({ method: 'POST', url: `/v1/accounts/${groupId}/messages/responses/${reply.id}/cancel`, headers: { authorization: `Bearer ${key}` } })),
          ...Array.from({ length: workers }, () => () => worker(raced).runOnce()),
        ];
        const results = await interleaving.run(s, tasks);
        for (const result of results) if (result.status === 'rejected') throw result.reason;
        await drain();
        expect(workerErrors).toEqual([]);
        const cancelAnswers = results.slice(0, cancels).map((r) => (r as PromiseFulfilledResult<{ statusCode: number }>).value.statusCode);
        for (const status of cancelAnswers) expect([200, 409]).toContain(status);
        const [row] = await db.query<{ status: string; sent_message_id: string | null }>('SELECT status, sent_message_id FROM scheduled_responses WHERE id = $1', [reply.id]);
        const sends = await count('SELECT count(*)::int AS n FROM sandbox_sends WHERE dedupe_id = $1', [reply.id]);
        const stored = await count(`SELECT count(*)::int AS n FROM messages WHERE account_id = $1 AND is_sender AND text = $2`, [accountId, `cancel race ${run}`]);
        expect(cancelAnswers.filter((status) => status === 200).length).toBeLessThanOrEqual(1);
        if (cancelAnswers.includes(200)) {
          figures.cancel.cancelled++;
          expect({ status: row!.status, sends, stored }).toEqual({ status: 'cancelled', sends: 0, stored: 0 });
        } else {
          figures.cancel.sent++;
          expect({ status: row!.status, sends, stored }).toEqual({ status: 'sent', sends: 1, stored: 1 });
          expect(row!.sent_message_id).not.toBeNull();
        }
        expect(await count(`SELECT count(*)::int AS n FROM jobs WHERE payload->>'responseId' = $1`, [reply.id])).toBe(0);
        figures.cancel.runs++;
      }),
      { numRuns: RUNS.cancel, seed },
    );
    console.log(`[races] cancel vs send: ${JSON.stringify(figures.cancel)}`);
    // Both outcomes were explored.
    expect(figures.cancel.cancelled).toBeGreaterThan(0);
    expect(figures.cancel.sent).toBeGreaterThan(0);
  });

  it(`sync versus webhooks versus a send (${RUNS.sync} interleavings): every message stored exactly once, nothing missing`, { timeout: 1_200_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.subarray(['webhook', 'webhook again', 'poll', 'poll again', 'read-through', 'send'] as const, { minLength: 2 }),
        fc.integer({ min: 1, max: 1000 }),
        async (s, racers, networkSeed) => {
          run++;
          clock.set('2026-05-04T09:00:00.000Z');
          const account = await connectAccount(db, clock, {
            accountGroupId: groupId,
            connector: 'sandbox',
            network: { seed: networkSeed, conversations: 3, messagesPerConversation: { min: 2, max: 4 }, replyEveryMs: 60_000, replyingShare: 1, pageSize: 2 },
          });
          await db.query(`UPDATE connected_accounts SET pacing = '{"enabled":false}' WHERE id = $1`, [account.id]);
          const plain: SyncContext = { db, clock, connectors: defaultConnectorRegistry(db, clock) };
          await backfillAccount(plain, account.id);
          await db.query('DELETE FROM jobs');
          const conversations = await db.query<{ id: string; provider_id: string; participant_provider_id: string }>('SELECT id, provider_id, participant_provider_id FROM conversations WHERE account_id = $1 ORDER BY provider_id', [account.id]);
          // A reply to send in the first conversation, and the second one's history "not stored yet".
          await insertProspect(db, { accountGroupId: groupId, providerId: conversations[0]!.participant_provider_id, externalId: `sync-race-${run}`, name: 'Racer' });
          const [prospect] = await db.query<{ id: string }>('SELECT id FROM prospects WHERE external_id = $1', [`sync-race-${run}`]);
          const reply = racers.includes('send')
            ? await db.transaction((tx) => scheduleResponse(tx, clock, groupId, { prospectId: prospect!.id, message: `sync race ${run}`, conversationId: conversations[0]!.id }))
            : null;
          await db.query('UPDATE conversations SET history_complete = false, history_cursor = NULL WHERE id = $1', [conversations[1]!.id]);
          // Minutes pass: the prospects answer; LinkedIn both pushes (webhooks) and lists (poll) the answers.
          clock.advance(5 * 60_000);
          const network = sandboxNetworkOf({ id: account.id, providerAccountId: account.providerAccountId, settings: (await db.query<{ settings: Record<string, unknown> }>('SELECT settings FROM connected_accounts WHERE id = $1', [account.id]))[0]!.settings });
          const events: ProviderEvent[] = [];
          for (let index = 0; index < 3; index++) {
            for (const message of network.liveReplies(index, clock.now().getTime())) {
              const person = network.person(index);
              const event = sandboxMessageEvent('message.created', message, { name: person.name, participant: person }, message.sentAt);
              events.push({
                type: 'message',
                eventId: event.id,
                occurredAt: event.occurred_at,
                conversation: { providerId: message.conversationProviderId, name: person.name, participant: person },
                message: { ...message, deleted: false, editedAt: null },
              });
            }
          }
          const ctx: SyncContext = { db: raced, clock, connectors: defaultConnectorRegistry(raced, clock) };
          const readThrough = createReadThrough(ctx, { timeoutMs: 60_000 });
          const tasks = racers.map((racer) => (): Promise<unknown> => {
            switch (racer) {
              case 'webhook':
              case 'webhook again':
                return applyEvents(ctx, account.id, events);
              case 'poll':
              case 'poll again':
                return pollAccount(ctx, account.id);
              case 'read-through':
                return readThrough({ id: conversations[1]!.id, accountGroupId: groupId });
              case 'send':
                return worker(raced).runOnce();
            }
          });
          const results = await interleaving.run(s, tasks);
          for (const [i, result] of results.entries()) if (result.status === 'rejected') throw new Error(`${racers[i]} failed: ${(result.reason as Error).message}`);
          expect(workerErrors).toEqual([]);
          // Then sync settles (one more poll and read-through), and nothing is missing or doubled.
          await drain();
          await pollAccount(plain, account.id);
          await createReadThrough(plain)({ id: conversations[1]!.id, accountGroupId: groupId });
          const provider = await providerMessages(plain.connectors.forAccount({ id: account.id, accountGroupId: groupId, connector: 'sandbox', providerAccountId: account.providerAccountId, accountType: 'linkedin', settings: network ? (await db.query<{ settings: Record<string, unknown> }>('SELECT settings FROM connected_accounts WHERE id = $1', [account.id]))[0]!.settings : {} }));
          const stored = await storedMessages(db, account.id);
          expect(compare(provider, stored)).toEqual({ providerDuplicates: 0, duplicates: 0, missing: [], extra: [] });
          if (reply) {
            const [row] = await db.query<{ status: string; sent_message_id: string }>('SELECT status, sent_message_id FROM scheduled_responses WHERE id = $1', [reply.id]);
            expect(row!.status).toBe('sent');
            expect(await count('SELECT count(*)::int AS n FROM sandbox_sends WHERE dedupe_id = $1', [reply.id])).toBe(1);
            expect(await count(`SELECT count(*)::int AS n FROM messages WHERE account_id = $1 AND text = $2`, [account.id, `sync race ${run}`])).toBe(1);
            expect(await count('SELECT count(*)::int AS n FROM messages WHERE id = $1', [row!.sent_message_id])).toBe(1);
          }
          expect(await count('SELECT count(*)::int AS n FROM (SELECT provider_id FROM conversations WHERE account_id = $1 GROUP BY provider_id HAVING count(*) > 1) d', [account.id])).toBe(0);
          figures.sync.runs++;
          figures.sync.messages += stored.length;
          await db.query(`UPDATE connected_accounts SET status = 'disconnected' WHERE id = $1`, [account.id]);
          await db.query('DELETE FROM jobs');
        },
      ),
      { numRuns: RUNS.sync, seed },
    );
    console.log(`[races] sync vs webhooks vs send: ${JSON.stringify(figures.sync)}, gates ${interleaving.released}, lock waits ${interleaving.lockWaits}, stalls ${interleaving.stalls}`);
  });
});
