import { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import { RateLimiter } from './limiter.js';

export const REDIS_COMMAND_TIMEOUT_MS = 500;

type Log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface RateLimitStore {
  limiter: RateLimiter | null;
  /** Where the counts live, for the startup banner. */
  description: string;
  /** Connects to Redis (if any), reporting through `log`; never throws. */
  connect(log: Log): Promise<void>;
  close(): Promise<void>;
}

/**
 * The limiter the server runs with: none when RATE_LIMIT_ENABLED=false, in process memory by
 * default, in Redis when REDIS_URL is set (then every API process counts against the same
 * quotas). An unreachable Redis does not stop the server: it starts, warns, and limits per
 * process until Redis answers.
 */
export function openRateLimitStore(config: Pick<Config, 'rateLimit' | 'redisUrl'>): RateLimitStore {
  const none = { connect: async () => {}, close: async () => {} };
  if (!config.rateLimit.enabled) return { limiter: null, description: 'off (RATE_LIMIT_ENABLED=false)', ...none };
  if (!config.redisUrl) return { limiter: RateLimiter.memory(config.rateLimit), description: 'in process memory (set REDIS_URL to share them)', ...none };

  const client = new Redis(config.redisUrl, {
    // Fail fast instead of queueing commands while disconnected: the memory fallback answers.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Concurrent requests' checks share one write and one read (one script call each).
    enableAutoPipelining: true,
    connectTimeout: 2000,
    // A Redis that accepts commands but does not answer (overloaded, paused, half-open
    // connection) must not hold requests: after this long the call fails and the memory
    // fallback answers.
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    lazyConnect: true,
  });
  return {
    limiter: RateLimiter.redis(config.rateLimit, client),
    description: 'in Redis (REDIS_URL), shared by every API process',
    async connect(log) {
      let reported = false;
      client.on('error', (error: Error) => {
        if (reported) return;
        reported = true;
        log('warn', 'Redis for rate limits is unreachable; limiting per process until it answers', { err: error.message });
      });
      client.on('ready', () => {
        if (reported) log('info', 'Redis for rate limits is reachable again');
        reported = false;
      });
      await client.connect().catch(() => {});
    },
    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}
