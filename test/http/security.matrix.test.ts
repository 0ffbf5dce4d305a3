import { afterAll, describe, expect, it } from 'vitest';
import { generateKeySecret, revokeApiKey } from '../../src/domain/apiKeys.js';
import { PERMISSIONS, type Permission } from '../../src/domain/permissions.js';
import { buildApp } from '../../src/http/app.js';
import { newId } from '../../src/ids.js';
import { insertMessages } from '../../src/storage/bulk.js';
import { Harness } from '../helpers/harness.js';

/**
 * Every documented route × key permissions × account group. The route list is read from the
 * generated OpenAPI document: a new route is covered by the 401 checks automatically, and fails
 * the matrix test below until it is given an entry in ROUTES (its permission and a valid request).
 */

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Fixture {
  ownGroup: string;
  sharedProviderId: string;
  /** A prospect of the own group that has a conversation (a reply to it can be queued). */
  ownProspectId: string;
  /** Queues a scheduled response in the own group through the API and returns its id. */
  queueResponse(): Promise<string>;
}

interface RouteCase {
  /** The permission the route needs; 'any' admits every valid key; 'public' needs no key (operations). */
  permission: Permission | 'any' | 'public';
  /** Status of a valid request on the key's own group. */
  okStatus: number;
  /**
   * A valid request apart from the group: values of path parameters other than accountGroupId,
   * and a body that passes validation (account-group access is checked after validation).
   * Called for every request, so a request with a side effect gets fresh state.
   */
  request?: (fixture: Fixture) => Promise<{ params?: Record<string, string>; body?: unknown }>;
}

let queuedResponse: string | undefined;

const ROUTES: Record<string, RouteCase> = {
  'GET /healthz': { permission: 'public', okStatus: 200 },
  'GET /readyz': { permission: 'public', okStatus: 200 },
  'GET /metrics': { permission: 'public', okStatus: 200 },
  // Called by the connector with a signature, never with an API key: any Authorization header is
  // ignored. This harness has no connectors, so every call is the 404 "not enabled"; signatures
  // and unknown targets are covered in test/sync and test/adversarial (fuzz, tenancy).
  'POST /v1/webhooks/{connector}/{accountId}': { permission: 'public', okStatus: 404 },
  'GET /v1/accounts': { permission: 'any', okStatus: 200 },
  'GET /v1/accounts/{accountGroupId}/messages': { permission: 'messages:read', okStatus: 200 },
  'GET /v1/accounts/{accountGroupId}/prospects/by-provider-id/{providerId}': {
    permission: 'prospects:read',
    okStatus: 200,
    request: async (f) => ({ params: { providerId: f.sharedProviderId } }),
  },
  'POST /v1/accounts/{accountGroupId}/messages/responses': {
    permission: 'messages:write',
    okStatus: 202,
    request: async (f) => ({ body: { prospectId: f.ownProspectId, message: 'Thanks, talk soon.' } }),
  },
  'GET /v1/accounts/{accountGroupId}/messages/responses': { permission: 'messages:read', okStatus: 200 },
  'GET /v1/accounts/{accountGroupId}/messages/responses/{responseId}': {
    permission: 'messages:read',
    okStatus: 200,
    request: async (f) => ({ params: { responseId: (queuedResponse ??= await f.queueResponse()) } }),
  },
  'POST /v1/accounts/{accountGroupId}/messages/responses/{responseId}/cancel': {
    permission: 'messages:write',
    okStatus: 200,
    // Only a queued response can be cancelled: a fresh one for every request.
    request: async (f) => ({ params: { responseId: await f.queueResponse() } }),
  },
};

const KEY_PERMISSIONS: Record<string, Permission[]> = {
  none: [],
  'messages:read': ['messages:read'],
  'messages:write': ['messages:write'],
  'prospects:read': ['prospects:read'],
  all: [...PERMISSIONS],
};

const NONEXISTENT_GROUP = '507f1f77bcf86cd799439011';

// The app is built at load time so that the tests can be generated from its OpenAPI document.
const h = await Harness.create();
afterAll(() => h.close());

interface DocumentedRoute {
  method: Method;
  path: string;
  name: string;
  security: unknown;
}

const openapi = (await h.app.inject({ method: 'GET', url: '/v1/openapi.json' })).json() as {
  paths: Record<string, Record<string, { security?: unknown }>>;
};
const documented: DocumentedRoute[] = Object.entries(openapi.paths).flatMap(([path, operations]) =>
  Object.entries(operations).map(([method, operation]) => ({
    method: method.toUpperCase() as Method,
    path,
    name: `${method.toUpperCase()} ${path}`,
    security: operation.security,
  })),
);
const scoped = (route: DocumentedRoute) => route.path.includes('{accountGroupId}');

// Two tenants. Everything of the foreign one is a marker that must never appear in a response.
const ownGroup = await h.group('Own Tenant');
const foreignGroup = await h.group('Foreign Tenant Zeta');
const sharedProviderId = `ACoShared${newId()}`;
const foreignMarkers: string[] = [foreignGroup, 'Foreign Tenant Zeta'];
/** Data of the own group: an anonymous caller may see neither group's. */
const ownMarkers: string[] = [ownGroup, 'Own Tenant'];
const adminKey = await h.key([...PERMISSIONS], [ownGroup]);
{
  for (const [group, label] of [
    [ownGroup, 'own'],
    [foreignGroup, 'foreign'],
  ] as const) {
    const accountId = await h.account(group);
    const conversationId = await h.conversation(group, accountId, sharedProviderId);
    const messageIds = [newId(), newId()];
    await insertMessages(
      h.db,
      messageIds.map((id, i) => ({
        id,
        accountGroupId: group,
        accountId,
        conversationId,
        providerMessageId: `pm-${id}`,
        senderProviderId: sharedProviderId,
        isSender: i === 0,
        text: `${label} secret text ${id}`,
        sentAt: new Date(Date.UTC(2026, 3, 28, 15, 30, i)).toISOString(),
        parentMessageId: null,
        attachments: [],
      })),
    );
    await h.prospect({ accountGroupId: group, providerId: sharedProviderId, name: `${label} prospect person`, companyName: `${label} company` });
    if (label === 'own') ownMarkers.push(accountId, conversationId, ...messageIds, 'own secret text', 'own prospect person', 'own company');
    if (label === 'foreign') {
      foreignMarkers.push(accountId, conversationId, ...messageIds, 'foreign secret text', 'foreign prospect person', 'foreign company');
      const [prospect] = await h.db.query<{ id: string; person_id: string }>('SELECT id, person_id FROM prospects WHERE account_group_id = $1', [group]);
      foreignMarkers.push(prospect!.id, prospect!.person_id);
    }
  }
}

if (documented.some((route) => route.name === 'POST /v1/accounts/{accountGroupId}/messages/responses')) {
  // A scheduled response of the foreign tenant, which no list or lookup of the own group may show.
  const [foreignProspect] = await h.db.query<{ id: string }>('SELECT id FROM prospects WHERE account_group_id = $1', [foreignGroup]);
  const queued = await h.app.inject({
    method: 'POST',
    url: `/v1/accounts/${foreignGroup}/messages/responses`,
    headers: { authorization: `Bearer ${await h.key([...PERMISSIONS], [foreignGroup])}` },
    payload: { prospectId: foreignProspect!.id, message: 'foreign queued reply' },
  });
  if (queued.statusCode !== 202) throw new Error(`could not queue the foreign response: ${queued.statusCode} ${queued.body}`);
  foreignMarkers.push(queued.json().data.id, 'foreign queued reply');
}

const [ownProspect] = await h.db.query<{ id: string }>('SELECT id FROM prospects WHERE account_group_id = $1', [ownGroup]);
const fixture: Fixture = {
  ownGroup,
  sharedProviderId,
  ownProspectId: ownProspect!.id,
  async queueResponse() {
    const response = await h.app.inject({
      method: 'POST',
      url: `/v1/accounts/${ownGroup}/messages/responses`,
      headers: { authorization: `Bearer ${adminKey}` },
      payload: { prospectId: ownProspect!.id, message: 'Queued for the matrix.' },
    });
    if (response.statusCode !== 202) throw new Error(`could not queue a response: ${response.statusCode} ${response.body}`);
    return response.json().data.id as string;
  },
};

async function call(route: DocumentedRoute, accountGroupId: string, authorization?: string) {
  const { params = {}, body } = (await ROUTES[route.name]?.request?.(fixture)) ?? {};
  const values: Record<string, string> = { ...params, accountGroupId };
  const response = await h.app.inject({
    method: route.method,
    url: route.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? NONEXISTENT_GROUP)),
    headers: authorization === undefined ? {} : { authorization },
    ...(body !== undefined ? { payload: body as object } : {}),
  });
  for (const marker of foreignMarkers) expect(response.body, `${route.name} leaked '${marker}'`).not.toContain(marker);
  if (!authorization?.startsWith('Bearer sk_live_')) {
    for (const marker of ownMarkers) expect(response.body, `${route.name} showed '${marker}' without a key`).not.toContain(marker);
  }
  const isJson = String(response.headers['content-type']).startsWith('application/json');
  const json = (isJson ? response.json() : { success: response.statusCode < 400, data: response.body, error: null }) as { success: boolean; data: unknown; error: { code: string; message: string; details: string } | null };
  return { status: response.statusCode, body: json };
}

describe('the route list', () => {
  it('is read from the OpenAPI document and includes the message-history routes', () => {
    expect(documented.map((route) => route.name)).toEqual(expect.arrayContaining(Object.keys(ROUTES)));
  });

  it('has a matrix entry for every documented route', () => {
    const unlisted = documented.map((route) => route.name).filter((name) => !ROUTES[name]);
    expect(unlisted, 'add these routes to ROUTES in test/http/security.matrix.test.ts (permission, valid request)').toEqual([]);
  });

  it('documents bearer authentication on every route but the public ones', () => {
    for (const route of documented) {
      expect(route.security, route.name).toEqual(ROUTES[route.name]?.permission === 'public' ? [] : [{ bearerAuth: [] }]);
    }
  });
});

const isPublic = (route: DocumentedRoute) => ROUTES[route.name]?.permission === 'public';

describe.each(documented.filter(isPublic))('public $name', (route) => {
  it('answers without a key, with any key, and shows no account group data', async () => {
    const revoked = await h.keyRecord([...PERMISSIONS], [ownGroup]);
    await revokeApiKey(h.db, revoked.id);
    for (const authorization of [undefined, 'Bearer sk_live_short', `Bearer ${revoked.secret}`, `Bearer ${await h.key([], [ownGroup])}`]) {
      const response = await call(route, ownGroup, authorization);
      expect(response.status, authorization).toBe(ROUTES[route.name]!.okStatus);
    }
  });
});

describe.each(documented.filter((route) => !isPublic(route)))('$name', (route) => {
  const groups = scoped(route) ? [ownGroup, 'not-a-valid-id'] : [ownGroup];

  describe('answers 401 UNAUTHORIZED, before validating anything, for', () => {
    const secret = generateKeySecret();
    const lastChar = secret.at(-1)!;
    const wrongChecksum = secret.slice(0, -1) + (lastChar === 'a' ? 'b' : 'a');
    const cases: [string, () => Promise<string | undefined>][] = [
      ['a missing Authorization header', async () => undefined],
      ['an empty Authorization header', async () => ''],
      ['a Basic scheme', async () => `Basic ${Buffer.from(`user:${await h.key(['messages:read'], [ownGroup])}`).toString('base64')}`],
      ['a key without the Bearer scheme', async () => h.key([...PERMISSIONS], [ownGroup])],
      ['Bearer without a key', async () => 'Bearer'],
      ['two tokens', async () => `Bearer ${await h.key([...PERMISSIONS], [ownGroup])} extra`],
      ['a malformed key', async () => 'Bearer sk_live_short'],
      ['a key of another prefix', async () => `Bearer sk_test_${secret.slice('sk_live_'.length)}`],
      ['a key with a wrong checksum', async () => `Bearer ${wrongChecksum}`],
      ['a well-formed key that was never issued', async () => `Bearer ${secret}`],
      [
        'a revoked key',
        async () => {
          const key = await h.keyRecord([...PERMISSIONS], [ownGroup]);
          await revokeApiKey(h.db, key.id);
          return `Bearer ${key.secret}`;
        },
      ],
    ];
    it.each(cases)('%s', async (_name, authorization) => {
      const header = await authorization();
      for (const group of groups) {
        const response = await call(route, group, header);
        expect(response.status).toBe(401);
        expect(response.body.error?.code).toBe('UNAUTHORIZED');
        expect(response.body.data).toBeNull();
      }
    });

    it('the same answer for an unknown, a revoked and a mistyped key', async () => {
      const revoked = await h.keyRecord([...PERMISSIONS], [ownGroup]);
      await revokeApiKey(h.db, revoked.id);
      const answers = await Promise.all([secret, wrongChecksum, revoked.secret].map((key) => call(route, ownGroup, `Bearer ${key}`)));
      expect(answers[1]!.body.error).toEqual(answers[0]!.body.error);
      expect(answers[2]!.body.error).toEqual(answers[0]!.body.error);
    });
  });

  const entry = ROUTES[route.name];
  // An unlisted route gets the 401 checks above; 'has a matrix entry for every documented route' fails for it.
  if (!entry) return;
  describe('permission × account group', () => {
    const { permission, okStatus } = entry;
    describe.each(Object.entries(KEY_PERMISSIONS))('key with %s', (_label, permissions) => {
      const allowed = permission === 'any' || permission === 'public' || permissions.includes(permission);

      if (!scoped(route)) {
        it(allowed ? `answers ${okStatus}` : 'answers 403 FORBIDDEN', async () => {
          const key = await h.key(permissions, [ownGroup]);
          const response = await call(route, ownGroup, `Bearer ${key}`);
          expect(response.status).toBe(allowed ? okStatus : 403);
          if (!allowed) expect(response.body.error?.code).toBe('FORBIDDEN');
        });
        return;
      }

      if (!allowed) {
        it(`answers 403 FORBIDDEN naming '${permission}', the same for every group`, async () => {
          const key = await h.key(permissions, [ownGroup]);
          const answers = [];
          for (const group of [ownGroup, foreignGroup, NONEXISTENT_GROUP]) {
            const response = await call(route, group, `Bearer ${key}`);
            expect(response.status, group).toBe(403);
            expect(response.body.error?.code).toBe('FORBIDDEN');
            expect(response.body.error?.message).toContain(permission);
            answers.push(response.body.error);
          }
          expect(answers[1]).toEqual(answers[0]);
          expect(answers[2]).toEqual(answers[0]);
        });
        return;
      }

      it(`answers ${okStatus} on its own group`, async () => {
        const key = await h.key(permissions, [ownGroup]);
        const response = await call(route, ownGroup, `Bearer ${key}`);
        expect(response.status, JSON.stringify(response.body.error)).toBe(okStatus);
        expect(response.body.success).toBe(true);
      });

      it('answers the same 403 FORBIDDEN for a foreign group and for a group that does not exist', async () => {
        const key = await h.key(permissions, [ownGroup]);
        const foreign = await call(route, foreignGroup, `Bearer ${key}`);
        const missing = await call(route, NONEXISTENT_GROUP, `Bearer ${key}`);
        expect(foreign.status).toBe(403);
        expect(missing.status).toBe(403);
        expect(foreign.body.error?.code).toBe('FORBIDDEN');
        expect(foreign.body.error).toEqual(missing.body.error);
      });
    });
  });
});

describe('GET /v1/accounts', () => {
  it('lists exactly the groups of the key, whatever its permissions', async () => {
    for (const permissions of Object.values(KEY_PERMISSIONS)) {
      const response = await call(documented.find((r) => r.name === 'GET /v1/accounts')!, ownGroup, `Bearer ${await h.key(permissions, [ownGroup])}`);
      expect(response.status).toBe(200);
      expect((response.body.data as { items: { id: string; name: string }[] }).items.map((g) => [g.id, g.name])).toEqual([[ownGroup, 'Own Tenant']]);
    }
  });

  it('lists nothing for a key without groups, and ignores group ids that do not exist', async () => {
    const accounts = documented.find((r) => r.name === 'GET /v1/accounts')!;
    const empty = await call(accounts, ownGroup, `Bearer ${await h.key(['messages:read'], [])}`);
    expect(empty.status).toBe(200);
    expect((empty.body.data as { items: unknown[] }).items).toEqual([]);
    const dangling = await call(accounts, ownGroup, `Bearer ${await h.key(['messages:read'], [NONEXISTENT_GROUP, ownGroup])}`);
    expect((dangling.body.data as { items: { id: string }[] }).items.map((g) => g.id)).toEqual([ownGroup]);
  });
});

describe('revocation', () => {
  it('takes effect on the very next request, on every app sharing the database', async () => {
    const second = await buildApp(h.services);
    try {
      const key = await h.keyRecord(['messages:read'], [ownGroup]);
      const headers = { authorization: `Bearer ${key.secret}` };
      const target = `/v1/accounts/${ownGroup}/messages`;
      expect((await h.app.inject({ method: 'GET', url: target, headers })).statusCode).toBe(200);
      expect((await second.inject({ method: 'GET', url: target, headers })).statusCode).toBe(200);
      expect(await revokeApiKey(h.db, key.id)).toBe(true);
      const first = await h.app.inject({ method: 'GET', url: target, headers });
      const other = await second.inject({ method: 'GET', url: target, headers });
      expect(first.statusCode).toBe(401);
      expect(other.statusCode).toBe(401);
      expect(first.json().error.code).toBe('UNAUTHORIZED');
    } finally {
      await second.close();
    }
  });
});

describe('a key with access to both groups', () => {
  it('sees each group only through its own path', async () => {
    const key = await h.key([...PERMISSIONS], [ownGroup, foreignGroup]);
    const own = await h.get<{ items: { text: string }[] }>(`/v1/accounts/${ownGroup}/messages`, key);
    expect(own.status).toBe(200);
    expect(own.body.data.items.map((m) => m.text).every((text) => text.startsWith('own secret text'))).toBe(true);
    expect(own.body.data.items).toHaveLength(2);
    const lookup = await h.get<{ matches: { name: string }[] }>(`/v1/accounts/${ownGroup}/prospects/by-provider-id/${sharedProviderId}`, key);
    expect(lookup.body.data.matches.map((m) => m.name)).toEqual(['own prospect person']);
    // The leak markers are real data: through the foreign group's own path they do show up.
    const foreign = await h.app.inject({ method: 'GET', url: `/v1/accounts/${foreignGroup}/messages`, headers: { authorization: `Bearer ${key}` } });
    expect(foreign.statusCode).toBe(200);
    expect(foreignMarkers.filter((marker) => foreign.body.includes(marker)).length).toBeGreaterThanOrEqual(5);
  });
});
