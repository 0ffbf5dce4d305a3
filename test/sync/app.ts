import type { FastifyInstance } from 'fastify';
import { CursorCodec } from '../../src/domain/cursor.js';
import { createApiKey } from '../../src/domain/apiKeys.js';
import { serverSecret } from '../../src/domain/serverSecrets.js';
import { buildApp } from '../../src/http/app.js';
import type { Services } from '../../src/http/services.js';
import { Worker } from '../../src/scheduler/worker.js';
import { type SyncHandlerOptions, syncJobHandlers } from '../../src/sync/handlers.js';
import { createReadThrough } from '../../src/sync/readThrough.js';
import type { SyncFixture } from './helpers.js';

/** The API on a sync fixture's database, with connectors and read-through, and a worker for sync jobs. */
export async function syncApp(f: SyncFixture, options: { readThroughTimeoutMs?: number; handlers?: SyncHandlerOptions } = {}) {
  const services: Services = {
    db: f.testDb.db,
    cursors: new CursorCodec(await serverSecret(f.testDb.db, 'cursor_signing_key')),
    clock: f.clock,
    connectors: f.connectors,
    readThrough: createReadThrough(f.ctx, { timeoutMs: options.readThroughTimeoutMs ?? 2_000 }),
  };
  const app: FastifyInstance = await buildApp(services);
  const worker = new Worker({ db: f.testDb.db, clock: f.clock, handlers: syncJobHandlers(f.ctx, { random: () => 0.5, ...options.handlers }), concurrency: 4 });
  const key = (await createApiKey(f.testDb.db, { permissions: ['messages:read'], accountGroupIds: [f.groupId] })).secret;
  return {
    app,
    key,
    worker,
    /** Runs due jobs until none is left. */
    async drain(): Promise<number> {
      let ran = 0;
      for (let i = 0; i < 100; i++) {
        const n = await worker.runOnce();
        if (n === 0) return ran;
        ran += n;
      }
      throw new Error('jobs keep coming');
    },
    async messages(conversationId?: string, limit = 100) {
      const response = await app.inject({
        method: 'GET',
        url: `/v1/accounts/${f.groupId}/messages?limit=${limit}${conversationId ? `&conversationId=${conversationId}` : ''}`,
        headers: { authorization: `Bearer ${key}` },
      });
      return { status: response.statusCode, body: response.json() as { success: boolean; data: { items: { id: string; text: string; sentAt: string; conversationId: string; unreadCount: number }[]; hasMore: boolean } | null; error: { code: string; message: string; details: string } | null } };
    },
  };
}
