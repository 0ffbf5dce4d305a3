import { type Server, type Socket, createServer, connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.js';
import { Lifecycle } from '../../src/observability/health.js';
import { openPostgres } from '../../src/storage/postgres.js';
import { ensureSyncState, savePolledUntil } from '../../src/sync/state.js';
import { backend, testDatabaseUrl } from '../helpers/testDb.js';
import { Harness } from '../helpers/harness.js';
import { replyFixture } from '../helpers/outbound.js';
import { appWith, bearer, memoryLimiter } from './support.js';

let h: Harness;
let app: FastifyInstance;

beforeAll(async () => {
  h = await Harness.create();
  app = await appWith(h, { rateLimiter: memoryLimiter({ RATE_LIMIT_KEY: '3/1m' }) });
});

afterAll(async () => {
  await app?.close();
  await h?.close();
});

describe('/healthz and /readyz', () => {
  it('/healthz answers 200 in the envelope', async () => {
    const response = await app.inject({ url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ success: true, data: { status: 'ok' }, error: null });
  });

  it('/readyz fails while migrations are behind, and recovers once they are applied', async () => {
    const ready = await app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    const { codeVersion } = ready.json().data;
    const [latest] = await h.db.query<{ version: number; name: string; applied_at: string }>('SELECT version, name, applied_at FROM schema_migrations WHERE version = $1', [codeVersion]);
    await h.db.query('DELETE FROM schema_migrations WHERE version = $1', [codeVersion]);
    try {
      const behind = await app.inject({ url: '/readyz' });
      expect(behind.statusCode).toBe(503);
      expect(behind.json()).toMatchObject({ success: false, data: null, error: { code: 'SERVICE_UNAVAILABLE', details: 'reason: migrations_behind' } });
      expect(behind.json().error.message).toContain('sonarly migrate');
    } finally {
      await h.db.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [latest!.version, latest!.name, latest!.applied_at]);
    }
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });

  it('/readyz fails as soon as the process starts draining for shutdown; /healthz stays green', async () => {
    const lifecycle = new Lifecycle();
    const draining = await buildApp(h.services, { lifecycle });
    try {
      expect((await draining.inject({ url: '/readyz' })).statusCode).toBe(200);
      lifecycle.draining = true;
      const response = await draining.inject({ url: '/readyz' });
      expect(response.statusCode).toBe(503);
      expect(response.json().error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: 'reason: shutting_down' });
      expect((await draining.inject({ url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await draining.close();
    }
  });

  it('/readyz fails while a newer build has migrated the database', async () => {
    await h.db.query(`INSERT INTO schema_migrations (version, name) VALUES (999, 'from_the_future')`);
    try {
      const ahead = await app.inject({ url: '/readyz' });
      expect(ahead.statusCode).toBe(503);
      expect(ahead.json().error.details).toBe('reason: migrations_ahead');
    } finally {
      await h.db.query('DELETE FROM schema_migrations WHERE version = 999');
    }
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });
});

/**
 * A TCP relay between the app's pool and PostgreSQL: stopping it is the database going away for
 * this app (every connection cut, new ones refused), without touching the server other tests use.
 */
class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

const withPostgres = backend === 'postgres' ? describe : describe.skip;

withPostgres('/readyz with the database stopped (PostgreSQL)', () => {
  it('fails while the database is unreachable, and recovers when it is back', async () => {
    const target = new URL(testDatabaseUrl());
    const relay = new Relay({ host: target.hostname, port: Number(target.port || 5432) });
    await relay.start();
    const url = new URL(testDatabaseUrl());
    url.port = String(relay.port);
    const db = openPostgres({ connectionString: url.toString(), schema: h.testDb.schema!, poolSize: 2 });
    const relayed = await buildApp({ ...h.services, db });
    try {
      expect((await relayed.inject({ url: '/readyz' })).statusCode).toBe(200);
      await relay.stop();
      const down = await relayed.inject({ url: '/readyz' });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE', message: 'Not ready: The database did not answer.', details: 'reason: database_unreachable' } });
      // Liveness does not depend on the database: restarting the process would not help.
      expect((await relayed.inject({ url: '/healthz' })).statusCode).toBe(200);
      await relay.start();
      expect((await relayed.inject({ url: '/readyz' })).statusCode).toBe(200);
    } finally {
      await relayed.close();
      await db.close();
      await relay.stop().catch(() => {});
    }
  });
});

describe('/metrics', () => {
  it('exposes requests by route and status with latency histograms, rate-limit rejections, queue depth and sync lag', async () => {
    const fixture = await replyFixture(h);
    await ensureSyncState(h.db, { id: fixture.accountId, accountGroupId: fixture.groupId }, new Date());
    await savePolledUntil(h.db, fixture.accountId, new Date(Date.now() - 90_000), new Date());
    for (let i = 0; i < 5; i++) await app.inject({ url: `/v1/accounts/${fixture.groupId}/messages`, headers: bearer(fixture.key) });
    await app.inject({ url: '/v1/accounts', headers: bearer('sk_live_bogus') });
    const key = await h.key(['messages:write'], [fixture.groupId]);
    const queued = await app.inject({
      method: 'POST',
      url: `/v1/accounts/${fixture.groupId}/messages/responses`,
      headers: bearer(key),
      payload: { prospectId: fixture.prospectId, message: 'See you Tuesday', conversationId: fixture.conversationId },
    });
    expect(queued.statusCode).toBe(202);

    const response = await app.inject({ url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = response.body;
    const line = (pattern: RegExp) => text.split('\n').find((l) => pattern.test(l));
    expect(line(/^sonarly_http_requests_total\{route="\/v1\/accounts\/:accountGroupId\/messages",method="GET",status="200"\} 3$/)).toBeDefined();
    expect(line(/^sonarly_http_requests_total\{route="\/v1\/accounts\/:accountGroupId\/messages",method="GET",status="429"\} 2$/)).toBeDefined();
    expect(line(/^sonarly_http_requests_total\{route="\/v1\/accounts",method="GET",status="401"\} 1$/)).toBeDefined();
    expect(line(/^sonarly_http_request_duration_seconds_bucket\{le="0\.05",route="\/v1\/accounts\/:accountGroupId\/messages",method="GET",status="200"\} \d+$/)).toBeDefined();
    expect(line(/^sonarly_http_request_duration_seconds_count\{route="\/v1\/accounts\/:accountGroupId\/messages",method="GET",status="200"\} 3$/)).toBeDefined();
    expect(Number(line(/^sonarly_rate_limit_rejections_total\{policy="key"\}/)?.split(' ')[1])).toBeGreaterThanOrEqual(2);
    expect(line(/^sonarly_queue_depth\{status="queued"\} 1$/)).toBeDefined();
    expect(line(/^sonarly_queue_depth\{status="sending"\} 0$/)).toBeDefined();
    const lag = Number(line(new RegExp(`^sonarly_sync_lag_seconds\\{account_id="${fixture.accountId}"\\}`))?.split(' ')[1]);
    expect(lag).toBeGreaterThanOrEqual(89);
    expect(lag).toBeLessThan(3600);
    expect(text).toContain('# TYPE sonarly_sends_total counter');
    expect(text).toContain('sonarly_process_resident_memory_bytes');
    // Ids never become label values of the request metrics (one series per route template).
    expect(line(new RegExp(`^sonarly_http_requests_total\\{route="[^"]*${fixture.groupId}`))).toBeUndefined();
  });
});
