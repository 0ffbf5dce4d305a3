import type { Redis } from 'ioredis';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimitConfig, RateLimitPolicyName, RateLimitRule } from '../../config.js';
import { rateLimitStoreErrorsTotal } from '../../observability/metrics.js';
import { type QuotaOutcome, QuotaStoreUnavailable, RedisQuotas } from './redisQuotas.js';

/**
 * Request counting is rate-limiter-flexible's: a fixed window of `points` per `windowSeconds`,
 * and, once that is spent, a burst reserve of `burst` per `burstWindowSeconds` (its
 * BurstyRateLimiter, a token-bucket-like allowance). In memory the library counts; in Redis one
 * script (redisQuotas.ts) runs the library's counting for all of a request's quotas at once, on
 * keys that expire by Redis's own clock, so every API process sharing the Redis counts against the
 * same numbers and agrees on when they reset.
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

export interface RateLimiterOptions {
  /** Prefix of every Redis key (several deployments or test runs can share one Redis). */
  keyPrefix?: string;
  /** Source of jitter added to Retry-After, in [0, 1). */
  random?: () => number;
}

/** rate-limiter-flexible's in-process counters: the default store, and Redis's stand-in while it is down. */
class MemoryQuotas {
  private readonly consumers = new Map<RateLimitPolicyName, Consumer>();

  constructor(config: RateLimitConfig) {
    for (const [name, rule] of Object.entries(config.policies) as [RateLimitPolicyName, RateLimitRule][]) {
      const main = new RateLimiterMemory({ keyPrefix: name, points: rule.points, duration: rule.windowSeconds });
      this.consumers.set(
        name,
        rule.burst > 0
          ? new BurstyRateLimiter(main, new RateLimiterMemory({ keyPrefix: `${name}:burst`, points: rule.burst, duration: rule.burstWindowSeconds }))
          : main,
      );
    }
  }

  async spend(charges: Charge[]): Promise<QuotaOutcome[]> {
    return Promise.all(
      charges.map(async ({ policy, partition }): Promise<QuotaOutcome> => {
        try {
          const res = await this.consumers.get(policy)!.consume(partition);
          return { allowed: true, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
        } catch (rejection) {
          if (!(rejection instanceof RateLimiterRes)) throw rejection;
          return { allowed: false, remaining: 0, resetMs: rejection.msBeforeNext };
        }
      }),
    );
  }
}

export class RateLimiter {
  private readonly random: () => number;
  private readonly spendQuotas: (charges: Charge[]) => Promise<QuotaOutcome[]>;

  private constructor(
    readonly config: RateLimitConfig,
    readonly store: 'memory' | 'redis',
    redis: Redis | null,
    options: RateLimiterOptions,
  ) {
    this.random = options.random ?? Math.random;
    const memory = new MemoryQuotas(config);
    if (!redis) {
      this.spendQuotas = (charges) => memory.spend(charges);
      return;
    }
    const prefix = options.keyPrefix ?? config.redisPrefix ?? 'sonarly:rl';
    const quotas = new RedisQuotas(redis);
    this.spendQuotas = (charges) =>
      quotas
        .spend(
          charges.map(({ policy, partition }) => ({
            key: `${prefix}:${policy}:${partition}`,
            burstKey: `${prefix}:${policy}:burst:${partition}`,
            rule: config.policies[policy],
          })),
        )
        .catch((error: unknown) => {
          if (!(error instanceof QuotaStoreUnavailable)) throw error;
          rateLimitStoreErrorsTotal.inc();
          return memory.spend(charges);
        });
  }

  static memory(config: RateLimitConfig, options: RateLimiterOptions = {}): RateLimiter {
    return new RateLimiter(config, 'memory', null, options);
  }

  /**
   * Redis-backed limits, shared by every process on the same Redis. While Redis is unreachable
   * (or a call fails) each process counts in its own memory with the same rules: limits stay
   * enforced per process instead of failing open or turning every request away.
   */
  static redis(config: RateLimitConfig, client: Redis, options: RateLimiterOptions = {}): RateLimiter {
    return new RateLimiter(config, 'redis', client, options);
  }

  rule(policy: RateLimitPolicyName): RateLimitRule {
    return this.config.policies[policy];
  }

  /** Spends one request from every charged quota, all at once. */
  async check(charges: Charge[]): Promise<Decision> {
    const outcomes = await this.spendQuotas(charges);
    const states = charges.map(({ policy }, i): PolicyState => ({ policy, rule: this.rule(policy), ...outcomes[i]! }));
    const rejected = states.filter((state) => !state.allowed);
    if (rejected.length === 0) return { allowed: true, states, retryAfterSeconds: 0 };
    const wait = Math.max(1, ...rejected.map((state) => Math.ceil(state.resetMs / 1000)));
    // Jitter only ever lengthens the wait, so a client that waits as told is never early; it
    // spreads throttled clients out so they do not all return in the same second.
    const jitter = Math.floor(this.random() * (Math.ceil(wait / 10) + 1));
    return { allowed: false, states, retryAfterSeconds: wait + jitter };
  }
}
