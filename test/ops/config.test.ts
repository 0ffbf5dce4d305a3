import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseRateLimitRule } from '../../src/config.js';
import { backend } from '../helpers/testDb.js';

/** Settings are read and checked once at start; every bad value is named, all at once. */
const run = backend === 'pglite' ? describe : describe.skip;

run('configuration', () => {
  it('has documented defaults', () => {
    const config = loadConfig({});
    expect(config.rateLimit.enabled).toBe(true);
    expect(config.rateLimit.policies).toEqual({
      key: { points: 600, windowSeconds: 60, burst: 100, burstWindowSeconds: 600 },
      group: { points: 1200, windowSeconds: 60, burst: 200, burstWindowSeconds: 600 },
      send: { points: 60, windowSeconds: 60, burst: 10, burstWindowSeconds: 600 },
      anonymous: { points: 60, windowSeconds: 60, burst: 20, burstWindowSeconds: 600 },
      webhook: { points: 600, windowSeconds: 60, burst: 300, burstWindowSeconds: 600 },
    });
    expect(config.redisUrl).toBeUndefined();
    expect(config.http).toEqual({
      bodyLimit: 262_144,
      jsonMaxDepth: 32,
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 72_000,
      maxHeaderSize: 16_384,
      corsOrigins: [],
      trustProxy: false,
    });
  });

  it.each([
    ['600/1m,burst=100', { points: 600, windowSeconds: 60, burst: 100, burstWindowSeconds: 600 }],
    ['10/30s', { points: 10, windowSeconds: 30, burst: 0, burstWindowSeconds: 300 }],
    ['5/s, burst = 2/1m', { points: 5, windowSeconds: 1, burst: 2, burstWindowSeconds: 60 }],
    ['1000/1h', { points: 1000, windowSeconds: 3600, burst: 0, burstWindowSeconds: 36_000 }],
  ])('reads the rule %s', (text, rule) => {
    expect(parseRateLimitRule(text)).toEqual(rule);
  });

  it.each(['0/1m', '10/0s', '10/1d', 'ten per minute', '10/1m,burst=x', ''])('refuses the rule %j', (text) => {
    expect(parseRateLimitRule(text)).toBeNull();
  });

  it('names every bad value at once, with what it accepts', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: '99999',
        REDIS_URL: 'localhost:6379',
        RATE_LIMIT_KEY: 'lots',
        RATE_LIMIT_ENABLED: 'maybe',
        CORS_ORIGINS: 'https://ok.example,ftp://nope',
        TRUST_PROXY: 'sometimes',
        BODY_LIMIT_BYTES: '12',
        DATABASE_URL: 'mysql://root:hunter2@db/app',
        SEND_TIMEOUT_MS: '90000',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/^9 settings are invalid:/);
    for (const expected of [
      "PORT must be an integer from 0 to 65535; got '99999'.",
      "REDIS_URL must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379; got 'localhost:6379'.",
      "RATE_LIMIT_KEY must be '<requests>/<window>[,burst=<requests>[/<window>]]'",
      "RATE_LIMIT_ENABLED must be true or false",
      "CORS_ORIGINS must be a comma-separated list of origins like https://app.example.com (no path), or *; got 'ftp://nope'.",
      'TRUST_PROXY must be false, true, a number of proxy hops',
      "BODY_LIMIT_BYTES must be an integer from 1024 to 104857600; got '12'.",
      "DATABASE_URL must be a postgres:// or postgresql:// URL; got 'mysql://root:***@db/app'.",
      'SEND_TIMEOUT_MS (90000) must be shorter than WORKER_LEASE_MS (60000).',
    ]) {
      expect(message).toContain(expected);
    }
    expect(message).not.toContain('hunter2');
  });

  it('reads the proxy trust and CORS settings', () => {
    expect(loadConfig({ TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).http.trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(loadConfig({ TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, http://localhost:3000' }).http.corsOrigins).toEqual(['https://a.example', 'http://localhost:3000']);
  });

  it('`sonarly serve` with bad settings stops before opening anything, with exit code 2 and the messages', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', 'eighty'], {
      cwd: root,
      env: { ...process.env, RATE_LIMIT_SEND: '5 per minute', SONARLY_DATA_DIR: '/nonexistent/never-created' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('2 settings are invalid');
    expect(result.stderr).toContain("--port must be an integer from 0 to 65535; got 'eighty'.");
    expect(result.stderr).toContain("RATE_LIMIT_SEND must be '<requests>/<window>");
    expect(result.stderr).not.toContain('    at ');
  });
});
