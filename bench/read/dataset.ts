import { createAccountGroup } from '../../src/domain/accountGroups.js';
import type { Db } from '../../src/storage/db.js';

/**
 * The read benchmark's data: one account group holding `messages` messages, spread over
 * `messages / 50` conversations of 10 connected accounts. Generated inside the database with
 * INSERT … SELECT FROM generate_series (the same SQL on PostgreSQL and PGlite), in chunks so each
 * statement stays small. Sent times fall in runs of three equal `sent_at` values, so keyset pages
 * break ties on `id`. Every 20th message carries an attachment, every 10th replies to another.
 *
 * A row in `settings` marks a finished load, so a second run reuses the data.
 */
export interface Dataset {
  accountGroupId: string;
  messages: number;
}

const MARKER = 'bench_read_dataset';
const ACCOUNTS = 10;
const CHUNK = 100_000;
const TEXTS = [
  'Thanks for connecting! Curious how your team handles outbound today, and whether a short call next week would help.',
  'Following up on my last note: would a 15-minute call next Tuesday or Wednesday work for you?',
  'Happy to share the case study we discussed; it covers the rollout plan and the numbers after three months.',
  'We are evaluating tools this quarter. Send me a deck and some pricing and I will loop in my colleague.',
  'Not the right time for us, maybe in Q3. Feel free to reach out again then.',
  'Sure, Tuesday works. I will send an invite for 10am Pacific, let me know if that is too early.',
  'Can you tell me more about how the integration with our CRM works? We use a custom setup.',
  'Great talking today. As promised, here is the summary of next steps and the documents we mentioned.',
];

// 24-hex ids in the API's shape, distinct per table: accounts 'a…', conversations 'c…', messages md5.
const accountId = (n: string) => `'a' || lpad(to_hex(${n}), 23, '0')`;
const conversationId = (n: string) => `'c' || lpad(to_hex(${n}), 23, '0')`;
const messageId = (n: string) => `substr(md5('m' || ${n}), 1, 24)`;

export async function existingDataset(db: Db): Promise<Dataset | null> {
  const [row] = await db.query<{ value: string }>('SELECT value FROM settings WHERE name = $1', [MARKER]);
  return row ? (JSON.parse(row.value) as Dataset) : null;
}

/** Loads the dataset unless one of this size is already there (a different size is refused). */
export async function ensureDataset(db: Db, messages: number, log: (line: string) => void = () => {}): Promise<Dataset> {
  const existing = await existingDataset(db);
  if (existing) {
    if (existing.messages !== messages) throw new Error(`the database already holds a ${existing.messages}-message dataset; use a fresh database for ${messages}`);
    log(`dataset: reusing ${existing.messages} messages in group ${existing.accountGroupId}`);
    return existing;
  }
  const started = Date.now();
  const group = await createAccountGroup(db, 'Read benchmark');
  const g = group.id;
  const conversations = Math.max(1, Math.floor(messages / 50));
  await db.query(
    `INSERT INTO connected_accounts (id, account_group_id, account_type, provider_account_id, name)
     SELECT ${accountId('n')}, $1, (ARRAY['linkedin','sales_navigator','recruiter'])[1 + n % 3], 'ACoAABench' || n, 'Seller ' || n
     FROM generate_series(0, $2::int - 1) AS n`,
    [g, ACCOUNTS],
  );
  await db.query(
    `INSERT INTO conversations (id, account_group_id, account_id, provider_id, name, participant_provider_id, unread_count, last_message_at)
     SELECT ${conversationId('n')}, $1, ${accountId(`(n % ${ACCOUNTS})`)}, 'conv-' || n, 'Prospect ' || n, 'ACoAAProspect' || n, n % 4, now()
     FROM generate_series(0, $2::int - 1) AS n`,
    [g, conversations],
  );
  // Message n (1-based) is the n-th newest: sent_at goes back 7 s every three messages.
  for (let from = 1; from <= messages; from += CHUNK) {
    const to = Math.min(messages, from + CHUNK - 1);
    await db.query(
      `INSERT INTO messages (id, account_group_id, account_id, conversation_id, provider_message_id, sender_provider_id,
                             is_sender, text, sent_at, parent_message_id, attachments)
       SELECT ${messageId('n')}, $1, ${accountId(`(cv % ${ACCOUNTS})`)}, ${conversationId('cv')}, 'pm-' || n,
              CASE WHEN n % 2 = 0 THEN 'ACoAABench' || (cv % ${ACCOUNTS}) ELSE 'ACoAAProspect' || cv END,
              n % 2 = 0,
              ($5::text[])[1 + n % ${TEXTS.length}] || ' #' || n,
              timestamptz '2026-04-28 15:30:00+00' - make_interval(secs => (n / 3) * 7),
              CASE WHEN n % 10 = 0 THEN ${messageId('(n + 1)')} END,
              CASE WHEN n % 20 = 0
                THEN jsonb_build_array(jsonb_build_object('type', 'file', 'id', 'att-' || n, 'url', 'https://files.example.com/' || n || '/deck.pdf',
                                                          'fileName', 'deck.pdf', 'mimeType', 'application/pdf'))
                ELSE '[]'::jsonb END
       FROM (SELECT n, (n * 7919) % $4::bigint AS cv FROM generate_series($2::bigint, $3::bigint) AS n) AS s`,
      [g, from, to, conversations, TEXTS],
    );
    log(`dataset: ${to} / ${messages} messages (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  await db.exec('VACUUM ANALYZE');
  const dataset: Dataset = { accountGroupId: g, messages };
  await db.query('INSERT INTO settings (name, value) VALUES ($1, $2)', [MARKER, JSON.stringify(dataset)]);
  log(`dataset: loaded ${messages} messages in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return dataset;
}
