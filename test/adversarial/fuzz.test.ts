import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { signSandboxWebhook } from '../../src/connectors/sandbox/webhooks.js';
import { jobHandlers } from '../../src/scheduler/handlers.js';
import { Worker } from '../../src/scheduler/worker.js';
import { syncJobHandlers } from '../../src/sync/handlers.js';
import { type Operation, Contract } from './support/contract.js';
import { anyJson, fuzzSettings, headerValue, hex24, hostileString } from './support/fuzzing.js';
import { disclosures } from './support/leaks.js';
import { KEY_SHAPES, type KeyName, buildWorld } from './support/world.js';

/**
 * Schema-driven fuzzing of every operation of the project's own OpenAPI document. For each one,
 * fast-check derives requests from the operation's parameters and body schema: positive ones
 * (valid and meaningful: they must succeed), schema-valid ones with arbitrary values (any documented
 * answer), and negative ones, each a valid request with one thing broken (auth, a path or query
 * parameter, the body, a header, the method). Every answer is checked: no 5xx, the envelope, a
 * status and error code the document lists for that operation, a body matching its schema, the
 * trace id, and nothing disclosed (stack traces, paths, SQL, secrets). The sandbox behind the
 * server never fails, so a 5xx is always a bug.
 *
 * FUZZ_RUNS (default 1,000 per operation) and FUZZ_SEED (fixed by default; "random" for
 * exploration) size the run; `npm run test:fuzz-long` runs it longer with a random seed.
 */
const { runs, seed } = fuzzSettings(1000);

const world = await buildWorld();
afterAll(() => world.close());
const contract = await Contract.load(world.app);
const WEBHOOK_OPERATION = 'receiveConnectorWebhook';
const { A, B } = world.tenants;

type Case = {
  kind: 'positive' | 'valid' | 'negative';
  label: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
  /** The exact statuses this case must get; any documented status when absent. */
  expect?: number[];
};

const get = async (url: string, key: string) => {
  const response = await world.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
  if (response.statusCode !== 200) throw new Error(`setup: GET ${url} answered ${response.statusCode}`);
  return response.json().data as { nextCursor: string | null };
};

// Real cursors of tenant A, by the filter they were issued for; B's are the foreign ones.
const cursorsOf = async (groupId: string, conversationId: string, key: string) => ({
  messages: (await get(`/v1/accounts/${groupId}/messages?limit=2`, key)).nextCursor!,
  messagesOfConversation: (await get(`/v1/accounts/${groupId}/messages?limit=2&conversationId=${conversationId}`, key)).nextCursor!,
  responses: (await get(`/v1/accounts/${groupId}/messages/responses?limit=1`, key)).nextCursor!,
  responsesQueued: (await get(`/v1/accounts/${groupId}/messages/responses?limit=1&status=queued`, key)).nextCursor!,
});
const cursorsA = await cursorsOf(A.groupId, A.conversations[1]!.id, world.keys.A);
const cursorsB = await cursorsOf(B.groupId, B.conversations[1]!.id, world.keys.B);

const allIds = [...A.ids, ...B.ids].filter((id) => /^[0-9a-f]{24}$/.test(id));
const ownResponses = [...A.responses.queued, ...A.responses.sent, ...A.responses.cancelled];
// Hand-made conversations and the sandbox account's, two of which are listed through read-through.
const ownConversationIds = (await world.db.query<{ id: string }>('SELECT id FROM conversations WHERE account_group_id = $1 ORDER BY id', [A.groupId])).map((row) => row.id);

/** The permission an operation needs, as its description states it. */
const permissionOf = (operation: Operation) => /Needs `([a-z]+:[a-z]+)`/.exec(String(operation.spec.description ?? ''))?.[1] ?? null;

const keysWith = (predicate: (shape: { permissions: readonly string[]; groups: readonly string[] }) => boolean) =>
  (Object.keys(KEY_SHAPES) as KeyName[]).filter((name) => predicate(KEY_SHAPES[name]));

let idempotencySeq = 0;

/** Any generated value as text (objects may lack a prototype). */
function text(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? 'undefined');
}

/** A stable index in [0, n) from any generated value (shrinking may turn numbers into anything). */
function slot(value: unknown, n: number): number {
  const chars = text(value);
  let hash = 0;
  for (let i = 0; i < chars.length; i++) hash = (Math.imul(hash, 31) + chars.charCodeAt(i)) >>> 0;
  return hash % n;
}

/** Percent-encodes the UTF-8 bytes of any string (lone surrogates become U+FFFD, as on the wire). */
function encode(value: string): string {
  return [...Buffer.from(value, 'utf8')].map((byte) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** Builds a URL from a path template and values, encoding them unless told not to. */
function urlOf(operation: Operation, path: Record<string, string>, query: [string, string][], raw = false): string {
  const base = operation.path.replace(/\{(\w+)\}/g, (_, name: string) => (raw ? path[name]! : encode(path[name]!)));
  return query.length === 0 ? base : `${base}?${query.map(([k, v]) => `${encode(k)}=${raw ? v : encode(v)}`).join('&')}`;
}

interface Parts {
  path: Record<string, string>;
  query: [string, string][];
  headers: Record<string, string>;
  body: Record<string, unknown> | null;
  expect: number[];
}

/** A positive request: valid and meaningful for tenant A with a key that may do it. */
function positive(operation: Operation): fc.Arbitrary<Parts> {
  const pathParams = operation.parameters.filter((p) => p.in === 'path');
  const queryParams = operation.parameters.filter((p) => p.in === 'query');
  const pathArb = fc.record(
    Object.fromEntries(
      pathParams.map((p) => {
        switch (p.name) {
          case 'accountGroupId':
            return [p.name, fc.constant(A.groupId)];
          case 'responseId':
            return [p.name, fc.constantFrom(...ownResponses)];
          case 'providerId':
            return [p.name, fc.oneof(fc.constantFrom(world.sharedProviderId, ...A.prospects.map((x) => x.providerId)), fc.string({ minLength: 1, maxLength: p.schema.maxLength ?? 256 }).filter((v) => v !== '.' && v !== '..'))]; // dot segments are URL syntax
          default:
            throw new Error(`fuzz: no positive values for path parameter ${p.name} of ${operation.id}`);
        }
      }),
    ) as Record<string, fc.Arbitrary<string>>,
  );
  const queryArb = fc.record(
    Object.fromEntries(
      queryParams.map((p) => {
        let values: fc.Arbitrary<string | undefined>;
        if (p.name === 'cursor') values = fc.constant(undefined); // added below, matching the filters
        else if (p.name === 'conversationId') values = fc.option(fc.constantFrom(...ownConversationIds), { nil: undefined });
        else if (p.schema.type === 'integer') values = fc.option(fc.integer({ min: p.schema.minimum ?? 0, max: p.schema.maximum ?? 1000 }).map(String), { nil: undefined });
        else if (p.schema.anyOf) values = fc.option(fc.constantFrom(...(p.schema.anyOf as { enum: string[] }[]).flatMap((s) => s.enum)), { nil: undefined });
        else throw new Error(`fuzz: no positive values for query parameter ${p.name} of ${operation.id}`);
        return [p.name, values];
      }),
    ) as Record<string, fc.Arbitrary<string | undefined>>,
  );
  const permission = permissionOf(operation);
  const keyArb = fc.constantFrom(...keysWith((shape) => shape.groups.includes('A' as never) && (permission === null || shape.permissions.includes(permission as never))));
  const schedule = operation.body !== null;
  const bodyArb: fc.Arbitrary<Record<string, unknown> | null> = schedule
    ? fc.oneof(
        fc.record({
          prospect: fc.constantFrom(...A.prospects.filter((p) => p.conversationId)),
          message: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).map((m) => `${A.token} ${m}`),
          withConversation: fc.boolean(),
          withChannel: fc.boolean(),
        }).map(({ prospect, message, withConversation, withChannel }) => ({
          prospectId: prospect.id,
          message,
          ...(withConversation ? { conversationId: prospect.conversationId } : {}),
          ...(withChannel ? { channel: 'direct_message' } : {}),
        })),
        fc.record({ message: fc.string({ minLength: 1, maxLength: 1800 }), subject: fc.string({ minLength: 1, maxLength: 200 }) }).map(({ message, subject }) => ({
          prospectId: A.prospects.at(-1)!.id,
          channel: 'inmail',
          message: `x${message}`,
          subject: `s${subject.slice(1)}`,
        })),
      )
    : fc.constant(null);
  return fc.record({ path: pathArb, query: queryArb, key: keyArb, body: bodyArb, idempotent: fc.boolean() }).map(({ path, query, key, body, idempotent }) => {
    const entries = Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined);
    // A real cursor for exactly these filters.
    if (queryParams.some((p) => p.name === 'cursor')) {
      const filters = Object.fromEntries(entries);
      const isResponses = operation.path.endsWith('/responses');
      const cursor = isResponses
        ? filters.status === undefined ? cursorsA.responses : filters.status === 'queued' ? cursorsA.responsesQueued : undefined
        : filters.conversationId === undefined ? cursorsA.messages : filters.conversationId === A.conversations[1]!.id ? cursorsA.messagesOfConversation : undefined;
      if (cursor) entries.push(['cursor', cursor]);
    }
    const headers: Record<string, string> = operation.secured ? { authorization: `Bearer ${world.keys[key]}` } : {};
    if (schedule && idempotent) headers['idempotency-key'] = `fuzz-${seed}-${++idempotencySeq}`;
    const ok = Number(Object.keys(operation.spec.responses).find((s) => s.startsWith('2')));
    const expectStatuses = operation.id === 'cancelScheduledMessageResponse' ? [200, 409] : [ok];
    return { path, query: entries, headers, body, expect: expectStatuses };
  });
}

/** A value valid by the schema alone (ids from either tenant or made up). */
function fromSchema(schema: Record<string, any>): fc.Arbitrary<string> {
  if (schema.pattern === '^[0-9a-f]{24}$') return fc.oneof(fc.constantFrom(...allIds), hex24);
  if (schema.anyOf) return fc.constantFrom(...(schema.anyOf as { enum: string[] }[]).flatMap((s) => s.enum));
  if (schema.type === 'integer') return fc.integer({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6 }).map(String);
  const lengths = { minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 60, 60) };
  // Any code unit, NUL, controls and lone surrogates included: valid by the schema all the same.
  return fc.oneof(fc.string({ unit: 'grapheme', ...lengths }), fc.string({ unit: 'binary', ...lengths }), fc.string({ unit: fc.constantFrom('\u0000', '\u0001', '\u001f', '\u007f', '\ud800', '\udfff', '\ufeff', '\u202e', 'a'), ...lengths }));
}

function schemaValid(operation: Operation): fc.Arbitrary<Parts> {
  return fc
    .record({
      base: positive(operation),
      path: fc.record(Object.fromEntries(operation.parameters.filter((p) => p.in === 'path').map((p) => [p.name, fromSchema(p.schema)])) as Record<string, fc.Arbitrary<string>>),
      query: fc.record(
        Object.fromEntries(operation.parameters.filter((p) => p.in === 'query').map((p) => [p.name, fc.option(p.name === 'cursor' ? fc.constantFrom(...Object.values(cursorsA), ...Object.values(cursorsB)) : fromSchema(p.schema), { nil: undefined })])) as Record<string, fc.Arbitrary<string | undefined>>,
      ),
      key: fc.constantFrom(...(Object.keys(KEY_SHAPES) as KeyName[])),
      body: operation.body
        ? fc.record(
            {
              prospectId: fromSchema({ pattern: '^[0-9a-f]{24}$' }),
              message: fromSchema({ minLength: 1, maxLength: 50 }),
              channel: fc.constantFrom('direct_message', 'inmail'),
              conversationId: fromSchema({ pattern: '^[0-9a-f]{24}$' }),
              subject: fromSchema({ maxLength: 60 }),
            },
            { requiredKeys: ['prospectId', 'message'] },
          )
        : fc.constant(null),
    })
    .map(({ base, path, query, key, body }) => ({
      ...base,
      path,
      query: Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined),
      headers: operation.secured ? { ...base.headers, authorization: `Bearer ${world.keys[key]}` } : base.headers,
      body,
      expect: [],
    }));
}

type Mutation = { label: string; expect?: number[]; apply: (parts: Parts, value: unknown) => Parts & { raw?: boolean; payload?: string; contentType?: string; method?: string } };

/** The ways to break one thing of a positive request of this operation. */
function mutations(operation: Operation): Mutation[] {
  const list: Mutation[] = [];
  const validation = operation.spec.responses['422'] && !operation.spec.responses['400'] ? 422 : 400;
  const permission = permissionOf(operation);
  const pathParams = operation.parameters.filter((p) => p.in === 'path');
  const queryParams = operation.parameters.filter((p) => p.in === 'query');
  const withHeader = (parts: Parts, name: string, value: string | undefined) => {
    const headers = { ...parts.headers };
    if (value === undefined) delete headers[name];
    else headers[name] = value;
    return { ...parts, headers };
  };
  if (operation.secured) {
    list.push(
      { label: 'no Authorization', expect: [401], apply: (p) => withHeader(p, 'authorization', undefined) },
      { label: 'Authorization garbage', expect: [401], apply: (p, v) => withHeader(p, 'authorization', text(v)) },
      { label: 'Bearer garbage', expect: [401], apply: (p, v) => withHeader(p, 'authorization', `Bearer ${text(v).replace(/\s/g, '') || 'x'}`) },
      { label: 'revoked key', expect: [401], apply: (p) => withHeader(p, 'authorization', `Bearer ${world.revokedKey}`) },
      { label: 'key with a flipped character', expect: [401], apply: (p) => withHeader(p, 'authorization', `Bearer ${world.keys.A.slice(0, -3)}${world.keys.A.at(-3) === 'a' ? 'b' : 'a'}${world.keys.A.slice(-2)}`) },
    );
    if (permission) {
      const lacking = keysWith((shape) => shape.groups.includes('A' as never) && !shape.permissions.includes(permission as never));
      list.push({ label: `key without ${permission}`, expect: [403], apply: (p, v) => withHeader(p, 'authorization', `Bearer ${world.keys[lacking[slot(v, lacking.length)]!]}`) });
    }
  }
  if (pathParams.some((p) => p.name === 'accountGroupId')) {
    list.push(
      { label: "another tenant's group", expect: [403], apply: (p) => ({ ...withHeader(p, 'authorization', `Bearer ${world.keys.A}`), path: { ...p.path, accountGroupId: B.groupId } }) },
      { label: 'a group that does not exist', expect: [403], apply: (p, v) => ({ ...p, path: { ...p.path, accountGroupId: text(v).replace(/[^0-9a-f]/g, '0').padEnd(24, '0').slice(0, 24) } }) },
    );
  }
  for (const param of pathParams) {
    if (param.schema.pattern) {
      list.push({
        label: `malformed ${param.name}`,
        expect: [validation],
        apply: (p, v) => {
          const value = text(v);
          const bad = new RegExp(param.schema.pattern).test(value) || value.length === 0 ? `${value}!` : value;
          return { ...p, path: { ...p.path, [param.name]: bad.slice(0, 1000) } };
        },
      });
    }
    list.push({ label: `${param.name} over 1024 characters (the router's limit)`, expect: [validation], apply: (p, v) => ({ ...p, path: { ...p.path, [param.name]: `${text(v)}${'y'.repeat(1030)}`.slice(0, 1500) } }) });
    if (param.schema.maxLength) {
      list.push({ label: `${param.name} over ${param.schema.maxLength} characters`, expect: [validation], apply: (p) => ({ ...p, path: { ...p.path, [param.name]: 'x'.repeat(param.schema.maxLength + 1) } }) });
    }
  }
  if (pathParams.some((p) => p.name === 'responseId')) {
    list.push(
      { label: 'responseId of another tenant', expect: [404], apply: (p, v) => ({ ...p, path: { ...p.path, responseId: [...B.responses.queued, ...B.responses.sent][slot(v, 5)]! } }) },
      { label: 'responseId that does not exist', expect: [404], apply: (p, v) => ({ ...p, path: { ...p.path, responseId: text(v).replace(/[^0-9a-f]/g, 'f').padEnd(24, 'e').slice(0, 24) } }) },
    );
  }
  if (pathParams.length > 0) {
    // The first path value replaced by a broken escape; the others stay properly encoded.
    list.push({ label: 'raw, badly encoded path segment', apply: (p, v) => ({ ...p, raw: true, query: [], path: Object.fromEntries(Object.keys(p.path).map((k, i) => [k, i === 0 ? `%${encode(text(v).slice(0, 2))}` : encode(p.path[k]!)])) }) });
  }
  for (const param of queryParams) {
    const replace = (p: Parts, value: string) => ({ ...p, query: [...p.query.filter(([k]) => k !== param.name), [param.name, value] as [string, string]] });
    if (param.schema.type === 'integer') {
      list.push(
        { label: `${param.name} out of range`, expect: [validation], apply: (p, v) => replace(p, String(slot(v, 2) === 0 ? (param.schema.minimum ?? 0) - 1 - (slot(v, 1000)) : (param.schema.maximum ?? 0) + 1 + (slot(v, 1e9)))) },
        { label: `${param.name} not an integer`, expect: [validation], apply: (p, v) => replace(p, ['1.5', 'abc', '', ' ', '2.000001', '1e3', 'NaN', 'Infinity', '-Infinity', '1e400', 'true', '١٠'][slot(v, 12)]!) },
      );
    } else if (param.name === 'cursor') {
      list.push(
        { label: 'cursor garbage', expect: [validation], apply: (p, v) => replace(p, `${text(v)}x`.slice(0, 1024)) },
        { label: 'cursor over 1024 characters', expect: [validation], apply: (p) => replace(p, 'a'.repeat(1025)) },
        { label: "another tenant's cursor", expect: [validation], apply: (p, v) => replace(p, Object.values(cursorsB)[slot(v, 4)]!) },
        {
          label: 'cursor of another query',
          expect: [validation],
          // A filtered cursor without its filter, or a cursor of the other list.
          apply: (p, v) => replace({ ...p, query: p.query.filter(([k]) => k !== 'status' && k !== 'conversationId') }, [cursorsA.messagesOfConversation, cursorsA.responsesQueued, operation.path.endsWith('/responses') ? cursorsA.messages : cursorsA.responses][slot(v, 3)]!),
        },
        {
          label: 'cursor with a flipped character',
          expect: [validation],
          apply: (p, v) => {
            const base = operation.path.endsWith('/responses') ? cursorsA.responses : cursorsA.messages;
            // Not the last character of either part: base64url's last character carries padding
            // bits, so changing it may decode to the very same bytes (the same, valid cursor).
            const dot = base.indexOf('.');
            const positions = [...Array(base.length).keys()].filter((i) => i !== dot && i !== dot - 1 && i !== base.length - 1);
            const at = positions[slot(v, positions.length)]!;
            return replace({ ...p, query: p.query.filter(([k]) => k !== 'status' && k !== 'conversationId') }, base.slice(0, at) + (base[at] === 'A' ? 'B' : 'A') + base.slice(at + 1));
          },
        },
      );
    } else {
      list.push({ label: `${param.name} invalid`, expect: [validation], apply: (p, v) => replace(p, text(v) || 'x') });
    }
    list.push({ label: `${param.name} twice`, apply: (p, v) => ({ ...p, query: [...p.query, [param.name, text(v)], [param.name, text(v)]] }) });
  }
  list.push({ label: 'unknown query parameters (ignored)', expect: undefined, apply: (p, v) => ({ ...p, query: [...p.query, [`x${text(v).slice(0, 10)}`, text(v)]] }) });
  if (operation.body) {
    const body = (p: Parts, change: (b: Record<string, unknown>) => unknown) => ({ ...p, payload: JSON.stringify(change({ ...p.body! })) });
    list.push(
      { label: 'required field missing', expect: [400], apply: (p, v) => body(p, (b) => (slot(v, 2) === 0 ? (delete b.prospectId, b) : (delete b.message, b))) },
      { label: 'unknown body field', expect: [400], apply: (p, v) => body(p, (b) => ({ ...b, [`x${text(v).slice(0, 8)}`]: v })) },
      { label: 'field of the wrong type', expect: [400], apply: (p, v) => body(p, (b) => ({ ...b, [['prospectId', 'message', 'channel', 'conversationId', 'subject'][slot(v, 5)]!]: [1, null, true, { a: 1 }, [], 1.5][slot(v, 6)] })) },
      { label: 'body is not an object', expect: [400], apply: (p, v) => ({ ...p, payload: JSON.stringify(v === undefined ? null : typeof v === 'object' && v !== null && !Array.isArray(v) ? [v] : v) }) },
      { label: 'body is not JSON', expect: [400], apply: (p, v) => ({ ...p, payload: `{${text(v)}` }) },
      { label: 'body nested 40 deep', expect: [400], apply: (p) => ({ ...p, payload: JSON.stringify({ ...p.body, x: JSON.parse('['.repeat(40) + ']'.repeat(40)) }) }) },
      { label: 'body over the size limit', expect: [413], apply: (p) => ({ ...p, payload: JSON.stringify({ ...p.body, message: 'x'.repeat(300 * 1024) }) }) },
      { label: 'body not sent as JSON', expect: [415], apply: (p, v) => ({ ...p, payload: JSON.stringify(p.body), contentType: ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'text/json'][slot(v, 5)]! }) },
      { label: 'no body', expect: [400], apply: (p) => ({ ...p, payload: '' }) },
      { label: 'blank message', expect: [400], apply: (p, v) => body(p, (b) => ({ ...b, message: [' ', '\n\t', '\u00a0', '\u3000'][slot(v, 4)]!.repeat(1 + (slot(v, 5))) })) },
      { label: 'message over 8,000 characters', expect: [400], apply: (p) => body(p, (b) => ({ ...b, message: 'm'.repeat(8001) })) },
      { label: 'InMail over 1,900 characters', expect: [400], apply: (p) => body(p, (b) => ({ ...b, channel: 'inmail', subject: 'Hello', message: 'm'.repeat(1901) })) },
      { label: 'InMail without subject', expect: [400], apply: (p) => body(p, (b) => ({ ...b, channel: 'inmail', subject: undefined })) },
      { label: 'subject over 200 characters', expect: [400], apply: (p) => body(p, (b) => ({ ...b, subject: 's'.repeat(201) })) },
      { label: 'unknown channel', expect: [400], apply: (p, v) => body(p, (b) => ({ ...b, channel: `${text(v)}x` })) },
      { label: 'prospect of another tenant', expect: [422], apply: (p, v) => body(p, (b) => ({ ...b, prospectId: B.prospects[slot(v, B.prospects.length)]!.id, conversationId: undefined, channel: undefined })) },
      { label: 'conversation of another tenant', expect: [422], apply: (p, v) => body(p, (b) => ({ ...b, conversationId: B.conversations[slot(v, B.conversations.length)]!.id })) },
      { label: 'Idempotency-Key invalid', expect: [400], apply: (p, v) => withHeader(p, 'idempotency-key', ['', ' ', 'a b', '""', 'k'.repeat(256), '\u00e9t\u00e9', 'tab\there', '" "'][slot(v, 8)]!) },
      { label: 'Idempotency-Key of any printable text', apply: (p, v) => withHeader(p, 'idempotency-key', text(v)) },
      { label: 'Idempotency-Key reused with another body', expect: [409], apply: (p) => withHeader(p, 'idempotency-key', A.idempotency[0]!.key) },
    );
  } else {
    list.push({ label: 'unexpected body', apply: (p, v) => ({ ...p, payload: JSON.stringify(v ?? null), contentType: 'application/json' }) });
  }
  list.push({ label: 'unexpected headers', apply: (p, v) => ({ ...p, headers: { ...p.headers, 'x-forwarded-for': text(v), 'accept': text(v), 'x-trace-id': text(v), 'accept-encoding': text(v) } }) });
  const unsupported = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((method) => !contract.doc.paths[operation.path][method.toLowerCase()]);
  list.push({ label: 'unsupported method', expect: [405], apply: (p, v) => ({ ...p, method: unsupported[slot(v, unsupported.length)]! }) });
  return list;
}

function negative(operation: Operation): fc.Arbitrary<{ parts: Parts; mutation: Mutation; out: ReturnType<Mutation['apply']> }> {
  const list = mutations(operation);
  return fc
    .record({ parts: positive(operation), index: fc.nat({ max: list.length - 1 }), value: fc.oneof(fc.integer(), hostileString(300), anyJson, headerValue) })
    .map(({ parts, index, value }) => {
      const mutation = list[index]!;
      return { parts, mutation, out: mutation.apply(parts, typeof value === 'string' && mutation.label.startsWith('Idempotency') ? value.replace(/[^\x20-\xff]/g, '') : value) };
    });
}

function toCase(operation: Operation, kind: Case['kind'], label: string, parts: ReturnType<Mutation['apply']>, expectStatuses: number[] | undefined): Case {
  const method = parts.method ?? operation.method;
  const headers = { ...parts.headers };
  let payload = parts.payload;
  if (payload === undefined && parts.body && method === 'POST') payload = JSON.stringify(parts.body);
  if (payload !== undefined) headers['content-type'] = parts.contentType ?? 'application/json';
  return { kind, label, method, url: urlOf(operation, parts.path, parts.query, parts.raw), headers, ...(payload !== undefined ? { payload } : {}), ...(expectStatuses?.length ? { expect: expectStatuses } : {}) };
}

function cases(operation: Operation): fc.Arbitrary<Case> {
  return fc.oneof(
    { weight: 3, arbitrary: positive(operation).map((parts) => toCase(operation, 'positive', 'positive', parts, parts.expect)) },
    { weight: 2, arbitrary: schemaValid(operation).map((parts) => toCase(operation, 'valid', 'schema-valid values', parts, undefined)) },
    { weight: 5, arbitrary: negative(operation).map(({ mutation, out }) => toCase(operation, 'negative', mutation.label, out, mutation.expect)) },
  );
}

interface Tally {
  cases: number;
  byKind: Record<string, number>;
  statuses: Record<string, number>;
  labels: Set<string>;
}
const tallies = new Map<string, Tally>();

async function check(operation: Operation, c: Case): Promise<string[]> {
  const response = await world.app.inject({ method: c.method as 'GET', url: c.url, headers: c.headers, ...(c.payload !== undefined ? { payload: c.payload } : {}) });
  const tally = tallies.get(operation.id)!;
  tally.cases++;
  tally.byKind[c.kind] = (tally.byKind[c.kind] ?? 0) + 1;
  tally.statuses[response.statusCode] = (tally.statuses[response.statusCode] ?? 0) + 1;
  tally.labels.add(c.label);
  const problems: string[] = [];
  if (c.method === operation.method) {
    problems.push(...contract.problems(operation, response));
  } else {
    if (response.statusCode !== 405) problems.push(`${c.method} answered ${response.statusCode}, not 405`);
    if (!String(response.headers.allow ?? '').split(', ').includes(operation.method)) problems.push(`405 without Allow naming ${operation.method}: ${response.headers.allow}`);
    if (response.json().error?.code !== 'METHOD_NOT_ALLOWED') problems.push(`405 with code ${response.json().error?.code}`);
  }
  if (c.expect && !c.expect.includes(response.statusCode)) problems.push(`expected ${c.expect.join(' or ')}, got ${response.statusCode}`);
  let decodedUrl = c.url;
  try {
    decodedUrl = decodeURIComponent(c.url.replace(/\+/g, ' '));
  } catch {
    // Broken encodings are sent on purpose; the raw URL is what was carried then.
  }
  problems.push(...disclosures(response.body, `${c.url} ${decodedUrl} ${JSON.stringify(c.headers)} ${c.payload ?? ''}`, world.secrets));
  return problems.map((problem) => `${problem}\n  case: ${c.kind} '${c.label}' ${c.method} ${c.url.slice(0, 300)}\n  headers: ${JSON.stringify(c.headers).slice(0, 300)}\n  payload: ${(c.payload ?? '').slice(0, 300)}\n  answer: ${response.statusCode} ${response.body.slice(0, 400)}`);
}

describe(`schema-driven fuzzing (${runs} cases per operation, seed ${seed})`, () => {
  it('covers every operation of the OpenAPI document', () => {
    expect(contract.operations.length).toBeGreaterThanOrEqual(11);
  });

  // The webhook receiver's meaningful requests carry the provider's signature over the body; it
  // has its own fuzzing below, whose answers are checked against the same document.
  const generic = contract.operations.filter((operation) => operation.id !== WEBHOOK_OPERATION);
  describe.each(generic.map((operation) => [operation.id, operation] as const))('%s', (_id, operation) => {
    it('answers every generated request as documented, without 5xx or disclosures', { timeout: 1_200_000 }, async () => {
      tallies.set(operation.id, { cases: 0, byKind: {}, statuses: {}, labels: new Set() });
      await fc.assert(
        fc.asyncProperty(cases(operation), async (c) => {
          const problems = await check(operation, c);
          if (problems.length > 0) throw new Error(problems.join('\n'));
        }),
        { numRuns: runs, seed },
      );
      const tally = tallies.get(operation.id)!;
      console.log(`[fuzz] ${operation.id}: ${tally.cases} cases ${JSON.stringify(tally.byKind)}, statuses ${JSON.stringify(tally.statuses)}, ${tally.labels.size} case shapes`);
      expect(tally.cases).toBeGreaterThanOrEqual(runs);
      // The generators reached both sides: accepted requests and rejected ones.
      expect(Object.keys(tally.statuses).some((s) => s.startsWith('2'))).toBe(true);
      if (operation.secured) expect(Object.keys(tally.statuses).some((s) => s.startsWith('4'))).toBe(true);
    });
  });

  it('the webhook receiver (signed by the provider): any signed body gets 200, 400 or 401 as documented, never 5xx', { timeout: 600_000 }, async () => {
    const operation = contract.operations.find((candidate) => candidate.id === WEBHOOK_OPERATION)!;
    expect(operation, `${WEBHOOK_OPERATION} is in the document`).toBeDefined();
    const conversation = A.conversations[1]!;
    const validEvent = {
      id: 'evt',
      type: 'message.created',
      occurred_at: '2026-05-04T09:00:00.000Z',
      conversation: { id: conversation.providerId, name: null, participant: null },
      message: { id: 'fuzz-msg', conversation_id: conversation.providerId, sender_id: null, is_sender: false, text: 'hi', sent_at: '2026-05-04T09:00:00.000Z', parent_id: null, edited_at: null, attachments: [] },
    };
    // A valid event with one field replaced by anything, or any JSON at all.
    const mutatedEvent = fc.record({ path: fc.constantFrom('id', 'type', 'occurred_at', 'conversation', 'message', 'message.id', 'message.text', 'message.sent_at', 'message.attachments', 'message.is_sender', 'conversation.participant'), value: anyJson }).map(({ path, value }) => {
      const event = JSON.parse(JSON.stringify(validEvent)) as Record<string, any>;
      const [head, tail] = path.split('.') as [string, string | undefined];
      if (tail) event[head][tail] = value;
      else event[head] = value;
      return JSON.stringify({ events: [event] });
    });
    // Well-formed events carrying hostile text, ids and names (accepted, then stored by the worker).
    const hostileEvent = fc
      .record({ id: hostileString(60), text: hostileString(300), name: fc.option(hostileString(60)), sender: fc.option(hostileString(40)), isSender: fc.boolean(), type: fc.constantFrom('message.created', 'message.edited', 'message.deleted') })
      .map(({ id, text, name, sender, isSender, type }) =>
        JSON.stringify({ events: [{ ...validEvent, id: `evt-${id}`, type, conversation: { ...validEvent.conversation, name }, message: { ...validEvent.message, id: `m-${id}`, text, sender_id: sender, is_sender: isSender } }] }),
      );
    const body = fc.oneof(hostileEvent, mutatedEvent, anyJson.map((value) => JSON.stringify({ events: value })), anyJson.map((value) => JSON.stringify(value) ?? 'null'), hostileString(200));
    const statuses: Record<number, number> = {};
    const webhookRuns = Math.max(1000, Math.round(runs / 10));
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (text, signed) => {
        const response = await world.app.inject({
          method: 'POST',
          url: `/v1/webhooks/sandbox/${A.sandboxAccountId}`,
          headers: { 'content-type': 'application/json', 'x-sandbox-signature': signed ? signSandboxWebhook(A.webhookSecret, text) : 'sha256=00' },
          payload: text,
        });
        statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
        const json = response.json() as { success: boolean; traceId: string };
        const problems = [
          ...([200, 400, 401].includes(response.statusCode) ? [] : [`status ${response.statusCode}`]),
          ...(typeof json.success === 'boolean' && /^[0-9a-f]{24}$/.test(json.traceId) ? [] : ['not the envelope']),
          ...contract.problems(operation, response),
          ...disclosures(response.body, text, world.secrets),
        ];
        if (problems.length > 0) throw new Error(`${problems.join(', ')}: ${text.slice(0, 300)} → ${response.body.slice(0, 300)}`);
      }),
      { numRuns: webhookRuns, seed },
    );
    // What was accepted is then stored by the worker, and the replies the fuzzing queued are sent:
    // no job may fail there (an accepted event that fails on every retry is a poison job).
    const failures: string[] = [];
    const worker = new Worker({
      db: world.db,
      clock: world.clock,
      concurrency: 16,
      handlers: { ...jobHandlers({ db: world.db, clock: world.clock, connectors: world.services.connectors!, random: () => 0.5 }), ...syncJobHandlers({ db: world.db, clock: world.clock, connectors: world.services.connectors! }) },
      log: (level, message, fields) => {
        if (level === 'error') failures.push(`${message} ${JSON.stringify(fields)}`.slice(0, 300));
      },
    });
    let processed = 0;
    for (let n = await worker.runOnce(); n > 0; n = await worker.runOnce()) processed += n;
    console.log(`[fuzz] webhook receiver: ${webhookRuns} cases, statuses ${JSON.stringify(statuses)}, ${processed} jobs run (accepted deliveries and queued replies), ${failures.length} failed`);
    expect(failures.map((f) => f.replace(/"jobId":"\w+",/, ""))).toEqual([]);
    expect(statuses[200]).toBeGreaterThan(0);
    expect(statuses[401]).toBeGreaterThan(0);
  });
});
