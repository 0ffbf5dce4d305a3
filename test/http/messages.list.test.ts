import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness } from '../helpers/harness.js';

interface Page {
  items: { id: string; sentAt: string; conversationId: string }[];
  nextCursor: string | null;
  hasMore: boolean;
}

let h: Harness;
let groupId: string;
let otherGroupId: string;
let key: string;
let accountId: string;
let conversationA: string;
let conversationB: string;
let foreignConversation: string;
const base = Date.parse('2026-04-28T15:30:00.000Z');

beforeAll(async () => {
  h = await Harness.create();
  groupId = await h.group('Acme');
  otherGroupId = await h.group('Other');
  key = await h.key(['messages:read'], [groupId]);
  accountId = await h.account(groupId);
  conversationA = await h.conversation(groupId, accountId);
  conversationB = await h.conversation(groupId, accountId);
  // 250 messages sharing only 7 distinct sentAt values: pages must break ties by id.
  const tied = Array.from({ length: 7 }, (_, i) => new Date(base - i * 1000).toISOString());
  await h.messages(groupId, accountId, conversationA, tied, 250);
  await h.messages(groupId, accountId, conversationB, [new Date(base - 500).toISOString()], 30);
  const otherAccount = await h.account(otherGroupId);
  foreignConversation = await h.conversation(otherGroupId, otherAccount);
  await h.messages(otherGroupId, otherAccount, foreignConversation, [new Date(base).toISOString()], 5);
});

afterAll(() => h?.close());

async function walk(query: string, limit: number): Promise<Page['items']> {
  const seen: Page['items'] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const url: string = `/v1/accounts/${groupId}/messages?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const response = await h.get<Page>(url, key);
    expect(response.status).toBe(200);
    seen.push(...response.body.data.items);
    expect(response.body.data.items.length).toBeLessThanOrEqual(limit);
    if (!response.body.data.hasMore) {
      expect(response.body.data.nextCursor).toBeNull();
      return seen;
    }
    cursor = response.body.data.nextCursor;
    expect(cursor).toEqual(expect.any(String));
  }
  throw new Error('walk did not end');
}

function expectNewestFirst(items: Page['items']) {
  for (let i = 1; i < items.length; i++) {
    const previous = items[i - 1]!;
    const current = items[i]!;
    const ordered = previous.sentAt > current.sentAt || (previous.sentAt === current.sentAt && previous.id > current.id);
    expect(ordered, `${previous.sentAt}/${previous.id} before ${current.sentAt}/${current.id}`).toBe(true);
  }
}

describe('GET /v1/accounts/{accountGroupId}/messages', () => {
  it('returns items with exactly the documented fields', async () => {
    const response = await h.get<Page>(`/v1/accounts/${groupId}/messages?limit=1`, key);
    expect(response.status).toBe(200);
    expect(response.body.success).toBe(true);
    expect(response.body.error).toBeNull();
    expect(response.body.traceId).toMatch(/^[0-9a-f]{24}$/);
    expect(response.headers['x-trace-id']).toBe(response.body.traceId);
    expect(Object.keys(response.body.data.items[0]!).sort()).toEqual(
      [
        'id', 'text', 'sentAt', 'accountId', 'accountType', 'conversationId', 'conversationProviderId', 'conversationName',
        'participantProviderId', 'senderId', 'isSender', 'unreadCount', 'parentMessageId', 'attachments',
      ].sort(),
    );
    expect(response.body.data.items[0]!.sentAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('defaults to 50 items per page', async () => {
    const response = await h.get<Page>(`/v1/accounts/${groupId}/messages`, key);
    expect(response.body.data.items).toHaveLength(50);
    expect(response.body.data.hasMore).toBe(true);
  });

  it.each([1, 7, 50, 100])('walks every message once, newest first, with ties on sentAt (limit %i)', async (limit) => {
    const items = await walk('', limit);
    expect(items).toHaveLength(280);
    expect(new Set(items.map((item) => item.id)).size).toBe(280);
    expectNewestFirst(items);
  });

  it('narrows to one conversation', async () => {
    const items = await walk(`&conversationId=${conversationB}`, 8);
    expect(items).toHaveLength(30);
    expect(items.every((item) => item.conversationId === conversationB)).toBe(true);
  });

  it('never repeats or skips a message while new ones arrive during the walk', async () => {
    const before = new Set((await walk('', 100)).map((item) => item.id));
    const seen: string[] = [];
    let cursor: string | null = null;
    let round = 0;
    do {
      const url: string = `/v1/accounts/${groupId}/messages?limit=13${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await h.get<Page>(url, key)).body.data;
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
      // New messages land at the head (newest) and at the very tie the cursor sits on.
      await h.messages(groupId, accountId, conversationA, [new Date(base + 60_000 + round).toISOString()], 3);
      round++;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of before) expect(seen).toContain(id);
  });

  it('ends with nextCursor null and hasMore false', async () => {
    const response = await h.get<Page>(`/v1/accounts/${otherGroupId}/messages`, await h.key(['messages:read'], [otherGroupId]));
    expect(response.body.data.items).toHaveLength(5);
    expect(response.body.data).toMatchObject({ nextCursor: null, hasMore: false });
  });

  describe('rejects bad input with 400 VALIDATION_ERROR', () => {
    it.each(['0', '101', 'abc', '1.5', '-1', ''])('limit=%s', async (limit) => {
      const response = await h.get(`/v1/accounts/${groupId}/messages?limit=${limit}`, key);
      expect(response.status).toBe(400);
      expect(response.body.error?.code).toBe('VALIDATION_ERROR');
      expect(response.body.error?.message).toContain("'limit'");
      expect(response.body.error?.message).toContain('1 to 100');
    });

    it('a garbled cursor', async () => {
      const response = await h.get(`/v1/accounts/${groupId}/messages?cursor=not-a-cursor`, key);
      expect(response.status).toBe(400);
      expect(response.body.error?.message).toContain("'cursor'");
    });

    it('a forged cursor (payload changed, signature kept)', async () => {
      const first = await h.get<Page>(`/v1/accounts/${groupId}/messages?limit=5`, key);
      const [payload, signature] = first.body.data.nextCursor!.split('.');
      const position = JSON.parse(Buffer.from(payload!, 'base64url').toString());
      position.t = '2030-01-01T00:00:00.000Z';
      const forged = `${Buffer.from(JSON.stringify(position)).toString('base64url')}.${signature}`;
      const response = await h.get(`/v1/accounts/${groupId}/messages?cursor=${forged}`, key);
      expect(response.status).toBe(400);
      expect(response.body.error?.code).toBe('VALIDATION_ERROR');
    });

    it('a cursor of another account group', async () => {
      const bothKey = await h.key(['messages:read'], [groupId, otherGroupId]);
      const first = await h.get<Page>(`/v1/accounts/${groupId}/messages?limit=5`, bothKey);
      const response = await h.get(`/v1/accounts/${otherGroupId}/messages?cursor=${first.body.data.nextCursor}`, bothKey);
      expect(response.status).toBe(400);
      expect(response.body.error?.code).toBe('VALIDATION_ERROR');
    });

    it('a cursor issued for other filters', async () => {
      const first = await h.get<Page>(`/v1/accounts/${groupId}/messages?limit=5`, key);
      const response = await h.get(`/v1/accounts/${groupId}/messages?conversationId=${conversationA}&cursor=${first.body.data.nextCursor}`, key);
      expect(response.status).toBe(400);
    });

    it('a non-hex conversationId', async () => {
      const response = await h.get(`/v1/accounts/${groupId}/messages?conversationId=xyz`, key);
      expect(response.status).toBe(400);
      expect(response.body.error?.message).toContain("'conversationId'");
    });

    it('a conversationId of another group, answered as if it did not exist', async () => {
      const foreign = await h.get(`/v1/accounts/${groupId}/messages?conversationId=${foreignConversation}`, key);
      const missing = await h.get(`/v1/accounts/${groupId}/messages?conversationId=507f1f77bcf86cd799439011`, key);
      expect(foreign.status).toBe(400);
      expect(foreign.body.error).toEqual(missing.body.error);
    });

    it('a non-hex accountGroupId', async () => {
      const response = await h.get(`/v1/accounts/not-an-id/messages`, key);
      expect(response.status).toBe(400);
      expect(response.body.error?.message).toContain("'accountGroupId'");
    });
  });
});
