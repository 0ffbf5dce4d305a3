import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { type RateLimitConfig, loadConfig } from '../../src/config.js';
import { type AppOptions, buildApp } from '../../src/http/app.js';
import { RateLimiter } from '../../src/http/rateLimit/limiter.js';
import type { Harness } from '../helpers/harness.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Rate-limit rules from the same strings operators set, e.g. { RATE_LIMIT_KEY: '10/1m,burst=3' }. */
export function rateLimitConfig(env: Record<string, string>): RateLimitConfig {
  return loadConfig(env).rateLimit;
}

/** A Redis key prefix no other test or run shares. */
export const uniquePrefix = () => `sonarly-test:${randomBytes(6).toString('hex')}`;

export async function redisAvailable(url = REDIS_URL): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export function redisClient(url = REDIS_URL): Redis {
  return new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true, lazyConnect: true });
}

/** Another app on the harness's database, with the given options. */
export async function appWith(h: Harness, options: AppOptions): Promise<FastifyInstance> {
  return buildApp(h.services, options);
}

export function memoryLimiter(env: Record<string, string>, random?: () => number): RateLimiter {
  return RateLimiter.memory(rateLimitConfig(env), random ? { random } : {});
}

export interface PolicyItem {
  name: string;
  params: Record<string, number>;
}

/** Parses a RateLimit or RateLimit-Policy field: `"key";q=5;w=60, "group";q=9;w=60`. */
export function parseLimitField(value: unknown): PolicyItem[] {
  if (typeof value !== 'string') throw new Error(`header missing or not a string: ${String(value)}`);
  return value.split(',').map((item) => {
    const [name, ...params] = item.trim().split(';');
    if (!name || !/^"[a-z]+"$/.test(name)) throw new Error(`bad item name in '${value}'`);
    const parsed: Record<string, number> = {};
    for (const param of params) {
      const [key, raw] = param.split('=');
      if (!key || raw === undefined || !/^\d+$/.test(raw)) throw new Error(`bad parameter '${param}' in '${value}'`);
      parsed[key] = Number(raw);
    }
    return { name: name.slice(1, -1), params: parsed };
  });
}

export function policyOf(response: LightMyRequestResponse | { headers: Record<string, unknown> }, field: 'ratelimit' | 'ratelimit-policy', name: string) {
  return parseLimitField(response.headers[field]).find((item) => item.name === name)?.params;
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
