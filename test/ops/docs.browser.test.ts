import { execFileSync } from 'node:child_process';
import type { FastifyInstance } from 'fastify';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend } from '../helpers/testDb.js';
import { Harness } from '../helpers/harness.js';
import { appWith, memoryLimiter } from './support.js';

/**
 * /docs in a real headless Chromium (Debian's `chromium`, driven by playwright-core): the page
 * renders the API reference, shows the messages operation, and loads nothing from any other
 * origin. .ci/run installs chromium when it is missing; elsewhere the test is skipped with a
 * message when no browser is installed. It does not touch the database, so it runs in the
 * PGlite project only.
 */
function findChromium(): string | null {
  for (const name of [process.env.CHROMIUM_PATH, 'chromium', 'chromium-browser', 'google-chrome'].filter(Boolean) as string[]) {
    try {
      const found = execFileSync('sh', ['-c', `command -v "${name}"`], { encoding: 'utf8' }).trim();
      if (found) return found;
    } catch {
      // not installed under that name
    }
  }
  return null;
}

const executable = findChromium();
if (!executable && process.env.CI) throw new Error('CI must provide chromium for the /docs browser test (.ci/run installs it with apt-get).');

const run = backend === 'pglite' && executable ? describe : describe.skip;
if (!executable) {
  describe('/docs in a browser', () => {
    it.skip('needs chromium: install it with `apt-get install -y chromium` (CI does), or set CHROMIUM_PATH', () => {});
  });
}

let h: Harness;
let app: FastifyInstance;
let browser: Browser;
let origin: string;

run('/docs in headless Chromium', () => {
  beforeAll(async () => {
    h = await Harness.create();
    app = await appWith(h, { rateLimiter: memoryLimiter({}) });
    origin = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({ executablePath: executable!, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await h?.close();
  });

  it('renders the API reference with the messages operation, loading nothing from another origin', async () => {
    const page = await browser.newPage();
    const foreign: string[] = [];
    const failed: string[] = [];
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(origin) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
      foreign.push(url);
      return route.abort();
    });
    page.on('requestfailed', (request) => {
      if (request.url().startsWith(origin)) failed.push(`${request.url()}: ${request.failure()?.errorText}`);
    });
    const response = await page.goto(`${origin}/docs`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    expect(page.url()).toBe(`${origin}/docs/`);
    await expect(page.title()).resolves.toBe('Sonarly messaging API reference');

    const operation = page.getByText('List full message history across connected accounts or within one conversation').first();
    await operation.waitFor({ state: 'visible', timeout: 30_000 });
    await expect(page.getByText('/v1/accounts/{accountGroupId}/messages').first().isVisible()).resolves.toBe(true);
    await expect(page.getByText('Sonarly messaging API (self-hosted)').first().isVisible()).resolves.toBe(true);

    expect(foreign).toEqual([]);
    expect(failed).toEqual([]);
    await page.close();
  });
});
