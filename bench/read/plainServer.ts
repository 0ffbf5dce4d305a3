/**
 * The baseline the issue names: a plain Fastify + node-postgres handler, no authentication, no
 * cursor signing, the way such an endpoint is usually first written — `pool.query(text, values)`
 * (an unnamed statement: parsed and planned on every call), node-postgres decoding every column
 * (timestamps to Date, jsonb parsed), rows mapped to API objects and serialized by Fastify.
 *
 * Two more modes take sonarly's read path apart, to show where its time goes:
 * - `MODE=page`: the same bare Fastify handler calling sonarly's own `listMessages` (the page query
 *   rendering JSON in the database, named prepared statements, a signed cursor), no key check;
 * - `MODE=page+key`: the same plus sonarly's `authenticateKey` (one indexed query) per request.
 * What the full server adds beyond `page+key` is its framework work: schema validation, rate
 * limiting, trace id, metrics and the other hooks.
 *
 * Env: DATABASE_URL, PORT, POOL_SIZE, MODE. Serves GET /v1/accounts/:accountGroupId/messages?limit=.
 */
import Fastify from 'fastify';
import pg from 'pg';
import { authenticateKey } from '../../src/domain/apiKeys.js';
import { CursorCodec } from '../../src/domain/cursor.js';
import { listMessages } from '../../src/domain/messages.js';
import { serverSecret } from '../../src/domain/serverSecrets.js';
import { openPostgres } from '../../src/storage/postgres.js';

const MODE = process.env.MODE ?? 'plain';
if (!['plain', 'page', 'page+key'].includes(MODE)) throw new Error(`MODE must be plain, page or page+key; got ${MODE}`);

const DATABASE_URL = process.env.DATABASE_URL!;
const POOL_SIZE = Number(process.env.POOL_SIZE ?? 10);

const PLAIN_SQL = `SELECT m.id, m.text, m.sent_at, m.account_id, a.account_type, m.conversation_id, c.provider_id, c.name,
    c.participant_provider_id, m.sender_provider_id, m.is_sender, c.unread_count, m.parent_message_id, m.attachments
  FROM messages m
  JOIN conversations c ON c.id = m.conversation_id
  JOIN connected_accounts a ON a.id = m.account_id
  WHERE m.account_group_id = $1
  ORDER BY m.sent_at DESC, m.id DESC
  LIMIT $2`;

interface Row {
  id: string;
  text: string;
  sent_at: Date;
  account_id: string;
  account_type: string;
  conversation_id: string;
  provider_id: string;
  name: string | null;
  participant_provider_id: string | null;
  sender_provider_id: string | null;
  is_sender: boolean;
  unread_count: number;
  parent_message_id: string | null;
  attachments: unknown[];
}

type Route = { Params: { accountGroupId: string }; Querystring: { limit?: string; cursor?: string } };
const PATH = '/v1/accounts/:accountGroupId/messages';
const app = Fastify({ logger: false });
let closeDb: () => Promise<void>;

if (MODE === 'plain') {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: POOL_SIZE });
  closeDb = () => pool.end();
  app.get<Route>(PATH, async (request) => {
    const limit = Number(request.query.limit ?? 50);
    const { rows } = await pool.query<Row>(PLAIN_SQL, [request.params.accountGroupId, limit + 1]);
    const page = rows.slice(0, limit);
    return {
      success: true,
      data: {
        items: page.map((row) => ({
          id: row.id,
          text: row.text,
          sentAt: row.sent_at.toISOString(),
          accountId: row.account_id,
          accountType: row.account_type,
          conversationId: row.conversation_id,
          conversationProviderId: row.provider_id,
          conversationName: row.name,
          participantProviderId: row.participant_provider_id,
          senderId: row.sender_provider_id,
          isSender: row.is_sender,
          unreadCount: row.unread_count,
          parentMessageId: row.parent_message_id,
          attachments: row.attachments,
        })),
        nextCursor: null,
        hasMore: rows.length > limit,
      },
      error: null,
      traceId: request.id,
    };
  });
} else {
  const db = openPostgres({ connectionString: DATABASE_URL, poolSize: POOL_SIZE });
  closeDb = () => db.close();
  const cursors = new CursorCodec(await serverSecret(db, 'cursor_signing_key'));
  app.get<Route>(PATH, async (request, reply) => {
    if (MODE === 'page+key') {
      const key = await authenticateKey(db, /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '');
      if (!key?.accountGroupIds.has(request.params.accountGroupId)) return reply.code(401).send({ success: false });
    }
    const page = await listMessages(db, cursors, {
      accountGroupId: request.params.accountGroupId,
      limit: Number(request.query.limit ?? 50),
      ...(request.query.cursor !== undefined ? { cursor: request.query.cursor } : {}),
    });
    const data = `{"items":${page.itemsJson},"nextCursor":${JSON.stringify(page.nextCursor)},"hasMore":${page.hasMore}}`;
    return reply.type('application/json; charset=utf-8').send(`{"success":true,"data":${data},"error":null,"traceId":"${request.id}"}`);
  });
}

await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
process.stdout.write(`listening ${JSON.stringify(app.server.address())}\n`);
const stop = async () => {
  await app.close();
  await closeDb();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
