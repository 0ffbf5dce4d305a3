import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CursorCodec } from '../../src/domain/cursor.js';
import { listMessages } from '../../src/domain/messages.js';
import { serverSecret } from '../../src/domain/serverSecrets.js';
import { type DemoWorkspace, seedDemoWorkspace } from '../../src/demo/seed.js';
import { jobHandlers } from '../../src/scheduler/handlers.js';
import { Worker } from '../../src/scheduler/worker.js';
import { syncFixture, type SyncFixture } from './helpers.js';

/** `npm start`'s demo: sandbox accounts backfilled at start, then new prospect replies keep arriving. */
let f: SyncFixture;
let demo: DemoWorkspace;
let worker: Worker;
beforeAll(async () => {
  f = await syncFixture();
  demo = await seedDemoWorkspace(f.testDb.db, f.clock.now());
  worker = new Worker({ db: f.testDb.db, clock: f.clock, handlers: jobHandlers({ db: f.testDb.db, clock: f.clock, connectors: f.connectors, random: () => 0.5 }) });
});
afterAll(() => f?.close());

async function drain() {
  for (let i = 0; i < 100; i++) if ((await worker.runOnce()) === 0) return;
}

describe('the demo workspace', () => {
  it('has its history from the sandbox accounts, and new replies show up in GET /messages as time passes', async () => {
    expect(demo).toMatchObject({ conversations: 300, prospects: expect.any(Number) });
    expect(demo.messages).toBeGreaterThan(3000);
    const cursors = new CursorCodec(await serverSecret(f.testDb.db, 'cursor_signing_key'));
    const newest = async () => JSON.parse((await listMessages(f.testDb.db, cursors, { accountGroupId: demo.accountGroupId, limit: 5 })).itemsJson) as { sentAt: string; isSender: boolean }[];
    await drain();
    const before = await newest();
    expect(before[0]!.sentAt < f.clock.now().toISOString()).toBe(true);
    f.clock.advance(60_000);
    await drain();
    const after = await newest();
    expect(after[0]!.sentAt > before[0]!.sentAt).toBe(true);
    expect(after.filter((m) => m.sentAt > before[0]!.sentAt && !m.isSender).length).toBeGreaterThanOrEqual(5);
  });
});
