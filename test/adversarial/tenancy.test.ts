import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { signSandboxWebhook } from '../../src/connectors/sandbox/webhooks.js';
import { Contract, type Operation } from './support/contract.js';
import { fuzzSettings, hex24 } from './support/fuzzing.js';
import { disclosures } from './support/leaks.js';
import { KEY_SHAPES, type KeyName, type Label, buildWorld } from './support/world.js';

/**
 * Cross-tenant probes (BOLA): two account groups with their own keys, a key with access to both
 * and keys with partial permissions. Each probe is a request of a documented operation whose
 * account group, conversation, prospect and response ids, cursor and Idempotency-Key are drawn
 * from either tenant, or guessed (random, or the neighbours of real ids: ids are sequential).
 *
 * Judged three ways:
 * - leaks: the answer holds no id, provider id or text token of a tenant other than the one in
 *   the path (a value the request itself carried does not count), and a key without access to a
 *   group never sees anything of it;
 * - the oracle: a key lacking the permission gets 403, a group the key may not access gets the
 *   same 403 whether it exists or not, a revoked key 401; and a request carrying another tenant's
 *   ids is answered exactly as the same request with ids that do not exist (status, code, size of
 *   the data);
 * - the contract: every answer as the OpenAPI document says.
 *
 * TENANCY_PROBES (default 10,000) and FUZZ_SEED size and seed the run.
 */
const { runs: PROBES, seed } = fuzzSettings(10_000, 'TENANCY_PROBES');

const world = await buildWorld();
afterAll(() => world.close());
const contract = await Contract.load(world.app);
const { A, B } = world.tenants;
const tenants = { A, B };
const other = (label: Label): Label => (label === 'A' ? 'B' : 'A');

const TENANT_OPERATIONS = contract.operations.filter((operation) => operation.path.includes('{accountGroupId}'));
const NONEXISTENT_GROUP = '507f1f77bcf86cd799439011';

// What each tenant has, by kind, to swap into the other's requests.
interface Pools {
  conversations: string[];
  prospects: { id: string; providerId: string; conversationId: string | null }[];
  responses: string[];
  cursors: string[];
  idempotencyKeys: { key: string; body: Record<string, unknown> }[];
}
async function poolsOf(label: Label): Promise<Pools> {
  const tenant = tenants[label];
  const conversations = (await world.db.query<{ id: string }>('SELECT id FROM conversations WHERE account_group_id = $1', [tenant.groupId])).map((r) => r.id);
  const cursors: string[] = [];
  for (const url of [
    `/v1/accounts/${tenant.groupId}/messages?limit=1`,
    `/v1/accounts/${tenant.groupId}/messages?limit=1&conversationId=${tenant.conversations[0]!.id}`,
    `/v1/accounts/${tenant.groupId}/messages/responses?limit=1`,
    `/v1/accounts/${tenant.groupId}/messages/responses?limit=1&status=queued`,
  ]) {
    const response = await world.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${world.keys[label]}` } });
    cursors.push(response.json().data.nextCursor as string);
  }
  return {
    conversations,
    prospects: tenant.prospects,
    responses: [...tenant.responses.queued, ...tenant.responses.sent, ...tenant.responses.cancelled],
    cursors,
    idempotencyKeys: tenant.idempotency,
  };
}
const pools: Record<Label, Pools> = { A: await poolsOf('A'), B: await poolsOf('B') };
const realIds = [...A.ids, ...B.ids].filter((id) => /^[0-9a-f]{24}$/.test(id));

/** The neighbours of a real id: ids end in a counter, so these are what enumeration would try. */
const neighbour = (id: string, delta: number) => (BigInt(`0x${id}`) + BigInt(delta)).toString(16).padStart(24, '0').slice(-24);

type Source = 'own' | 'foreign' | 'guess' | 'neighbour';
const source = fc.constantFrom<Source>('own', 'own', 'foreign', 'foreign', 'guess', 'neighbour');

interface Probe {
  key: KeyName | 'revoked';
  operationId: string;
  group: Label | 'nonexistent';
  /** Values by parameter, and which tenant each id came from (for the twin). */
  path: Record<string, string>;
  query: [string, string][];
  body: Record<string, unknown> | null;
  idempotencyKey: string | null;
  /** Values the probe took from the other tenant, with the made-up values that stand in for them in the twin request. */
  foreign: Map<string, string>;
}

let fresh = 0;
const madeUp = () => `${(0xfeed000000 + ++fresh).toString(16)}${'0'.repeat(14)}`.slice(0, 24);

function pick<T>(values: readonly T[], n: number): T {
  return values[n % values.length]!;
}

/** An id of `kind`, from the group's own data, the other tenant's, or guessed. */
function idFrom(kind: 'conversations' | 'responses' | 'prospects', from: Source, group: Label, n: number, foreign: Map<string, string>): string {
  const pool = (label: Label) => (kind === 'prospects' ? pools[label].prospects.map((p) => p.id) : pools[label][kind]);
  switch (from) {
    case 'own':
      return pick(pool(group), n);
    case 'foreign': {
      const id = pick(pool(other(group)), n);
      foreign.set(id, madeUp());
      return id;
    }
    case 'guess':
      return neighbour('507f1f77bcf86cd799439011', n);
    case 'neighbour': {
      const id = neighbour(pick(realIds, n), (n % 7) - 3);
      if (tenants[other(group)].ids.has(id)) foreign.set(id, madeUp());
      return id;
    }
  }
}

const probeArb: fc.Arbitrary<Probe> = fc
  .record({
    // Mostly keys that may act (so ids get swapped inside a group they can reach), all shapes often.
    key: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom<KeyName | 'revoked'>('A', 'B', 'AB') },
      { weight: 2, arbitrary: fc.constantFrom<KeyName | 'revoked'>(...(Object.keys(KEY_SHAPES) as KeyName[]), 'revoked') },
    ),
    operation: fc.constantFrom(...TENANT_OPERATIONS.map((operation) => operation.id)),
    group: fc.constantFrom<Label | 'nonexistent'>('A', 'B', 'A', 'B', 'nonexistent'),
    sources: fc.array(source, { minLength: 6, maxLength: 6 }),
    n: fc.array(fc.nat(10_000), { minLength: 6, maxLength: 6 }),
    limit: fc.integer({ min: 1, max: 100 }),
    status: fc.option(fc.constantFrom('queued', 'sending', 'sent', 'failed', 'cancelled'), { nil: undefined }),
    withConversation: fc.boolean(),
    withCursor: fc.boolean(),
    channel: fc.constantFrom<string | undefined>(undefined, 'direct_message', 'inmail'),
    idempotency: fc.constantFrom<'none' | 'own' | 'foreign' | 'shared' | 'fresh'>('none', 'own', 'foreign', 'shared', 'fresh'),
  })
  .map((r) => {
    const operation = contract.operation(r.operation);
    const group: Label = r.group === 'nonexistent' ? 'A' : r.group;
    const foreign = new Map<string, string>();
    const path: Record<string, string> = { accountGroupId: r.group === 'nonexistent' ? neighbour(NONEXISTENT_GROUP, r.n[0]!) : tenants[r.group].groupId };
    const query: [string, string][] = [];
    let body: Record<string, unknown> | null = null;
    let idempotencyKey: string | null = null;
    const params = new Set(operation.parameters.map((p) => `${p.in}:${p.name}`));
    if (params.has('path:responseId')) path.responseId = idFrom('responses', r.sources[0]!, group, r.n[0]!, foreign);
    if (params.has('path:providerId')) {
      const from = r.sources[1]!;
      const prospects = pools[from === 'foreign' ? other(group) : group].prospects;
      path.providerId = from === 'guess' || from === 'neighbour' ? `ACo${neighbour(pick(realIds, r.n[1]!), 1)}` : pick(prospects, r.n[1]!).providerId;
      if (from === 'foreign' && path.providerId !== world.sharedProviderId) foreign.set(path.providerId, `ACoNobody${madeUp()}`);
    }
    if (params.has('query:limit')) query.push(['limit', String(r.limit)]);
    if (params.has('query:conversationId') && r.withConversation) query.push(['conversationId', idFrom('conversations', r.sources[2]!, group, r.n[2]!, foreign)]);
    if (params.has('query:status') && r.status) query.push(['status', r.status]);
    if (params.has('query:cursor') && r.withCursor) {
      const from = r.sources[3]!;
      const cursor = from === 'foreign' ? pick(pools[other(group)].cursors, r.n[3]!) : pick(pools[group].cursors, r.n[3]!);
      if (from === 'foreign') foreign.set(cursor, 'bm90LWEtY3Vyc29y.bm90LXNpZ25lZA');
      query.push(['cursor', cursor]);
    }
    if (operation.body) {
      const prospectId = idFrom('prospects', r.sources[4]!, group, r.n[4]!, foreign);
      const prospect = [...pools.A.prospects, ...pools.B.prospects].find((p) => p.id === prospectId);
      body = { prospectId, message: `${tenants[group].token} probe ${r.n[5]}` };
      if (r.withConversation) body.conversationId = r.sources[5] === 'own' && prospect?.conversationId ? prospect.conversationId : idFrom('conversations', r.sources[5]!, group, r.n[5]!, foreign);
      if (r.channel) body.channel = r.channel;
      if (r.channel === 'inmail') body.subject = 'Hello';
      const keys = { own: pools[group].idempotencyKeys, foreign: pools[other(group)].idempotencyKeys, shared: pools[group].idempotencyKeys.filter((k) => k.key.startsWith('shared')) };
      if (r.idempotency === 'fresh') idempotencyKey = `probe-${seed}-${++fresh}`;
      else if (r.idempotency !== 'none') {
        const used = pick(keys[r.idempotency], r.n[5]!);
        idempotencyKey = used.key;
        // Half the time, the very body the key was used with (in its own group).
        if (r.n[5]! % 2 === 0) body = { ...used.body };
      }
    }
    return { key: r.key, operationId: r.operation, group: r.group, path, query, body, idempotencyKey, foreign };
  });

const urlOf = (probe: Probe, replace: (value: string) => string = (v) => v) =>
  contract.operation(probe.operationId).path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(replace(probe.path[name]!))) +
  (probe.query.length ? `?${probe.query.map(([k, v]) => `${k}=${encodeURIComponent(replace(v))}`).join('&')}` : '');

function send(probe: Probe, replace?: (value: string) => string, idempotencyKey = probe.idempotencyKey): Promise<LightMyRequestResponse> {
  const secret = probe.key === 'revoked' ? world.revokedKey : world.keys[probe.key];
  const body = probe.body && replace ? Object.fromEntries(Object.entries(probe.body).map(([k, v]) => [k, typeof v === 'string' ? replace(v) : v])) : probe.body;
  return world.app.inject({
    method: contract.operation(probe.operationId).method,
    url: urlOf(probe, replace),
    headers: { authorization: `Bearer ${secret}`, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
    ...(body ? { payload: body } : {}),
  });
}

const tokensOf = (text: string) => text.split(/[^A-Za-z0-9_.:-]+/).filter((t) => t.length >= 6);

/** Ids, provider ids and text tokens of `label` in an answer that the request did not carry. */
function leaked(label: Label, answer: string, request: string): string[] {
  const carried = new Set(tokensOf(request));
  const tenant = tenants[label];
  return tokensOf(answer).filter((token) => !carried.has(token) && (tenant.ids.has(token) || token.includes(tenant.token) || [...tenant.ids].some((id) => id.length === 24 && token.includes(id))));
}

// Keys used per group (the world's and the probes'), to judge replays.
const usedKeys: Record<Label, Set<string>> = { A: new Set(A.idempotency.map((k) => k.key)), B: new Set(B.idempotency.map((k) => k.key)) };

const figures = { probes: 0, leaks: 0, twins: 0, byExpectation: {} as Record<string, number>, statuses: {} as Record<string, number>, webhookProbes: 0 };

async function judge(probe: Probe): Promise<string[]> {
  const operation = contract.operation(probe.operationId);
  const keyWasUsed = probe.idempotencyKey !== null && probe.group !== 'nonexistent' && usedKeys[probe.group].has(probe.idempotencyKey);
  const response = await send(probe);
  figures.probes++;
  figures.statuses[response.statusCode] = (figures.statuses[response.statusCode] ?? 0) + 1;
  const problems: string[] = [...contract.problems(operation, response)];
  const requestText = `${urlOf(probe)} ${JSON.stringify(probe.body ?? {})} ${probe.idempotencyKey ?? ''}`;
  problems.push(...disclosures(response.body, requestText, world.secrets));
  const shape = probe.key === 'revoked' ? null : KEY_SHAPES[probe.key];
  const permission = /Needs `([a-z]+:[a-z]+)`/.exec(String(operation.spec.description))?.[1];
  const pathGroup = probe.group === 'nonexistent' ? null : probe.group;
  const mayAccess = pathGroup !== null && shape !== null && (shape.groups as readonly string[]).includes(pathGroup);

  // No tenant's data reaches anyone but a key of that tenant, through that tenant's path.
  for (const label of ['A', 'B'] as const) {
    if (label === pathGroup && mayAccess) continue;
    const found = leaked(label, response.body, requestText);
    if (found.length > 0) {
      figures.leaks++;
      problems.push(`LEAK of tenant ${label}'s data (${found.slice(0, 5).join(', ')}) to key ${probe.key} on ${probe.group}`);
    }
  }

  let expectation: string;
  if (shape === null) {
    expectation = '401 revoked key';
    if (response.statusCode !== 401) problems.push(`a revoked key got ${response.statusCode}`);
  } else if (permission && !(shape.permissions as readonly string[]).includes(permission)) {
    expectation = '403 missing permission';
    if (response.statusCode !== 403 || response.json().error?.code !== 'FORBIDDEN') problems.push(`a key without ${permission} got ${response.statusCode}`);
  } else if (!mayAccess) {
    expectation = '403 group not accessible';
    const body = response.json();
    const validationFirst = response.statusCode === 400 || response.statusCode === 422;
    // Schema validation runs before the group check; everything else is the one FORBIDDEN answer.
    if (!validationFirst && (response.statusCode !== 403 || body.error?.message !== 'This API key has no access to that account group.')) {
      problems.push(`a key without access to the group got ${response.statusCode} ${response.body.slice(0, 200)}`);
    }
  } else if (probe.foreign.size > 0 && !keyWasUsed) {
    expectation = 'same as made-up ids';
    figures.twins++;
    // The twin is a separate request: a key of its own, if the probe had one.
    const twin = await send(probe, (value) => probe.foreign.get(value) ?? value, probe.idempotencyKey ? `twin-${seed}-${++fresh}` : null);
    const summary = (r: LightMyRequestResponse) => {
      const body = r.json();
      const data = body.data as Record<string, unknown> | null;
      const size = data && Array.isArray(data.items) ? data.items.length : data && Array.isArray(data.matches) ? data.matches.length : null;
      return `${r.statusCode} ${body.error?.code ?? 'ok'} ${size}`;
    };
    if (summary(response) !== summary(twin)) {
      problems.push(`another tenant's ids are answered differently from ids that do not exist: ${summary(response)} vs ${summary(twin)}\n  probe: ${response.body.slice(0, 300)}\n  twin: ${twin.body.slice(0, 300)}`);
    }
  } else {
    expectation = 'own data';
  }
  figures.byExpectation[expectation] = (figures.byExpectation[expectation] ?? 0) + 1;

  // Replays come only from the group's own use of the key; new replies join their tenant's data.
  if (pathGroup && mayAccess && probe.idempotencyKey) {
    if (response.headers['idempotency-replayed'] === 'true' && !usedKeys[pathGroup].has(probe.idempotencyKey)) problems.push(`replayed a key never used in group ${pathGroup}`);
    if (response.statusCode === 202 || response.statusCode === 422 || response.statusCode === 409) usedKeys[pathGroup].add(probe.idempotencyKey);
  }
  if (pathGroup && response.statusCode === 202) tenants[pathGroup].ids.add(response.json().data.id);

  return problems.map((problem) => `${problem}\n  probe: key ${probe.key}, ${operation.method} ${urlOf(probe)} body ${JSON.stringify(probe.body)} idem ${probe.idempotencyKey}\n  answer: ${response.statusCode} ${response.body.slice(0, 300)}`);
}

describe(`cross-tenant probes (${PROBES}, seed ${seed})`, () => {
  it('the world has two disjoint tenants and keys of every shape', () => {
    expect(A.ids.size).toBeGreaterThan(100);
    expect(B.ids.size).toBeGreaterThan(100);
    expect([...A.ids].filter((id) => B.ids.has(id))).toEqual([]);
    expect(TENANT_OPERATIONS.length).toBeGreaterThanOrEqual(6);
  });

  it('the leak detector finds another tenant\'s data (it is not blind)', async () => {
    const response = await world.app.inject({ method: 'GET', url: `/v1/accounts/${B.groupId}/messages?limit=5`, headers: { authorization: `Bearer ${world.keys.AB}` } });
    expect(leaked('B', response.body, '').length).toBeGreaterThan(5);
    expect(leaked('A', response.body, '')).toEqual([]);
  });

  it(`${PROBES} probes swapping group, conversation, prospect and response ids, cursors and idempotency keys: 0 leaks, each answered as documented`, { timeout: 1_800_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(probeArb, async (probe) => {
        const problems = await judge(probe);
        if (problems.length > 0) throw new Error(problems.join('\n'));
      }),
      { numRuns: PROBES, seed },
    );
    console.log(`[tenancy] ${figures.probes} probes (${figures.twins} compared with a twin of made-up ids), ${figures.leaks} leaks, by expectation ${JSON.stringify(figures.byExpectation)}, statuses ${JSON.stringify(figures.statuses)}`);
    expect(figures.leaks).toBe(0);
    expect(figures.probes).toBeGreaterThanOrEqual(PROBES);
    for (const expectation of ['401 revoked key', '403 missing permission', '403 group not accessible', 'same as made-up ids', 'own data']) {
      expect(figures.byExpectation[expectation] ?? 0, expectation).toBeGreaterThan(PROBES / 50);
    }
  });

  it('webhooks: a request signed with another account\'s secret is refused and stores nothing', async () => {
    const before = await world.db.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs');
    const cases = fc.sample(fc.record({ target: fc.constantFrom<Label>('A', 'B'), signer: fc.constantFrom<Label>('A', 'B'), n: fc.nat(1000) }), { numRuns: 200, seed });
    let accepted = 0;
    for (const { target, signer, n } of cases) {
      const conversation = tenants[other(target)].conversations[n % 6]!;
      const body = JSON.stringify({
        events: [{ id: `probe-${n}`, type: 'message.created', occurred_at: '2026-05-04T09:00:00.000Z', conversation: { id: conversation.providerId, name: null, participant: null }, message: { id: `probe-msg-${n}`, conversation_id: conversation.providerId, sender_id: null, is_sender: false, text: 'injected', sent_at: '2026-05-04T09:00:00.000Z', parent_id: null, edited_at: null, attachments: [] } }],
      });
      const response = await world.app.inject({
        method: 'POST',
        url: `/v1/webhooks/sandbox/${tenants[target].sandboxAccountId}`,
        headers: { 'content-type': 'application/json', 'x-sandbox-signature': signSandboxWebhook(tenants[signer].webhookSecret, body) },
        payload: body,
      });
      figures.webhookProbes++;
      expect(response.statusCode, `${signer} signing for ${target}`).toBe(signer === target ? 200 : 401);
      expect(disclosures(response.body, body, world.secrets)).toEqual([]);
      if (signer === target) accepted++;
    }
    const [after] = await world.db.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs');
    expect(after!.n - before[0]!.n).toBe(accepted);
    // Even hex24 guesses of account ids are the same 401.
    for (const id of fc.sample(hex24, { numRuns: 20, seed })) {
      const response = await world.app.inject({ method: 'POST', url: `/v1/webhooks/sandbox/${id}`, headers: { 'content-type': 'application/json', 'x-sandbox-signature': 'sha256=00' }, payload: '{}' });
      expect(response.statusCode).toBe(401);
    }
  });
});
