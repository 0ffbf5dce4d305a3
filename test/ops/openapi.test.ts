import { createConfig, lintFromString } from '@redocly/openapi-core';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS } from '../../src/domain/permissions.js';
import { Harness } from '../helpers/harness.js';
import { replyFixture } from '../helpers/outbound.js';
import { appWith, bearer, memoryLimiter } from './support.js';

/**
 * The OpenAPI document is linted, and every operation in it is called for real: each response's
 * status must be documented for that operation, its body must validate against the documented
 * schema, and every documented response header must be present. Operations added later are
 * probed automatically (no key, bad key, missing permission, bad id, over the rate limit); the
 * known ones also get a call that succeeds.
 */
type Json = Record<string, any>;
type Method = 'GET' | 'POST';

let h: Harness;
let app: FastifyInstance;
let tight: FastifyInstance;
let doc: Json;
let ajv: Ajv2020;
let fixture: Awaited<ReturnType<typeof replyFixture>>;
let fullKey: string;
let noPermissionKey: string;

/** Validated responses by operationId, for the coverage checks at the end. */
const seen = new Map<string, Set<number>>();

interface Operation {
  id: string;
  method: Method;
  path: string;
  spec: Json;
  secured: boolean;
}

const operations = (): Operation[] =>
  Object.entries(doc.paths as Record<string, Json>).flatMap(([path, item]) =>
    (['get', 'post'] as const)
      .filter((method) => item[method])
      .map((method) => ({
        id: item[method].operationId as string,
        method: method.toUpperCase() as Method,
        path,
        spec: item[method],
        secured: (item[method].security ?? doc.security ?? []).length > 0,
      })),
  );

beforeAll(async () => {
  h = await Harness.create();
  fixture = await replyFixture(h);
  fullKey = await h.key([...PERMISSIONS], [fixture.groupId]);
  noPermissionKey = await h.key([], [fixture.groupId]);
  app = await appWith(h, { rateLimiter: memoryLimiter({ RATE_LIMIT_KEY: '100000/1m', RATE_LIMIT_GROUP: '100000/1m', RATE_LIMIT_SEND: '100000/1m', RATE_LIMIT_ANONYMOUS: '100000/1m' }) });
  tight = await appWith(h, { rateLimiter: memoryLimiter({ RATE_LIMIT_KEY: '1/1m', RATE_LIMIT_ANONYMOUS: '1/1m' }) });
  const response = await app.inject({ url: '/v1/openapi.json' });
  expect(response.statusCode).toBe(200);
  doc = response.json();
  // OpenAPI 3.1 schemas are JSON Schema 2020-12; components become $defs of one schema resource.
  ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const components = JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('#/components/schemas/', 'https://sonarly.invalid/openapi.json#/$defs/'));
  ajv.addSchema({ $id: 'https://sonarly.invalid/openapi.json', $defs: components });
});

afterAll(async () => {
  await app?.close();
  await tight?.close();
  await h?.close();
});

const validators = new Map<string, ValidateFunction>();

function validatorFor(schema: Json): ValidateFunction {
  const text = JSON.stringify(schema).replaceAll('#/components/schemas/', 'https://sonarly.invalid/openapi.json#/$defs/');
  let validate = validators.get(text);
  if (!validate) {
    validate = ajv.compile(JSON.parse(text));
    validators.set(text, validate);
  }
  return validate;
}

/** Checks a real response against the document. */
function expectDocumented(operation: Operation, response: LightMyRequestResponse) {
  const label = `${operation.method} ${operation.path} → ${response.statusCode}`;
  const documented = operation.spec.responses[String(response.statusCode)];
  expect(documented, `${label} is not documented; body: ${response.body.slice(0, 300)}`).toBeDefined();
  const mediaType = String(response.headers['content-type']).split(';')[0]!;
  const media = documented.content?.[mediaType];
  expect(media, `${label}: content type ${mediaType} not documented`).toBeDefined();
  if (mediaType === 'application/json') {
    const validate = validatorFor(media.schema);
    const body = response.json();
    expect(validate(body), `${label}: ${ajv.errorsText(validate.errors)}\n${response.body.slice(0, 500)}`).toBe(true);
  }
  for (const header of Object.keys(documented.headers ?? {})) {
    // Idempotency-Replayed is documented where a replay can answer, and sent only on replays.
    if (header === 'Idempotency-Replayed') continue;
    expect(response.headers[header.toLowerCase()], `${label}: documented header ${header} missing`).toBeDefined();
  }
  if (!seen.has(operation.id)) seen.set(operation.id, new Set());
  seen.get(operation.id)!.add(response.statusCode);
}

function urlFor(operation: Operation, overrides: Record<string, string> = {}): string {
  const values: Record<string, string> = { accountGroupId: fixture.groupId, providerId: fixture.providerId, ...overrides };
  return operation.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? '507f1f77bcf86cd799439011'));
}

function call(target: FastifyInstance, operation: Operation, options: { key?: string; url?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  return target.inject({
    method: operation.method,
    url: options.url ?? urlFor(operation),
    headers: { ...(options.key ? bearer(options.key) : {}), ...options.headers },
    ...(operation.method === 'POST' ? { payload: (options.body ?? {}) as object } : {}),
  });
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and lints clean with Redocly (recommended-strict)', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const config = await createConfig({ extends: ['recommended-strict'], rules: { 'info-license': 'off', 'info-license-url': 'off' } });
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: '/v1/openapi.json', config });
    // Liveness, readiness and metrics answer no 4XX by design: they take no input and no key.
    const expected = (p: (typeof problems)[number]) =>
      p.ruleId === 'operation-4xx-response' && /^#\/paths\/~1(healthz|readyz|metrics)\//.test(p.location[0]?.pointer ?? '');
    const unexpected = problems.filter((p) => !expected(p)).map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`);
    expect(unexpected).toEqual([]);
  });

  it('documents the rate-limit headers on every response of every rate-limited operation, and Retry-After on 429', () => {
    for (const operation of operations()) {
      const limited = operation.spec.tags?.[0] !== 'Operations';
      for (const [status, response] of Object.entries(operation.spec.responses as Record<string, Json>)) {
        expect(Object.keys(response.headers ?? {}), `${operation.id} ${status}`).toContain('X-Trace-Id');
        if (!limited) continue;
        expect(Object.keys(response.headers), `${operation.id} ${status}`).toEqual(expect.arrayContaining(['RateLimit', 'RateLimit-Policy']));
        if (status === '429') expect(Object.keys(response.headers)).toContain('Retry-After');
      }
      if (limited) expect(operation.spec.responses['429'], operation.id).toBeDefined();
    }
    expect(doc.info.description).toContain('draft-ietf-httpapi-ratelimit-headers-10');
  });

  it('documents the Idempotency-Key header and an example of each error', () => {
    const schedule = operations().find((operation) => operation.id === 'scheduleMessageResponse')!;
    expect(schedule.spec.parameters.map((p: Json) => `${p.in}:${p.name.toLowerCase()}`)).toContain('header:idempotency-key');
    const conflict = schedule.spec.responses['409'].content['application/json'].examples;
    expect(Object.keys(conflict)).toEqual(expect.arrayContaining(['CONFLICT', 'IDEMPOTENCY_CONFLICT']));
    const limited = schedule.spec.responses['429'].content['application/json'].examples.RATE_LIMITED.value;
    const validate = validatorFor(schedule.spec.responses['429'].content['application/json'].schema);
    expect(validate(limited)).toBe(true);
    // The validator is not a rubber stamp.
    expect(validate({ ...limited, extra: 1 })).toBe(false);
    expect(validate({ ...limited, traceId: 'short' })).toBe(false);
  });
});

describe('real responses of every operation validate against the document', () => {
  it('answers of the known operations, including their successes', async () => {
    const op = (id: string) => {
      const found = operations().find((operation) => operation.id === id);
      if (!found) throw new Error(`operation ${id} is not in the document`);
      return found;
    };
    const check = async (id: string, options: Parameters<typeof call>[2] = {}) => {
      const operation = op(id);
      const response = await call(app, operation, options);
      expectDocumented(operation, response);
      return response;
    };
    await check('listAccounts', { key: fixture.key });
    await check('listMessages', { key: fixture.key });
    await check('listMessages', { key: fixture.key, url: `${urlFor(op('listMessages'))}?limit=1&conversationId=${fixture.conversationId}` });
    await check('listMessages', { key: fixture.key, url: `${urlFor(op('listMessages'))}?limit=0` });
    await check('lookupProspectsByProviderId', { key: fullKey });
    await check('lookupProspectsByProviderId', { key: fullKey, url: urlFor(op('lookupProspectsByProviderId'), { providerId: 'ACo-nobody' }) });
    const body = { prospectId: fixture.prospectId, message: 'Thanks, talk soon', conversationId: fixture.conversationId };
    const created = await check('scheduleMessageResponse', { key: fixture.key, body, headers: { 'idempotency-key': 'openapi-test-1' } });
    expect(created.statusCode).toBe(202);
    await check('scheduleMessageResponse', { key: fixture.key, body, headers: { 'idempotency-key': 'openapi-test-1' } });
    await check('scheduleMessageResponse', { key: fixture.key, body: { ...body, message: 'other' }, headers: { 'idempotency-key': 'openapi-test-1' } });
    await check('scheduleMessageResponse', { key: fixture.key, body: { prospectId: '507f1f77bcf86cd799439011', message: 'hi' } });
    const responseId = created.json().data.id as string;
    for (const id of operations().filter((operation) => operation.path.includes('{responseId}')).map((operation) => operation.id)) {
      await check(id, { key: fixture.key, url: urlFor(op(id), { responseId }) });
    }
    const listResponses = operations().find((operation) => operation.method === 'GET' && operation.path.endsWith('/messages/responses'));
    if (listResponses) await check(listResponses.id, { key: fixture.key });
    await check('getHealth');
    await check('getReadiness');
    const metrics = await check('getMetrics');
    expect(metrics.body).toContain('sonarly_http_requests_total');
  });

  it('the generic probes of every operation: no key, bad key, no permission, bad ids, over the limit', async () => {
    for (const operation of operations()) {
      if (operation.secured) {
        expectDocumented(operation, await call(app, operation));
        expectDocumented(operation, await call(app, operation, { key: 'sk_live_not-a-real-key' }));
        expectDocumented(operation, await call(app, operation, { key: noPermissionKey }));
        expectDocumented(operation, await call(app, operation, { key: fullKey, url: urlFor(operation, { accountGroupId: '507f1f77bcf86cd799439011' }) }));
        expectDocumented(operation, await call(app, operation, { key: fullKey }));
        if (operation.path.includes('{')) {
          const bad = Object.fromEntries([...operation.path.matchAll(/\{(\w+)\}/g)].map((match) => [match[1]!, 'not-an-id']));
          expectDocumented(operation, await call(app, operation, { key: fullKey, url: urlFor(operation, bad) }));
        }
        const key = await h.key([...PERMISSIONS], [fixture.groupId]);
        await call(tight, operation, { key });
        const limited = await call(tight, operation, { key });
        expect(limited.statusCode, operation.id).toBe(429);
        expectDocumented(operation, limited);
      } else {
        expectDocumented(operation, await call(tight, operation));
      }
    }
  });

  it('covered every operation, with a success for each known one', () => {
    for (const operation of operations()) {
      const statuses = [...(seen.get(operation.id) ?? [])];
      expect(statuses.length, `${operation.id} was never called`).toBeGreaterThan(0);
      if (operation.secured) expect(statuses, operation.id).toEqual(expect.arrayContaining([401, 429]));
    }
    const known = ['listAccounts', 'listMessages', 'lookupProspectsByProviderId', 'scheduleMessageResponse', 'getHealth', 'getReadiness', 'getMetrics'];
    for (const id of known) expect([...(seen.get(id) ?? [])].some((status) => status >= 200 && status < 300), `${id} had no 2xx`).toBe(true);
  });
});
