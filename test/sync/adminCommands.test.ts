import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdminCommand } from '../../src/domain/admin/commands.js';
import { ApiError } from '../../src/domain/errors.js';
import { SYNC_ACCOUNT_JOB, SYNC_POLL_JOB } from '../../src/sync/jobs.js';
import { syncFixture, type SyncFixture } from './helpers.js';

/** What `sonarly accounts connect|sync|status|disconnect` run, on the database or through the server. */
let f: SyncFixture;
beforeAll(async () => {
  f = await syncFixture();
});
afterAll(() => f?.close());

const jobs = async (accountId: string) =>
  (await f.testDb.db.query<{ kind: string }>(`SELECT kind FROM jobs WHERE payload->>'accountId' = $1 ORDER BY kind`, [accountId])).map((j) => j.kind);

describe('accounts admin commands', () => {
  it('connect queues a backfill; sync steps run it to completion; status shows the progress; disconnect stops sync', async () => {
    const connected = await runAdminCommand(f.testDb.db, 'accounts.connect', {
      accountGroupId: f.groupId,
      connector: 'sandbox',
      name: 'Sam',
      network: { seed: 3, conversations: 40, messagesPerConversation: { min: 5, max: 30 } },
    });
    expect(connected).toMatchObject({ connector: 'sandbox', accountType: 'linkedin', status: 'connected', webhookPath: `/v1/webhooks/sandbox/${connected.id}`, reconnected: false });
    expect(connected.webhookSecret.length).toBeGreaterThan(20);
    expect(await jobs(connected.id)).toEqual([SYNC_ACCOUNT_JOB]);

    const before = await runAdminCommand(f.testDb.db, 'accounts.status', { accountGroupId: f.groupId });
    expect(before).toMatchObject([{ accountId: connected.id, backfillStatus: 'pending', messagesStored: 0 }]);
    // The status never shows credentials.
    expect(JSON.stringify(before)).not.toContain(connected.webhookSecret);

    let step;
    for (let i = 0; i < 100; i++) {
      step = await runAdminCommand(f.testDb.db, 'accounts.sync', { accountId: connected.id, budgetMs: 100 });
      if (step.status === 'completed') break;
      expect(step.status).toBe('paused');
    }
    expect(step!.status).toBe('completed');
    const [after] = await runAdminCommand(f.testDb.db, 'accounts.status', {});
    expect(after).toMatchObject({ backfillStatus: 'completed', conversationsSynced: 40, lastError: null });
    expect(Number(after!.messagesStored)).toBe(Number(after!.messagesSynced));

    const disconnected = await runAdminCommand(f.testDb.db, 'accounts.disconnect', { accountId: connected.id });
    expect(disconnected).toEqual({ id: connected.id, status: 'disconnected', wasConnected: true });
    expect(await jobs(connected.id)).toEqual([]);
    expect((await runAdminCommand(f.testDb.db, 'accounts.sync', { accountId: connected.id, restart: true })).status).toBe('not_connected');

    // Reconnecting keeps the history and the completed backfill: it resumes with polling.
    const again = await runAdminCommand(f.testDb.db, 'accounts.connect', { accountGroupId: f.groupId, connector: 'sandbox', providerAccountId: connected.providerAccountId, network: { seed: 3, conversations: 40, messagesPerConversation: { min: 5, max: 30 } } });
    expect(again).toMatchObject({ id: connected.id, reconnected: true, status: 'connected' });
    expect(await jobs(connected.id)).toEqual([SYNC_POLL_JOB]);
  });

  it('refuses what makes no sense, naming it', async () => {
    const refusal = (input: Parameters<typeof runAdminCommand<'accounts.connect'>>[2]) => runAdminCommand(f.testDb.db, 'accounts.connect', input).catch((e: unknown) => e as ApiError);
    expect(await refusal({ accountGroupId: f.groupId, connector: 'carrier-pigeon' })).toMatchObject({ code: 'VALIDATION_ERROR', message: expect.stringContaining("Unknown connector 'carrier-pigeon'") });
    expect(await refusal({ accountGroupId: '507f1f77bcf86cd799439011', connector: 'sandbox' })).toMatchObject({ code: 'VALIDATION_ERROR', message: expect.stringContaining('Unknown account group') });
    expect(await refusal({ accountGroupId: f.groupId, connector: 'sandbox', network: { conversations: -3 } })).toMatchObject({ message: expect.stringContaining('conversations') });
    expect(await refusal({ accountGroupId: f.groupId, connector: 'unipile' })).toMatchObject({ message: expect.stringContaining('Unipile account needs') });
    expect(await runAdminCommand(f.testDb.db, 'accounts.sync', { accountId: '507f1f77bcf86cd799439011' }).catch((e: unknown) => e)).toBeInstanceOf(ApiError);
  });
});
