import type { Redis } from 'ioredis';
import {
  BurstyRateLimiter,
  type IRateLimiterOptions,
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { RateLimitConfig, RateLimitPolicyName, RateLimitRule } from '../../config.js';
import { rateLimitStoreErrorsTotal } from '../../observability/metrics.js';

/**
 * Request counting is rate-limiter-flexible's: a fixed window of `points` per `windowSeconds`,
 * and, once that is spent, a burst reserve of `burst` per `burstWindowSeconds` (its
 * BurstyRateLimiter, a token-bucket-like allowance). In Redis each window is one atomic Lua
 * INCR+PEXPIRE on a key that expires by Redis's own clock, so every API process sharing the Redis
 * counts against the same number and agrees on when it resets.
 */
export interface PolicyState {
  policy: RateLimitPolicyName;
  rule: RateLimitRule;
  allowed: boolean;
  /** Requests left in the current window (0 while running on the burst reserve). */
  remaining: number;
  /** Milliseconds until the quota frees up. */
  resetMs: number;
}

export interface Decision {
  allowed: boolean;
  states: PolicyState[];
  /** Whole seconds to wait (with jitter) when rejected; 0 when allowed. */
  retryAfterSeconds: number;
}

export interface Charge {
  policy: RateLimitPolicyName;
  /** Whose quota: an API key id, an account group id or a client address. */
  partition: string;
}

interface Consumer {
  consume(key: string, points?: number): Promise<RateLimiterRes>;
}

/** Counts each Redis failure that the per-process memory fallback absorbed. */
class FallbackMemoryLimiter extends RateLimiterMemory {
  override consume(key: string | number, points?: number, options?: { [key: string]: unknown }) {
    rateLimitStoreErrorsTotal.inc();
    return super.consume(key, points, options);
  }
}

export interface RateLimiterOptions {
  /** Prefix of every Redis key (several deployments or test runs can share one Redis). */
  keyPrefix?: string;
  /** Source of jitter added to Retry-After, in [0, 1). */
  random?: () => number;
}

export class RateLimiter {
  private readonly consumers = new Map<RateLimitPolicyName, Consumer>();
  private readonly random: () => number;

  private constructor(
    readonly config: RateLimitConfig,
    readonly store: 'memory' | 'redis',
    build: (options: IRateLimiterOptions) => RateLimiterAbstract,
    options: RateLimiterOptions,
  ) {
    this.random = options.random ?? Math.random;
    const prefix = options.keyPrefix ?? config.redisPrefix ?? 'sonarly:rl';
    for (const [name, rule] of Object.entries(config.policies) as [RateLimitPolicyName, RateLimitRule][]) {
      const main = build({ keyPrefix: `${prefix}:${name}`, points: rule.points, duration: rule.windowSeconds });
      this.consumers.set(
        name,
        rule.burst > 0
          ? new BurstyRateLimiter(main, build({ keyPrefix: `${prefix}:${name}:burst`, points: rule.burst, duration: rule.burstWindowSeconds }))
          : main,
      );
    }
  }

  static memory(config: RateLimitConfig, options: RateLimiterOptions = {}): RateLimiter {
    return new RateLimiter(config, 'memory', (opts) => new RateLimiterMemory(opts), options);
  }

  /**
   * Redis-backed limits. While Redis is unreachable each process falls back to its own memory
   * counters with the same rules: limits stay enforced per process instead of failing open or
   * turning every request away.
   */
  static redis(config: RateLimitConfig, client: Redis, options: RateLimiterOptions = {}): RateLimiter {
    return new RateLimiter(
      config,
      'redis',
      (opts) =>
        new RateLimiterRedis({
          ...opts,
          storeClient: client,
          rejectIfRedisNotReady: true,
          insuranceLimiter: new FallbackMemoryLimiter({ points: opts.points!, duration: opts.duration! }),
        }),
      options,
    );
  }

  rule(policy: RateLimitPolicyName): RateLimitRule {
    return this.config.policies[policy];
  }

  /** Spends one request from every charged quota, all at once. */
  async check(charges: Charge[]): Promise<Decision> {
    const states = await Promise.all(
      charges.map(async ({ policy, partition }): Promise<PolicyState> => {
        const rule = this.rule(policy);
        try {
          const res = await this.consumers.get(policy)!.consume(partition);
          return { policy, rule, allowed: true, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
        } catch (rejection) {
          if (!(rejection instanceof RateLimiterRes)) throw rejection;
          return { policy, rule, allowed: false, remaining: 0, resetMs: rejection.msBeforeNext };
        }
      }),
    );
    const rejected = states.filter((state) => !state.allowed);
    if (rejected.length === 0) return { allowed: true, states, retryAfterSeconds: 0 };
    const wait = Math.max(1, ...rejected.map((state) => Math.ceil(state.resetMs / 1000)));
    // Jitter only ever lengthens the wait, so a client that waits as told is never early; it
    // spreads throttled clients out so they do not all return in the same second.
    const jitter = Math.floor(this.random() * (Math.ceil(wait / 10) + 1));
    return { allowed: false, states, retryAfterSeconds: wait + jitter };
  }
}
