import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nestingDepth } from '../../src/http/plugins/hostileInput.js';
import { backend } from '../helpers/testDb.js';
import { Harness } from '../helpers/harness.js';
import { replyFixture } from '../helpers/outbound.js';
import { appWith, bearer, memoryLimiter } from './support.js';

/**
 * Input meant to hurt: oversized and deeply nested bodies, oversized headers, clients too slow
 * to finish their request, unknown fields, cross-origin calls. None of it may produce a 500 or
 * an answer outside the envelope. The defences sit in front of the database, so this file runs
 * in the PGlite project only.
 */
const run = backend === 'pglite' ? describe : describe.skip;

let h: Harness;
let app: FastifyInstance;
let origin: string;
let fixture: Awaited<ReturnType<typeof replyFixture>>;
const apps: FastifyInstance[] = [];

run('hostile input', () => {
  beforeAll(async () => {
    h = await Harness.create();
    fixture = await replyFixture(h);
    app = await appWith(h, {
      rateLimiter: memoryLimiter({ RATE_LIMIT_KEY: '10000/1m', RATE_LIMIT_ANONYMOUS: '10000/1m' }),
      http: { bodyLimit: 8 * 1024, jsonMaxDepth: 32, maxHeaderSize: 4096, requestTimeoutMs: 400, headersTimeoutMs: 400 },
    });
    apps.push(app);
    origin = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    for (const each of apps) await each.close();
    await h?.close();
  });

  const responsesUrl = () => `/v1/accounts/${fixture.groupId}/messages/responses`;
  const post = (payload: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: responsesUrl(), headers: { ...bearer(fixture.key), 'content-type': 'application/json', ...headers }, payload });

  function expectEnvelope(response: { statusCode: number; json(): any; headers: Record<string, unknown> }, status: number, code: string) {
    expect(response.statusCode).toBe(status);
    expect(response.json()).toMatchObject({ success: false, data: null, error: { code } });
    expect(response.json().traceId).toBe(response.headers['x-trace-id']);
  }

  it('a body over the limit: 413 PAYLOAD_TOO_LARGE', async () => {
    const response = await post(JSON.stringify({ prospectId: fixture.prospectId, message: 'x'.repeat(20_000) }));
    expectEnvelope(response, 413, 'PAYLOAD_TOO_LARGE');
    expect(response.json().error.message).toContain('8192 bytes');
    expect(response.headers['ratelimit']).toBeDefined();
  });

  it('JSON nested deeper than the limit: 400 before it is parsed', async () => {
    const deep = '['.repeat(3000) + ']'.repeat(3000);
    expectEnvelope(await post(deep), 400, 'VALIDATION_ERROR');
    expect((await post(deep)).json().error.message).toContain('nested more than 32 levels');
    const deepObject = '{"a":'.repeat(1000) + '1' + '}'.repeat(1000);
    expectEnvelope(await post(deepObject), 400, 'VALIDATION_ERROR');
  });

  it('brackets inside strings do not count as nesting', () => {
    expect(nestingDepth('{"message":"[[[[[[[[[[{{{{{{ \\" [[[[["}', 32)).toBe(1);
    expect(nestingDepth('[[[1]],[[2]]]', 32)).toBe(3);
  });

  it('a large object within the size limit, with many unknown fields: 400 naming one, not 500', async () => {
    const fields = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`field${i}`, i]));
    const response = await post(JSON.stringify({ prospectId: fixture.prospectId, message: 'hi', ...fields }));
    expectEnvelope(response, 400, 'VALIDATION_ERROR');
    expect(response.json().error.message).toMatch(/field0/);
  });

  it('prototype poisoning is refused: 400', async () => {
    expectEnvelope(await post('{"prospectId":"507f1f77bcf86cd799439011","message":"hi","__proto__":{"admin":true}}'), 400, 'VALIDATION_ERROR');
  });

  it('unknown query parameters are ignored; unknown body fields are rejected', async () => {
    const list = await app.inject({ url: `/v1/accounts/${fixture.groupId}/messages?limit=1&utm_source=x`, headers: bearer(fixture.key) });
    expect(list.statusCode).toBe(200);
    const response = await post(JSON.stringify({ prospectId: fixture.prospectId, message: 'hi', conversationID: fixture.conversationId }));
    expectEnvelope(response, 400, 'VALIDATION_ERROR');
    expect(response.json().error.message).toContain('conversationID');
  });

  /** Sends raw bytes on a fresh connection and returns everything the server wrote before closing. */
  function raw(chunks: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const { port, hostname } = new URL(origin);
      const socket = connect(Number(port), hostname, () => {
        for (const chunk of chunks) socket.write(chunk);
      });
      let received = '';
      socket.on('data', (data) => (received += data.toString()));
      socket.on('close', () => resolve(received));
      socket.on('error', (error) => (received ? resolve(received) : reject(error)));
    });
  }

  function parseRaw(text: string) {
    const [head, body] = text.split('\r\n\r\n');
    const [statusLine, ...headerLines] = head!.split('\r\n');
    const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
    return { status: Number(statusLine!.split(' ')[1]), headers, json: () => JSON.parse(body!) };
  }

  it('headers over the limit: 431 in the envelope, connection closed', async () => {
    const response = parseRaw(await raw([`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(8000)}\r\n\r\n`]));
    expect(response.status).toBe(431);
    expect(response.headers.connection).toBe('close');
    expect(response.json()).toMatchObject({ success: false, data: null, error: { code: 'HEADERS_TOO_LARGE' } });
    expect(response.json().traceId).toBe(response.headers['x-trace-id']);
  });

  it('a URL over the header limit: 431', async () => {
    expect(parseRaw(await raw([`GET /v1/accounts?x=${'a'.repeat(8000)} HTTP/1.1\r\nHost: x\r\n\r\n`])).status).toBe(431);
  });

  it('a client too slow to send its headers: 408 in the envelope, connection closed', async () => {
    const response = parseRaw(await raw(['GET /healthz HTTP/1.1\r\nHost: x\r\n']));
    expect(response.status).toBe(408);
    expect(response.json()).toMatchObject({ success: false, error: { code: 'REQUEST_TIMEOUT' } });
  });

  it('a client too slow to send its body: 408', async () => {
    const head = `POST ${responsesUrl()} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${fixture.key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`;
    expect(parseRaw(await raw([head, '{"prospectId":'])).status).toBe(408);
  });

  it('garbage instead of HTTP: 400 in the envelope', async () => {
    const response = parseRaw(await raw(['NOT HTTP AT ALL\r\n\r\n']));
    expect(response.status).toBe(400);
    expect(response.json()).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR' } });
  });

  it('CORS is off unless configured: no Access-Control-* header, even for a preflight', async () => {
    const simple = await app.inject({ url: '/v1/accounts', headers: { ...bearer(fixture.key), origin: 'https://evil.example' } });
    expect(simple.statusCode).toBe(200);
    expect(Object.keys(simple.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
    const preflight = await app.inject({ method: 'OPTIONS', url: '/v1/accounts', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(Object.keys(preflight.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
  });

  it('CORS when configured: listed origins only, with the rate-limit headers exposed', async () => {
    const corsApp = await appWith(h, { rateLimiter: memoryLimiter({}), http: { corsOrigins: ['https://app.example.com'] } });
    apps.push(corsApp);
    const allowed = await corsApp.inject({ url: '/v1/accounts', headers: { ...bearer(fixture.key), origin: 'https://app.example.com' } });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(String(allowed.headers['access-control-expose-headers'])).toContain('RateLimit');
    const other = await corsApp.inject({ url: '/v1/accounts', headers: { ...bearer(fixture.key), origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await corsApp.inject({
      method: 'OPTIONS',
      url: `/v1/accounts/${fixture.groupId}/messages/responses`,
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(String(preflight.headers['access-control-allow-headers']).toLowerCase()).toContain('idempotency-key');
  });
});
