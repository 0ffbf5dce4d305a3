/**
 * Backfill speed: the sync engine copying a sandbox account's history into PostgreSQL, against a
 * bare multi-row INSERT of the same rows into the same tables, in the same run.
 *
 *   npx tsx bench/sync/backfill.ts [--messages 1000000] [--batch 2000]
 *
 * DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) gets a fresh schema, dropped at
 * the end. The baseline inserts conversations, persons and messages with plain `INSERT … VALUES
 * (…), (…)` statements of `--batch` rows (ids and parent links computed in JavaScript, no
 * conflict handling, no checkpoints); a second baseline does the same with `INSERT … SELECT FROM
 * unnest(…)` arrays, the fastest bare form we know. After each, the tables are emptied; then the
 * backfill runs through the connector, the store and the checkpoints exactly as `sonarly accounts
 * sync` does. Peak RSS is sampled during each phase.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { defaultConnectorRegistry } from '../../src/connectors/registry.js';
import { sandboxNetworkOf } from '../../src/connectors/sandbox/connector.js';
import { createAccountGroup } from '../../src/domain/accountGroups.js';
import { newId } from '../../src/ids.js';
import type { Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { openPostgres } from '../../src/storage/postgres.js';
import { connectAccount } from '../../src/sync/accounts.js';
import { backfillAccount } from '../../src/sync/backfill.js';
import { loadSyncAccount } from '../../src/sync/state.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '1000000' }, batch: { type: 'string', default: '2000' } } });
const target = Number(values.messages);
const batch = Number(values.batch);
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `bench_sync_${process.pid}`;
const PER_CONVERSATION = { min: 50, max: 150 };
const conversations = Math.round(target / ((PER_CONVERSATION.min + PER_CONVERSATION.max) / 2));
const clock = { now: () => new Date('2026-03-01T12:00:00.000Z') };

function sampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  return () => {
    clearInterval(timer);
    return Math.max(peak, process.memoryUsage().rss);
  };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

async function counts(db: Db) {
  const [row] = await db.query<{ messages: number; distinct_ids: number; conversations: number }>(
    'SELECT count(*)::int AS messages, count(DISTINCT (account_id, provider_message_id))::int AS distinct_ids, (SELECT count(*)::int FROM conversations) AS conversations FROM messages',
  );
  return row!;
}

async function main() {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const db = openPostgres({ connectionString: url, schema, poolSize: 4 });
  try {
    await migrate(db);
    const group = await createAccountGroup(db, 'bench');
    const summary = await connectAccount(db, clock, {
      accountGroupId: group.id,
      connector: 'sandbox',
      network: { seed: 2026, conversations, messagesPerConversation: PER_CONVERSATION, pageSize: 100, historyEndsAt: clock.now().toISOString() },
    });
    const account = (await loadSyncAccount(db, summary.id))!;
    const network = sandboxNetworkOf(account);

    const baseline = async (style: 'values' | 'unnest') => {
      global.gc?.();
      const peak = sampler();
      const started = performance.now();
      const conversationRows: { id: string; providerId: string; lastMessageAt: string; person: { providerId: string; name: string | null; publicIdentifier: string | null; linkedinUrl: string | null } }[] = [];
      let pending: unknown[][] = [];
      const flushConversations = async () => {
        if (conversationRows.length === 0) return;
        const people = conversationRows.map((c) => c.person);
        await db.query(
          `INSERT INTO persons (id, account_group_id, provider_id, public_identifier, linkedin_url, name) VALUES ${people.map((_, i) => `($${i * 6 + 1}, $${i * 6 + 2}, $${i * 6 + 3}, $${i * 6 + 4}, $${i * 6 + 5}, $${i * 6 + 6})`).join(', ')}`,
          people.flatMap((p) => [newId(), group.id, p.providerId, p.publicIdentifier, p.linkedinUrl, p.name]),
        );
        await db.query(
          `INSERT INTO conversations (id, account_group_id, account_id, provider_id, name, participant_provider_id, unread_count, last_message_at) VALUES ${conversationRows
            .map((_, i) => `($${i * 8 + 1}, $${i * 8 + 2}, $${i * 8 + 3}, $${i * 8 + 4}, $${i * 8 + 5}, $${i * 8 + 6}, $${i * 8 + 7}, $${i * 8 + 8})`)
            .join(', ')}`,
          conversationRows.flatMap((c) => [c.id, group.id, account.id, c.providerId, c.person.name, c.person.providerId, 0, c.lastMessageAt]),
        );
        conversationRows.length = 0;
      };
      const flushMessages = async () => {
        if (pending.length === 0) return;
        if (style === 'values') {
          await db.query(
            `INSERT INTO messages (id, account_group_id, account_id, conversation_id, provider_message_id, sender_provider_id, is_sender, text, sent_at, parent_message_id, attachments) VALUES ${pending
              .map((_, i) => `(${Array.from({ length: 11 }, (_, k) => `$${i * 11 + k + 1}`).join(', ')})`)
              .join(', ')}`,
            pending.flat(),
          );
        } else {
          const column = (k: number) => pending.map((row) => row[k]);
          await db.query(
            `INSERT INTO messages (id, account_group_id, account_id, conversation_id, provider_message_id, sender_provider_id, is_sender, text, sent_at, parent_message_id, attachments)
             SELECT id, g, a, c, p, s, i, t, at, pm, att::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::text[], $9::timestamptz[], $10::text[], $11::text[])
               AS r(id, g, a, c, p, s, i, t, at, pm, att)`,
            Array.from({ length: 11 }, (_, k) => column(k)),
          );
        }
        pending = [];
      };
      for (let index = 0; index < network.size; index++) {
        const conversationId = newId();
        const history = network.history(index);
        conversationRows.push({ id: conversationId, providerId: network.conversationProviderId(index), lastMessageAt: history[0]!.sentAt, person: network.person(index) });
        if (conversationRows.length === 100) await flushConversations();
        const ids = new Map(history.map((m) => [m.providerMessageId, newId()]));
        for (const m of history) {
          pending.push([ids.get(m.providerMessageId), group.id, account.id, conversationId, m.providerMessageId, m.senderProviderId, m.isSender, m.text, m.sentAt, m.parentProviderMessageId ? (ids.get(m.parentProviderMessageId) ?? null) : null, JSON.stringify(m.attachments)]);
          if (pending.length === batch) {
            await flushConversations();
            await flushMessages();
          }
        }
      }
      await flushConversations();
      await flushMessages();
      const seconds = (performance.now() - started) / 1000;
      const result = { seconds, peak: peak(), counts: await counts(db) };
      await db.exec('TRUNCATE messages, conversations, persons CASCADE');
      await db.exec('VACUUM ANALYZE messages');
      return result;
    };

    // Baselines: the same rows, bare INSERTs (the required one: multi-row VALUES; for reference: unnest arrays).
    const values = await baseline('values');
    const unnest = await baseline('unnest');

    // The sync engine.
    global.gc?.();
    const peak = sampler();
    const started = performance.now();
    const outcome = await backfillAccount({ db, clock, connectors: defaultConnectorRegistry(db, clock) }, account.id, { batchSize: batch });
    const syncSeconds = (performance.now() - started) / 1000;
    const syncPeak = peak();
    const syncCounts = await counts(db);

    const rate = (messages: number, seconds: number) => messages / seconds;
    const syncRate = rate(syncCounts.messages, syncSeconds);
    const report = {
      messages: syncCounts.messages,
      conversations: syncCounts.conversations,
      duplicates: syncCounts.messages - syncCounts.distinct_ids,
      batch,
      baselineValues: { seconds: +values.seconds.toFixed(1), messagesPerSecond: Math.round(rate(values.counts.messages, values.seconds)), peakRss: mb(values.peak) },
      baselineUnnest: { seconds: +unnest.seconds.toFixed(1), messagesPerSecond: Math.round(rate(unnest.counts.messages, unnest.seconds)), peakRss: mb(unnest.peak) },
      backfill: { status: outcome.status, seconds: +syncSeconds.toFixed(1), messagesPerSecond: Math.round(syncRate), peakRss: mb(syncPeak) },
      ratioToValues: +(syncRate / rate(values.counts.messages, values.seconds)).toFixed(2),
      ratioToUnnest: +(syncRate / rate(unnest.counts.messages, unnest.seconds)).toFixed(2),
    };
    console.log(JSON.stringify(report, null, 2));
    if (report.duplicates !== 0 || syncCounts.messages !== values.counts.messages || syncCounts.messages !== unnest.counts.messages) process.exitCode = 1;
  } finally {
    await db.close();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

await main();
