import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccountGroup } from '../../src/domain/accountGroups.js';
import { createApiKey } from '../../src/domain/apiKeys.js';
import { migrate } from '../../src/storage/migrate.js';
import { openPglite } from '../../src/storage/pglite.js';
import { backend } from '../helpers/testDb.js';
import { startCli, startServe } from './processes.js';

/**
 * SIGTERM: the listener stops taking connections, requests already in flight are answered, the
 * worker and the database are closed, and the process exits 0 (readiness failing first is tested
 * in health.test.ts). Runs the real `sonarly serve` (API and worker) and `sonarly worker` on
 * embedded databases, in the PGlite project only.
 */
const run = backend === 'pglite' ? describe : describe.skip;
const cleanup: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

run('graceful shutdown', () => {
  it('answers the request in flight, refuses new connections, and exits 0', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'sonarly-shutdown-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    // A key in the embedded database, made before the server owns it.
    const db = await openPglite(path.join(dataDir, 'pgdata'));
    await migrate(db);
    const groupId = (await createAccountGroup(db, 'Shutdown')).id;
    const key = (await createApiKey(db, { permissions: ['messages:write'], accountGroupIds: [groupId] })).secret;
    await db.close();
    const server = await startServe({ SHUTDOWN_TIMEOUT_MS: '20000' }, ['--data-dir', dataDir, '--no-demo']);
    cleanup.push(async () => {
      if (server.child.exitCode === null) server.kill('SIGKILL');
    });
    const { hostname, port } = new URL(server.url);

    // An authenticated request whose body is still on its way when SIGTERM arrives: it is past
    // authentication and waits for its body, so only a graceful close can answer it.
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.on('data', (data) => (received += data.toString()));
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const body = JSON.stringify({ prospectId: '507f1f77bcf86cd799439011', message: 'in flight' });
    socket.write(
      `POST /v1/accounts/${groupId}/messages/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    );

    // SIGTERM only once the server has started on the request (it logs it), or the signal could
    // overtake the bytes still in the socket and the request would rightly be refused with 503.
    await server.waitFor(/^(?=.*"msg":"incoming request")(?=.*\/messages\/responses)/);
    server.kill('SIGTERM');
    await server.waitFor(/"msg":"shutting down"/);
    // Wait until the listener is closed: new connections are refused.
    for (let attempt = 0; ; attempt++) {
      const refused = await new Promise<boolean>((resolve) => {
        const probe = connect(Number(port), hostname);
        probe.once('connect', () => (probe.destroy(), resolve(false)));
        probe.once('error', () => resolve(true));
      });
      if (refused) break;
      expect(attempt, 'listener still open').toBeLessThan(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    socket.write(body.slice(10));
    await closed;
    const [head, payload] = received.split('\r\n\r\n');
    // The prospect does not exist in the group: a 422 that only the route handler can give.
    expect(head).toMatch(/^HTTP\/1\.1 422 /);
    expect(head).toMatch(/\r\nratelimit: "key";r=\d+;t=\d+/i);
    expect(JSON.parse(payload!)).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR' } });

    expect(await server.exited, server.output().slice(-1500)).toBe(0);
    expect(server.output()).toContain('"msg":"shutdown complete"');
  });

  it('`sonarly worker` serves its metrics, and on SIGTERM stops and exits 0', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'sonarly-worker-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const worker = startCli(['worker', '--data-dir', dataDir], { WORKER_METRICS_PORT: '0', HOST: '127.0.0.1' });
    cleanup.push(async () => {
      if (worker.child.exitCode === null) worker.kill('SIGKILL');
    });
    const started = JSON.parse(await worker.waitFor(/"msg":"worker started"/));
    const metrics = await fetch(started.metrics);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('# TYPE sonarly_sends_total counter');
    expect(text).toMatch(/^sonarly_queue_depth\{status="queued"\} 0$/m);
    const health = await fetch(started.metrics.replace('/metrics', '/healthz'));
    expect(await health.json()).toMatchObject({ success: true, data: { status: 'ok' } });
    worker.kill('SIGTERM');
    expect(await worker.exited, worker.output().slice(-1500)).toBe(0);
    expect(worker.output()).toContain('"msg":"shutdown complete"');
  });
});
