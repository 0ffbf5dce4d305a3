import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillAccount } from '../../src/sync/backfill.js';
import { getSyncState } from '../../src/sync/state.js';
import { backend, testDatabaseUrl } from '../helpers/testDb.js';
import { FakeClock, compare, providerMessages, sandboxAccount, storedMessages, syncFixture, type SyncFixture } from './helpers.js';

/**
 * The sync process really dies (SIGKILL, no cleanup, its lease left behind) in the middle of a
 * backfill; a new run resumes from the committed checkpoint. PostgreSQL only: the embedded
 * database belongs to one process.
 */
describe.runIf(backend === 'postgres')('a backfill process killed with SIGKILL midway', () => {
  let f: SyncFixture;
  beforeAll(async () => {
    f = await syncFixture({ clock: new FakeClock(Date.now()) });
  });
  afterAll(() => f?.close());

  it('resumes from its checkpoint: the provider set, 0 duplicates, 0 missing', async () => {
    const account = await sandboxAccount(f, { seed: 77, conversations: 400, messagesPerConversation: { min: 1, max: 60 }, pageSize: 20 }, { faults: { latencyMs: 2 } });
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./backfill.child.ts', import.meta.url))], {
      env: { ...process.env, CHILD_DATABASE_URL: testDatabaseUrl(), CHILD_SCHEMA: f.testDb.schema!, CHILD_ACCOUNT_ID: account.id },
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    // Wait until it has committed part of the history, then kill it mid-flight.
    for (;;) {
      const state = await getSyncState(f.testDb.db, account.id);
      if ((state?.messagesSynced ?? 0) >= 1_000) break;
      if (child.exitCode !== null) throw new Error('the child finished before it could be killed; give it more to do');
      await delay(20);
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const partial = await storedMessages(f.testDb.db, account.id);
    const state = await getSyncState(f.testDb.db, account.id);
    expect(state).toMatchObject({ backfillStatus: 'running', leaseOwner: 'child-process' });
    expect(new Set(partial.map((m) => m.provider_message_id)).size).toBe(partial.length);

    await f.testDb.db.query(`UPDATE connected_accounts SET settings = settings - 'faults' WHERE id = $1`, [account.id]);
    // The dead process's lease blocks a new run until it runs out.
    expect((await backfillAccount(f.ctx, account.id)).status).toBe('busy');
    f.clock.advance(3 * 60_000);
    expect((await backfillAccount(f.ctx, account.id)).status).toBe('completed');

    const provider = await providerMessages(f.connectors.forAccount(account));
    const stored = await storedMessages(f.testDb.db, account.id);
    expect(partial.length).toBeLessThan(provider.length);
    expect(compare(provider, stored)).toEqual({ providerDuplicates: 0, duplicates: 0, missing: [], extra: [] });
  });
});
