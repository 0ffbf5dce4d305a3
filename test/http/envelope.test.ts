import { Writable } from 'node:stream';
import type { LightMyRequestResponse } from 'fastify';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS } from '../../src/domain/permissions.js';
import { systemClock } from '../../src/clock.js';
import { CursorCodec } from '../../src/domain/cursor.js';
import { buildApp } from '../../src/http/app.js';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/http/plugins/errors.js';
import type { Services } from '../../src/http/services.js';
import { openPostgres } from '../../src/storage/postgres.js';
import { backend } from '../helpers/testDb.js';
import { Harness } from '../helpers/harness.js';

/**
 * The envelope of every error, whatever raised it: our own errors, the router, the body parser,
 * and unexpected exceptions.
 */

let h: Harness;
let groupId: string;
let key: string;
/** Every error response of this file, checked once more at the end. */
const errorResponses: LightMyRequestResponse[] = [];

beforeAll(async () => {
  h = await Harness.create();
  groupId = await h.group('Acme');
  key = await h.key([...PERMISSIONS], [groupId]);
  h.app.post(
    PROBE_URL,
    {
      config: { permission: 'any' },
      schema: { body: Type.Object({ text: Type.String() }, { additionalProperties: false }) },
    },
    async (request) => ({ success: true, data: request.body, error: null, traceId: request.id }),
  );
});

afterAll(() => h?.close());

/** Checks the exact error envelope and returns its error object. */
function expectErrorEnvelope(response: LightMyRequestResponse, status: number, code: string) {
  errorResponses.push(response);
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json();
  expect(Object.keys(body).sort()).toEqual(['data', 'error', 'success', 'traceId']);
  expect(body.success).toBe(false);
  expect(body.data).toBeNull();
  expect(Object.keys(body.error).sort()).toEqual(['code', 'details', 'message']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.error.details).toBe('string');
  expect(body.traceId).toMatch(/^[0-9a-f]{24}$/);
  expect(response.headers['x-trace-id']).toBe(body.traceId);
  return body.error as { code: string; message: string; details: string };
}

/** Nothing a client should see of our internals: stack frames, file paths, SQL, driver errors. */
function expectNothingInternal(response: LightMyRequestResponse) {
  const { message, details } = response.json().error;
  for (const text of [message, details]) {
    expect(text).not.toMatch(/\bat .+:\d+:\d+/); // stack frame
    expect(text).not.toMatch(/(\/[\w.-]+){2,}\.(ts|js|mjs|cjs)\b/); // file path
    expect(text).not.toMatch(/node_modules|\/work\/|\bsrc\//);
    expect(text).not.toMatch(/\b(SELECT|INSERT|UPDATE|DELETE FROM|relation|syntax error|pglite|pool)\b/i);
    expect(text).not.toMatch(/FST_ERR|Error:/);
  }
}

describe('success responses', () => {
  it('carry {success:true, data, error:null, traceId} with the X-Trace-Id header', async () => {
    const response = await h.app.inject({ method: 'GET', url: '/v1/accounts', headers: { authorization: `Bearer ${key}` } });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(['data', 'error', 'success', 'traceId']);
    expect(body).toMatchObject({ success: true, error: null });
    expect(body.traceId).toMatch(/^[0-9a-f]{24}$/);
    expect(response.headers['x-trace-id']).toBe(body.traceId);
  });

  it('have a new trace id on every request', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add((await h.app.inject({ method: 'GET', url: '/v1/nowhere' })).json().traceId);
    expect(ids.size).toBe(50);
  });
});

describe('routing errors', () => {
  it.each([
    ['GET', '/v1/nowhere'],
    ['GET', '/'],
    ['POST', '/v2/accounts'],
    ['GET', `/v1/accounts/${'a'.repeat(24)}/unknown`],
    ['DELETE', '/v1/accounts/x/y/z'],
  ] as const)('%s %s answers 404 NOT_FOUND', async (method, url) => {
    const response = await h.app.inject({ method, url });
    const error = expectErrorEnvelope(response, 404, 'NOT_FOUND');
    expect(error.message).toContain(url);
    expectNothingInternal(response);
  });

  it.each([
    ['DELETE', '/v1/accounts', 'GET'],
    ['PUT', '/v1/accounts', 'GET'],
    ['PATCH', `/v1/accounts/${'b'.repeat(24)}/messages`, 'GET'],
    ['DELETE', `/v1/accounts/${'b'.repeat(24)}/prospects/by-provider-id/${'P'.repeat(200)}`, 'GET'],
  ] as const)('%s %s answers 405 METHOD_NOT_ALLOWED with an Allow header', async (method, url, allowed) => {
    const response = await h.app.inject({ method, url, headers: { authorization: `Bearer ${key}` } });
    const error = expectErrorEnvelope(response, 405, 'METHOD_NOT_ALLOWED');
    expect(String(response.headers.allow).split(', ')).toContain(allowed);
    expect(String(response.headers.allow).split(', ')).not.toContain(method);
    expect(error.message).toContain(method);
  });

  it('answers a URL with broken percent-encoding with the route\'s validation status (422 on the lookup, as documented)', async () => {
    const response = await h.app.inject({ method: 'GET', url: `/v1/accounts/${groupId}/prospects/by-provider-id/%zz`, headers: { authorization: `Bearer ${key}` } });
    expectErrorEnvelope(response, 422, 'VALIDATION_ERROR');
    const other = await h.app.inject({ method: 'GET', url: `/v1/accounts/%zz/messages`, headers: { authorization: `Bearer ${key}` } });
    expectErrorEnvelope(other, 400, 'VALIDATION_ERROR');
    expectNothingInternal(response);
  });

  it('answers an absurdly long path segment with the route\'s documented validation status, in the envelope', async () => {
    const response = await h.app.inject({ method: 'GET', url: `/v1/accounts/${groupId}/prospects/by-provider-id/${'A'.repeat(2000)}`, headers: { authorization: `Bearer ${key}` } });
    expectErrorEnvelope(response, 422, 'VALIDATION_ERROR');
    expect(response.body).not.toContain('A'.repeat(100));
    expectNothingInternal(response);
  });
});

/**
 * The body checks run on every documented POST route and on a probe route this file registers
 * (a POST route with a JSON body schema and the same auth, as the product's POST routes have), so
 * they hold before the first product POST route exists and keep covering each one added later.
 */
const PROBE_URL = '/v1/test-probe';

const postTargets = async (): Promise<string[]> => {
  const document = (await h.app.inject({ method: 'GET', url: '/v1/openapi.json' })).json() as { paths: Record<string, Record<string, { operationId?: string }>> };
  const documented = Object.entries(document.paths)
    // The connector webhook reads any body as raw bytes (its signature covers them): its parsing is
    // the connector's, fuzzed in test/adversarial/fuzz.test.ts.
    .filter(([, operations]) => 'post' in operations && operations.post!.operationId !== 'receiveConnectorWebhook')
    .map(([path]) => path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'accountGroupId' ? groupId : '507f1f77bcf86cd799439011')));
  return [PROBE_URL, ...documented];
};

describe('request bodies on POST routes', () => {
  let targets: string[];

  beforeAll(async () => {
    targets = await postTargets();
  });

  const post = (url: string, payload: string | Buffer, contentType: string) =>
    h.app.inject({ method: 'POST', url, payload, headers: { authorization: `Bearer ${key}`, 'content-type': contentType } });

  it('include the probe and every documented POST route', () => {
    expect(targets[0]).toBe(PROBE_URL);
  });

  it.each(['{"prospectId":', '{bad json}', "{'single':'quotes'}", 'null garbage', '[1,2,', ''])('malformed JSON %j answers 400 VALIDATION_ERROR', async (payload) => {
    for (const url of targets) {
      const response = await post(url, payload, 'application/json');
      const error = expectErrorEnvelope(response, 400, 'VALIDATION_ERROR');
      expect(error.message, url).toContain('JSON');
      expectNothingInternal(response);
    }
  });

  it.each(['application/xml', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])('Content-Type %s answers 415 UNSUPPORTED_MEDIA_TYPE', async (type) => {
    for (const url of targets) {
      const response = await post(url, '<a>1</a>', type);
      const error = expectErrorEnvelope(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(error.message, url).toContain('application/json');
      expectNothingInternal(response);
    }
  });

  it('a body over the limit answers 413 PAYLOAD_TOO_LARGE', async () => {
    for (const url of targets) {
      const response = await post(url, JSON.stringify({ message: 'x'.repeat(300 * 1024) }), 'application/json');
      const error = expectErrorEnvelope(response, 413, 'PAYLOAD_TOO_LARGE');
      expect(error.message).toMatch(/\d+ bytes/);
      expectNothingInternal(response);
    }
  });

  it('a well-formed JSON body gets past the parser', async () => {
    for (const url of targets) {
      const response = await post(url, '{"unexpected":1}', 'application/json');
      expect([413, 415], url).not.toContain(response.statusCode);
      expect(response.json().error?.message ?? '', url).not.toContain('not valid JSON');
      if (response.statusCode >= 400) expectErrorEnvelope(response, response.statusCode, response.json().error.code);
    }
    expectErrorEnvelope(await post(PROBE_URL, '{"unexpected":1}', 'application/json'), 400, 'VALIDATION_ERROR');
    expect((await post(PROBE_URL, '{"text":"hi"}', 'application/json; charset=utf-8')).statusCode).toBe(200);
  });
});

describe('a POST to a GET-only route', () => {
  // Fastify reads a body before its not-found handler runs, so a body it cannot read is reported
  // before the wrong method; both answers are in the envelope.
  const post = (payload: string, contentType: string) =>
    h.app.inject({ method: 'POST', url: '/v1/accounts', payload, headers: { authorization: `Bearer ${key}`, 'content-type': contentType } });

  it('answers 405 with a readable body', async () => {
    const response = await post('{}', 'application/json');
    expectErrorEnvelope(response, 405, 'METHOD_NOT_ALLOWED');
    expect(response.headers.allow).toBe('GET');
  });

  it('answers in the envelope with an unreadable or oversized body', async () => {
    expectErrorEnvelope(await post('{bad', 'application/json'), 400, 'VALIDATION_ERROR');
    expectErrorEnvelope(await post(JSON.stringify({ x: 'x'.repeat(300 * 1024) }), 'application/json'), 413, 'PAYLOAD_TOO_LARGE');
    expectErrorEnvelope(await post('<a/>', 'application/xml'), 405, 'METHOD_NOT_ALLOWED');
  });
});

describe('unexpected exceptions', () => {
  let broken: Harness;
  let brokenGroup: string;
  let brokenKey: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    broken = await Harness.create();
    brokenGroup = await broken.group('Broken');
    brokenKey = await broken.key([...PERMISSIONS], [brokenGroup]);
  });

  afterAll(() => broken?.close());

  it('inside a handler answer 500 INTERNAL_ERROR with a generic message, and log the cause under the trace id', async () => {
    const logged = await buildApp(broken.services, {
      logger: { level: 'error', stream: new Writable({ write: (chunk, _encoding, done) => (logLines.push(String(chunk)), done()) }) },
    });
    try {
      const url = `/v1/accounts/${brokenGroup}/prospects/by-provider-id/ACoX`;
      const headers = { authorization: `Bearer ${brokenKey}` };
      expect((await logged.inject({ method: 'GET', url, headers })).statusCode).toBe(200);
      // The key still authenticates; the handler's own query fails.
      await broken.db.exec('ALTER TABLE prospects RENAME TO prospects_gone');
      try {
        const response = await logged.inject({ method: 'GET', url, headers });
        const error = expectErrorEnvelope(response, 500, 'INTERNAL_ERROR');
        expect(error.message).toMatch(/traceId/);
        expect(response.body).not.toContain('prospects');
        expectNothingInternal(response);
        const line = logLines.map((l) => JSON.parse(l)).find((entry) => entry.traceId === response.json().traceId);
        expect(line?.err?.message).toMatch(/prospects/);
        expect(line?.err?.stack).toBeTruthy();
      } finally {
        await broken.db.exec('ALTER TABLE prospects_gone RENAME TO prospects');
      }
      expect((await logged.inject({ method: 'GET', url, headers })).statusCode).toBe(200);
    } finally {
      await logged.close();
    }
  });

  it('with the database closed under the app answer 500 INTERNAL_ERROR with a generic message', async () => {
    await broken.closeDatabase();
    for (const url of ['/v1/accounts', `/v1/accounts/${brokenGroup}/messages`, `/v1/accounts/${brokenGroup}/prospects/by-provider-id/ACoX`]) {
      const response = await broken.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${brokenKey}` } });
      const error = expectErrorEnvelope(response, 500, 'INTERNAL_ERROR');
      expect(error.message).toBe('The server failed to handle this request. Retry later; if it persists, report the traceId.');
      expectNothingInternal(response);
    }
    // What needs no database still works.
    expectErrorEnvelope(await broken.app.inject({ method: 'GET', url: '/v1/accounts' }), 401, 'UNAUTHORIZED');
    expect((await broken.app.inject({ method: 'GET', url: '/v1/openapi.json' })).statusCode).toBe(200);
  });
});

describe('with PostgreSQL unreachable', () => {
  it('every API operation answers 503 SERVICE_UNAVAILABLE with Retry-After, never 500', async () => {
    if (backend !== 'pglite') return; // needs no database server: one project is enough
    // A real node-postgres pool pointed at a port nothing listens on: connections are refused.
    const services: Services = {
      db: openPostgres({ connectionString: 'postgres://postgres@127.0.0.1:1/unreachable', poolSize: 2, connectTimeoutMs: 1000 }),
      cursors: new CursorCodec(Buffer.alloc(32, 7)),
      clock: systemClock,
    };
    const app = await buildApp(services);
    try {
      const group = '507f1f77bcf86cd799439011';
      const headers = { authorization: `Bearer ${key}`, 'idempotency-key': 'outage-1' };
      const requests = [
        { method: 'GET' as const, url: '/v1/accounts' },
        { method: 'GET' as const, url: `/v1/accounts/${group}/messages` },
        { method: 'GET' as const, url: `/v1/accounts/${group}/prospects/by-provider-id/ACoX` },
        { method: 'GET' as const, url: `/v1/accounts/${group}/messages/responses` },
        { method: 'POST' as const, url: `/v1/accounts/${group}/messages/responses`, payload: { prospectId: group, message: 'hi' } },
      ];
      for (const request of requests) {
        const response = await app.inject({ ...request, headers });
        const error = expectErrorEnvelope(response, 503, 'SERVICE_UNAVAILABLE');
        expect(error.message).toBe(`The database is unreachable. Retry after ${DATABASE_RETRY_AFTER_SECONDS} seconds.`);
        expect(response.headers['retry-after']).toBe(String(DATABASE_RETRY_AFTER_SECONDS));
        expect(JSON.stringify(error)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|5432/);
        expectNothingInternal(response);
      }
      // /readyz says the same to the load balancer.
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    } finally {
      await app.close();
      await services.db.close();
    }
  });
});

describe('every error response of this file', () => {
  it('had exactly the envelope and nothing internal', () => {
    expect(errorResponses.length).toBeGreaterThan(20);
    for (const response of errorResponses) expectNothingInternal(response);
  });
});
