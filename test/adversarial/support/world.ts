import type { FastifyInstance } from 'fastify';
import { defaultConnectorRegistry } from '../../../src/connectors/registry.js';
import { createAccountGroup } from '../../../src/domain/accountGroups.js';
import { createApiKey, revokeApiKey } from '../../../src/domain/apiKeys.js';
import { addConnectedAccount } from '../../../src/domain/connectedAccounts.js';
import { CursorCodec } from '../../../src/domain/cursor.js';
import { PERMISSIONS, type Permission } from '../../../src/domain/permissions.js';
import { insertProspect } from '../../../src/domain/prospects.js';
import { serverSecret } from '../../../src/domain/serverSecrets.js';
import { type AppOptions, buildApp } from '../../../src/http/app.js';
import type { Services } from '../../../src/http/services.js';
import { newId } from '../../../src/ids.js';
import { jobHandlers } from '../../../src/scheduler/handlers.js';
import { Worker } from '../../../src/scheduler/worker.js';
import { insertMessages, upsertConversations } from '../../../src/storage/bulk.js';
import type { Db } from '../../../src/storage/db.js';
import { connectAccount } from '../../../src/sync/accounts.js';
import { backfillAccount } from '../../../src/sync/backfill.js';
import { createReadThrough } from '../../../src/sync/readThrough.js';
import { FakeClock } from '../../helpers/fakeClock.js';
import { type TestDb, createTestDb } from '../../helpers/testDb.js';

/**
 * Two tenants (account groups A and B) with everything the API can show: hand-made conversations
 * and messages whose texts carry the tenant's token, a sandbox-connected account whose history was
 * backfilled (two of its conversations left incomplete, so listing them reads through to the
 * sandbox), prospects, scheduled responses in every state, idempotency keys, and keys of every
 * shape. The sandbox never fails here: any 5xx is a bug of ours.
 */
export type Label = 'A' | 'B';

export interface Tenant {
  label: Label;
  groupId: string;
  /** Appears in every text of the tenant (names, messages, replies). */
  token: string;
  manualAccountId: string;
  sandboxAccountId: string;
  webhookSecret: string;
  conversations: { id: string; providerId: string; participantProviderId: string | null; prospectId: string | null }[];
  prospects: { id: string; providerId: string; conversationId: string | null }[];
  responses: { queued: string[]; sent: string[]; cancelled: string[] };
  /** Idempotency keys used in this group, with the body they were used with. */
  idempotency: { key: string; body: Record<string, unknown> }[];
  /** Every id and provider id of the tenant's data (not the ones it shares with the other tenant). */
  ids: Set<string>;
}

export const KEY_SHAPES = {
  A: { permissions: [...PERMISSIONS], groups: ['A'] },
  B: { permissions: [...PERMISSIONS], groups: ['B'] },
  AB: { permissions: [...PERMISSIONS], groups: ['A', 'B'] },
  AmessagesRead: { permissions: ['messages:read'], groups: ['A'] },
  AmessagesWrite: { permissions: ['messages:write'], groups: ['A'] },
  Aprospects: { permissions: ['prospects:read'], groups: ['A'] },
  BmessagesRead: { permissions: ['messages:read'], groups: ['B'] },
  BreadWriteAprospects: { permissions: ['messages:read', 'messages:write', 'prospects:read'], groups: ['B'] },
  none: { permissions: [], groups: ['A', 'B'] },
  noGroups: { permissions: [...PERMISSIONS], groups: [] },
} as const satisfies Record<string, { permissions: readonly Permission[]; groups: readonly Label[] }>;

export type KeyName = keyof typeof KEY_SHAPES;

export interface World {
  testDb: TestDb;
  db: Db;
  clock: FakeClock;
  services: Services;
  app: FastifyInstance;
  tenants: Record<Label, Tenant>;
  keys: Record<KeyName, string>;
  revokedKey: string;
  /** A LinkedIn member both tenants have as a prospect: each must see only its own record. */
  sharedProviderId: string;
  /** Values that must never appear in an answer. */
  secrets: string[];
  worker: Worker;
  close(): Promise<void>;
}

export const T0 = '2026-05-04T09:00:00.000Z';

async function buildTenant(db: Db, clock: FakeClock, label: Label, seed: number, sharedProviderId: string): Promise<Omit<Tenant, 'ids' | 'responses' | 'idempotency'>> {
  const token = `tenant${label}${newId().slice(-6)}`;
  const groupId = (await createAccountGroup(db, `Group ${token}`)).id;
  const manualAccountId = (await addConnectedAccount(db, { accountGroupId: groupId, accountType: 'sales_navigator', providerAccountId: `ACoManual${label}${newId()}`, name: `Seat ${token}` })).id;
  await db.query(`UPDATE connected_accounts SET pacing = '{"enabled":false}' WHERE id = $1`, [manualAccountId]);

  const conversations: Tenant['conversations'] = [];
  const prospects: Tenant['prospects'] = [];
  for (let i = 0; i < 6; i++) {
    const participant = i === 0 ? sharedProviderId : `ACo${label}${newId()}`;
    const conversationId = newId();
    await upsertConversations(db, [
      { id: conversationId, accountGroupId: groupId, accountId: manualAccountId, providerId: `conv-${conversationId}`, name: `Chat ${token} ${i}`, participantProviderId: participant, unreadCount: i, lastMessageAt: null },
    ]);
    await insertMessages(
      db,
      Array.from({ length: 8 }, (_, m) => {
        const id = newId();
        return {
          id,
          accountGroupId: groupId,
          accountId: manualAccountId,
          conversationId,
          providerMessageId: `pm-${id}`,
          senderProviderId: m % 2 === 0 ? participant : null,
          isSender: m % 2 === 1,
          text: `${token} message ${i}.${m}`,
          sentAt: new Date(Date.parse(T0) - (i * 10 + m) * 3600_000).toISOString(),
          parentMessageId: null,
          attachments: m === 3 ? [{ type: 'file', id: `att-${id}`, url: `https://files.invalid/${token}/${id}`, fileName: `${token}.pdf`, mimeType: 'application/pdf' }] : [],
        };
      }),
    );
    await insertProspect(db, { accountGroupId: groupId, providerId: participant, externalId: `crm-${label}-${i}`, name: `Person ${token} ${i}`, companyName: `Company ${token}`, title: `Title ${token}` });
    const [prospect] = await db.query<{ id: string }>('SELECT id FROM prospects WHERE account_group_id = $1 AND external_id = $2', [groupId, `crm-${label}-${i}`]);
    conversations.push({ id: conversationId, providerId: `conv-${conversationId}`, participantProviderId: participant, prospectId: prospect!.id });
    prospects.push({ id: prospect!.id, providerId: participant, conversationId });
  }
  // A prospect without any conversation: a direct message to them is a 422, an InMail is queued.
  const loneProvider = `ACoLone${label}${newId()}`;
  await insertProspect(db, { accountGroupId: groupId, providerId: loneProvider, externalId: `crm-${label}-lone`, name: `Lone ${token}` });
  const [lone] = await db.query<{ id: string }>('SELECT id FROM prospects WHERE account_group_id = $1 AND external_id = $2', [groupId, `crm-${label}-lone`]);
  prospects.push({ id: lone!.id, providerId: loneProvider, conversationId: null });

  const sandbox = await connectAccount(db, clock, { accountGroupId: groupId, connector: 'sandbox', name: `Sandbox ${token}`, network: { seed, conversations: 6, messagesPerConversation: { min: 2, max: 6 }, historyEndsAt: T0 } });
  await db.query(`UPDATE connected_accounts SET pacing = '{"enabled":false}' WHERE id = $1`, [sandbox.id]);
  return { label, groupId, token, manualAccountId, sandboxAccountId: sandbox.id, webhookSecret: sandbox.webhookSecret, conversations, prospects };
}

async function tenantIds(db: Db, groupId: string): Promise<Set<string>> {
  const rows = await db.query<{ v: string | null }>(
    `SELECT id AS v FROM account_groups WHERE id = $1
     UNION ALL SELECT unnest(ARRAY[id, provider_account_id]) FROM connected_accounts WHERE account_group_id = $1
     UNION ALL SELECT unnest(ARRAY[id, provider_id, participant_provider_id]) FROM conversations WHERE account_group_id = $1
     UNION ALL SELECT unnest(ARRAY[id, provider_message_id]) FROM messages WHERE account_group_id = $1
     UNION ALL SELECT unnest(ARRAY[id, provider_id]) FROM persons WHERE account_group_id = $1
     UNION ALL SELECT unnest(ARRAY[id, provider_id, external_id]) FROM prospects WHERE account_group_id = $1
     UNION ALL SELECT id FROM scheduled_responses WHERE account_group_id = $1`,
    [groupId],
  );
  return new Set(rows.map((r) => r.v).filter((v): v is string => v !== null));
}

export async function buildWorld(options: { app?: AppOptions } = {}): Promise<World> {
  const testDb = await createTestDb();
  const db = testDb.db;
  const clock = new FakeClock(T0);
  const connectors = defaultConnectorRegistry(db, clock);
  const cursorKey = await serverSecret(db, 'cursor_signing_key');
  const services: Services = {
    db,
    cursors: new CursorCodec(cursorKey),
    clock,
    connectors,
    readThrough: createReadThrough({ db, clock, connectors }, { timeoutMs: 10_000 }),
  };
  const sharedProviderId = `ACoShared${newId()}`;
  const a = await buildTenant(db, clock, 'A', 11, sharedProviderId);
  const b = await buildTenant(db, clock, 'B', 22, sharedProviderId);
  for (const tenant of [a, b]) {
    await backfillAccount({ db, clock, connectors }, tenant.sandboxAccountId);
    // Two conversations whose older history is "not stored yet": listing them reads through.
    await db.query(
      `UPDATE conversations SET history_complete = false, history_cursor = NULL
       WHERE id IN (SELECT id FROM conversations WHERE account_id = $1 ORDER BY id LIMIT 2)`,
      [tenant.sandboxAccountId],
    );
  }
  await db.query(`DELETE FROM jobs`);

  const groups = { A: a.groupId, B: b.groupId };
  const keys = {} as Record<KeyName, string>;
  for (const [name, shape] of Object.entries(KEY_SHAPES) as [KeyName, (typeof KEY_SHAPES)[KeyName]][]) {
    keys[name] = (await createApiKey(db, { name, permissions: [...shape.permissions], accountGroupIds: shape.groups.map((g) => groups[g]) })).secret;
  }
  const revoked = await createApiKey(db, { permissions: [...PERMISSIONS], accountGroupIds: [a.groupId, b.groupId] });
  await revokeApiKey(db, revoked.key.id);

  const app = await buildApp(services, options.app ?? {});
  const worker = new Worker({ db, clock, handlers: jobHandlers({ db, clock, connectors, random: () => 0.5 }), concurrency: 4 });

  // Scheduled responses in every state, queued through the API with idempotency keys; the same
  // key is used in both groups on purpose.
  const tenants = {} as Record<Label, Tenant>;
  const queues = {} as Record<Label, (i: number, idem: string) => Promise<string>>;
  for (const [label, base] of [['A', a], ['B', b]] as const) {
    const key = keys[label];
    const idempotency: Tenant['idempotency'] = [];
    queues[label] = async (i: number, idem: string) => {
      const prospect = base.prospects[i % 6]!;
      const body = { prospectId: prospect.id, message: `${base.token} reply ${i}`, conversationId: prospect.conversationId! };
      const response = await app.inject({ method: 'POST', url: `/v1/accounts/${base.groupId}/messages/responses`, headers: { authorization: `Bearer ${key}`, 'idempotency-key': idem }, payload: body });
      if (response.statusCode !== 202) throw new Error(`world: queueing a reply answered ${response.statusCode} ${response.body}`);
      idempotency.push({ key: idem, body });
      return response.json().data.id as string;
    };
    tenants[label] = { ...base, responses: { queued: [], sent: [], cancelled: [] }, idempotency, ids: new Set() };
  }
  for (const label of ['A', 'B'] as const) tenants[label].responses.sent.push(await queues[label](0, 'shared-key-1'), await queues[label](1, `${label}-only-1`));
  for (let i = 0; i < 5 && (await worker.runOnce()) > 0; i++);
  for (const label of ['A', 'B'] as const) {
    const tenant = tenants[label];
    tenant.responses.queued.push(await queues[label](2, 'shared-key-2'), await queues[label](3, `${label}-only-2`), await queues[label](4, `${label}-only-3`));
    tenant.responses.cancelled.push(await queues[label](5, `${label}-only-4`));
    const cancel = await app.inject({ method: 'POST', url: `/v1/accounts/${tenant.groupId}/messages/responses/${tenant.responses.cancelled[0]}/cancel`, headers: { authorization: `Bearer ${keys[label]}` } });
    if (cancel.statusCode !== 200) throw new Error(`world: cancel answered ${cancel.statusCode}`);
  }
  const [{ n: sentCount } = { n: 0 }] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM scheduled_responses WHERE status = 'sent'`);
  if (sentCount !== 4) throw new Error(`world: expected 4 sent replies, found ${sentCount}`);

  const idsA = await tenantIds(db, a.groupId);
  const idsB = await tenantIds(db, b.groupId);
  for (const shared of [...idsA].filter((id) => idsB.has(id))) {
    idsA.delete(shared);
    idsB.delete(shared);
  }
  tenants.A.ids = idsA;
  tenants.B.ids = idsB;

  return {
    testDb,
    db,
    clock,
    services,
    app,
    tenants,
    keys,
    revokedKey: revoked.secret,
    sharedProviderId,
    secrets: [cursorKey.toString('hex'), cursorKey.toString('base64'), cursorKey.toString('base64url'), a.webhookSecret, b.webhookSecret, ...Object.values(keys), revoked.secret],
    worker,
    async close() {
      await app.close();
      await testDb.close();
    },
  };
}
