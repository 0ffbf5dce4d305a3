import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend } from '../helpers/testDb.js';
import { CliEnv, jsonLines } from './cliHarness.js';

const LARGE = 200_000;
const SMALL = 20_000;
/**
 * A V8 heap far smaller than the file's records: an import that held the file, or its records,
 * would die of it. Both runs get the same cap, so their peak RSS can be compared.
 */
const NODE_OPTIONS = ['--max-old-space-size=128'];

let cli: CliEnv;

beforeAll(async () => {
  cli = await CliEnv.create();
  const groupId = (JSON.parse((await cli.run(['groups', 'create', 'Bulk', '--json'])).stdout) as { id: string }).id;
  await cli.run(['accounts', 'add', '--group', groupId, '--type', 'linkedin', '--provider-account-id', 'ACoAAbulk']);
}, 300_000);

afterAll(() => cli?.close());

async function generate(file: string, count: number, prefix: string): Promise<number> {
  const out = createWriteStream(file);
  const base = Date.UTC(2025, 0, 1);
  for (let i = 0; i < count; i++) {
    const record = {
      account: 'ACoAAbulk',
      conversationProviderId: `${prefix}-conv-${i % 2000}`,
      conversationName: `Person ${i % 2000}`,
      participantProviderId: `ACoAAp${i % 2000}`,
      providerMessageId: `${prefix}-${i}`,
      isSender: i % 2 === 1,
      text: `Message ${i}: thanks for connecting, would a short call next week work for you? Happy to share the deck.`,
      sentAt: new Date(base + i * 1000).toISOString(),
      ...(i % 5 === 0 && i > 0 ? { parentProviderMessageId: `${prefix}-${i - 1}` } : {}),
    };
    if (!out.write(JSON.stringify(record) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return (await stat(file)).size;
}

// Minutes on the embedded database on a shared machine; the time is not asserted.
describe('a large import', { timeout: 1_800_000 }, () => {
  it(`streams ${LARGE} lines with bounded memory`, async () => {
    const small = path.join(cli.dataDir, 'small.jsonl');
    const large = path.join(cli.dataDir, 'large.jsonl');
    await generate(small, SMALL, 's');
    const largeBytes = await generate(large, LARGE, 'l');

    const smallRun = await cli.run(['import', 'messages', small, '--json'], { measureRss: true, nodeOptions: NODE_OPTIONS });
    expect(smallRun.code).toBe(0);
    const started = Date.now();
    const largeRun = await cli.run(['import', 'messages', large, '--json'], { measureRss: true, nodeOptions: NODE_OPTIONS });
    const seconds = (Date.now() - started) / 1000;
    expect(largeRun.stderr).toBe('');
    expect(largeRun.code).toBe(0);
    expect(jsonLines(largeRun.stdout)).toEqual([{ type: 'summary', interrupted: false, read: LARGE, imported: LARGE, duplicates: 0, rejected: 0, bytes: largeBytes }]);

    const mb = (kb: number) => Math.round(kb / 1024);
    console.log(
      `[${backend}] import of ${LARGE} messages (${(largeBytes / 1024 / 1024).toFixed(1)} MB): peak RSS ${mb(largeRun.maxRssKb!)} MB ` +
        `(${SMALL} messages: ${mb(smallRun.maxRssKb!)} MB); ${seconds.toFixed(0)} s, ${Math.round(LARGE / seconds)} records/s`,
    );
    // The heap cap above already fails an import that holds the file. RSS also counts PGlite's
    // WebAssembly memory, which grows some tens of MB with the database between runs: ten times
    // the records may still not cost what holding the file and its records would (twice its size).
    expect(largeRun.maxRssKb! - smallRun.maxRssKb!).toBeLessThan((2 * largeBytes) / 1024);
  });
});
