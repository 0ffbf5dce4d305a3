import type { FastifyInstance } from 'fastify';
import { type Clock, systemClock } from '../../src/clock.js';
import { createAccountGroup } from '../../src/domain/accountGroups.js';
import { createApiKey } from '../../src/domain/apiKeys.js';
import { type ProspectInput, insertProspect } from '../../src/domain/prospects.js';
import { type AccountType, addConnectedAccount } from '../../src/domain/connectedAccounts.js';
import { CursorCodec } from '../../src/domain/cursor.js';
import type { Permission } from '../../src/domain/permissions.js';
import { serverSecret } from '../../src/domain/serverSecrets.js';
import { buildApp } from '../../src/http/app.js';
import type { Services } from '../../src/http/services.js';
import { newId } from '../../src/ids.js';
import { type MessageRow, insertMessages, upsertConversations } from '../../src/storage/bulk.js';
import type { Db } from '../../src/storage/db.js';
import pg from 'pg';
import { type TestDb, createTestDb, testDatabaseUrl } from './testDb.js';

export interface Envelope<T = unknown> {
  success: boolean;
  data: T;
  error: { code: string; message: string; details: string } | null;
  traceId: string;
}

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: Envelope<T>;
}

/** An app on a fresh database, driven in-process. */
export class Harness {
  private constructor(
    readonly testDb: TestDb,
    readonly app: FastifyInstance,
    readonly services: Services,
  ) {}

  static async create(options: { clock?: Clock } = {}): Promise<Harness> {
    const testDb = await createTestDb();
    const services: Services = {
      db: testDb.db,
      cursors: new CursorCodec(await serverSecret(testDb.db, 'cursor_signing_key')),
      clock: options.clock ?? systemClock,
    };
    const app = await buildApp(services);
    return new Harness(testDb, app, services);
  }

  get db(): Db {
    return this.testDb.db;
  }

  private databaseClosed = false;

  async close(): Promise<void> {
    await this.app.close();
    if (!this.databaseClosed) return this.testDb.close();
    // The database was closed under the app; only the PostgreSQL schema is left to drop.
    if (this.testDb.schema) {
      const cleanup = new pg.Client({ connectionString: testDatabaseUrl() });
      await cleanup.connect();
      await cleanup.query(`DROP SCHEMA ${this.testDb.schema} CASCADE`);
      await cleanup.end();
    }
  }

  /** Closes the database while the app keeps running: every later query fails (provokes 500s). */
  async closeDatabase(): Promise<void> {
    this.databaseClosed = true;
    await this.testDb.db.close();
  }

  async request<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, options: { key?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiResponse<T>> {
    const response = await this.app.inject({
      method,
      url,
      headers: { ...(options.key ? { authorization: `Bearer ${options.key}` } : {}), ...options.headers },
      ...(options.body !== undefined ? { payload: options.body as object } : {}),
    });
    return { status: response.statusCode, headers: response.headers, body: response.json() as Envelope<T> };
  }

  get<T = unknown>(url: string, key?: string) {
    return this.request<T>('GET', url, key ? { key } : {});
  }

  async group(name = 'Group'): Promise<string> {
    return (await createAccountGroup(this.db, name)).id;
  }

  async key(permissions: Permission[], accountGroupIds: string[]): Promise<string> {
    return (await createApiKey(this.db, { permissions, accountGroupIds })).secret;
  }

  /** A key with its id (to revoke it). */
  async keyRecord(permissions: Permission[], accountGroupIds: string[]): Promise<{ id: string; secret: string }> {
    const { key, secret } = await createApiKey(this.db, { permissions, accountGroupIds });
    return { id: key.id, secret };
  }

  async prospect(input: ProspectInput): Promise<void> {
    await insertProspect(this.db, { externalId: `ext-${newId()}`, ...input });
  }

  async account(accountGroupId: string, accountType: AccountType = 'linkedin'): Promise<string> {
    return (await addConnectedAccount(this.db, { accountGroupId, accountType, providerAccountId: `ACo${newId()}` })).id;
  }

  async conversation(accountGroupId: string, accountId: string, participantProviderId = `ACo${newId()}`): Promise<string> {
    const id = newId();
    await upsertConversations(this.db, [
      { id, accountGroupId, accountId, providerId: `conv-${id}`, name: 'Avery Stone', participantProviderId, unreadCount: 0, lastMessageAt: null },
    ]);
    return id;
  }

  /** Inserts `count` messages into a conversation with the given sent times (cycled). */
  async messages(accountGroupId: string, accountId: string, conversationId: string, sentAts: string[], count = sentAts.length): Promise<string[]> {
    const rows: MessageRow[] = Array.from({ length: count }, (_, i) => {
      const id = newId();
      return {
        id,
        accountGroupId,
        accountId,
        conversationId,
        providerMessageId: `pm-${id}`,
        senderProviderId: null,
        isSender: i % 2 === 0,
        text: `message ${i}`,
        sentAt: sentAts[i % sentAts.length]!,
        parentMessageId: null,
        attachments: [],
      };
    });
    const ids: string[] = [];
    for (let i = 0; i < rows.length; i += 1000) ids.push(...(await insertMessages(this.db, rows.slice(i, i + 1000))));
    return ids;
  }
}
