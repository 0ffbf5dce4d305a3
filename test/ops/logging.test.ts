import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions } from '../../src/observability/logger.js';
import { backend } from '../helpers/testDb.js';
import { Harness } from '../helpers/harness.js';
import { replyFixture } from '../helpers/outbound.js';
import { appWith, bearer, memoryLimiter } from './support.js';

/** JSON log lines carry the trace id; API keys and message text never appear in them. */
const run = backend === 'pglite' ? describe : describe.skip;

let h: Harness;
let app: FastifyInstance;
const lines: string[] = [];

run('logs', () => {
  beforeAll(async () => {
    h = await Harness.create();
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    app = await appWith(h, { logger: { ...loggerOptions('info'), stream }, rateLimiter: memoryLimiter({}) });
  });

  afterAll(async () => {
    await app?.close();
    await h?.close();
  });

  it('are JSON with the trace id of each request, and never hold keys or message bodies', async () => {
    const fixture = await replyFixture(h);
    const secretText = 'Confidential offer: 40% discount for Avery';
    const list = await app.inject({ url: `/v1/accounts/${fixture.groupId}/messages?limit=5`, headers: bearer(fixture.key) });
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain('message 0');
    const queued = await app.inject({
      method: 'POST',
      url: `/v1/accounts/${fixture.groupId}/messages/responses`,
      headers: { ...bearer(fixture.key), 'idempotency-key': 'log-test' },
      payload: { prospectId: fixture.prospectId, message: secretText, conversationId: fixture.conversationId },
    });
    expect(queued.statusCode).toBe(202);
    const invalid = await app.inject({
      method: 'POST',
      url: `/v1/accounts/${fixture.groupId}/messages/responses`,
      headers: bearer(fixture.key),
      payload: { prospectId: fixture.prospectId, message: secretText, unknown: secretText },
    });
    expect(invalid.statusCode).toBe(400);
    const unauthorized = await app.inject({ url: '/v1/accounts', headers: bearer(fixture.key.slice(0, -2) + 'zz') });
    expect(unauthorized.statusCode).toBe(401);
    await h.closeDatabase();
    const failed = await app.inject({ url: '/v1/accounts', headers: bearer(fixture.key) });
    expect(failed.statusCode).toBe(500);

    const entries = lines.map((line) => JSON.parse(line) as Record<string, any>);
    for (const response of [list, queued, invalid, unauthorized, failed]) {
      const traceId = response.headers['x-trace-id'];
      const own = entries.filter((entry) => entry.traceId === traceId);
      expect(own.map((entry) => entry.msg)).toEqual(expect.arrayContaining(['incoming request', 'request completed']));
      expect(own.find((entry) => entry.msg === 'request completed')?.res?.statusCode).toBe(response.statusCode);
    }
    const failure = entries.find((entry) => entry.traceId === failed.headers['x-trace-id'] && entry.level === 50);
    expect(failure?.err).toBeDefined();

    const everything = lines.join('\n');
    expect(everything).not.toContain(fixture.key);
    expect(everything).not.toContain('sk_live_');
    expect(everything).not.toMatch(/bearer/i);
    expect(everything).not.toContain(secretText);
    expect(everything).not.toContain('message 0');
  });
});
