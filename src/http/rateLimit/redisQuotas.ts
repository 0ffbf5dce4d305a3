import type { Redis } from 'ioredis';
import type { RateLimitRule } from '../../config.js';

/**
 * Spends requests from the quotas in Redis: one script call for all of a request's quotas, and for
 * a busy partition, not one call per request at all.
 *
 * Why not rate-limiter-flexible's RateLimiterRedis, which the memory store still uses: it runs one
 * script per quota and per request, and each call costs the API process a Redis round trip (a
 * socket write, a read, ioredis's command objects: 50–70 µs on the read path, measured in
 * BENCHMARKS.md). The issue's goal (Redis-backed limits cost ≤10 % of the GET …/messages rate)
 * needs fewer. The counting is the library's: a fixed window of `points` per `windowSeconds` on one
 * key that expires by Redis's clock, and once that is spent a reserve of `burst` per
 * `burstWindowSeconds` on a second key (BurstyRateLimiter). The keys are named as the library
 * names them (`<prefix>:<policy>:<partition>` and `<prefix>:<policy>:burst:<partition>`), so an
 * older release that still counts with the library shares the counts during a rolling upgrade.
 *
 * Leases. A process that spends a partition's window quickly takes several requests' worth at
 * once (one INCRBY) and spends them locally until they run out or the window ends. What makes this
 * safe to share between processes:
 * - nothing is admitted beyond the quota: a lease is counted in Redis before any of it is spent;
 * - a lease is at most an eighth of what is left in the window, so near the limit every request
 *   asks Redis again and the last requests of a window are decided exactly as without leases;
 * - a lease's size follows the process's own rate for the partition (doubling while a lease lasts
 *   under LEASE_HORIZON_MS, halving when it lasts over twice that), so a process holds about
 *   100 ms of its own traffic: what a process that stops getting requests leaves unspent, and other
 *   processes cannot use before the window ends, is that much. Partitions with little traffic
 *   lease one request at a time, which is the library's behaviour exactly.
 * The burst reserve is never leased: it is spent request by request.
 *
 * All keys of one call are touched by one script, so they must live on one Redis node: REDIS_URL
 * names a single Redis server (or a replicated primary), not a Redis Cluster.
 */
const SPEND_SCRIPT = `
local function expireIfNew(key, consumed, granted, seconds)
  if consumed == granted then
    redis.call('expire', key, seconds)
    return 1000 * seconds
  end
  local ttl = redis.call('pttl', key)
  if ttl < 0 then
    redis.call('expire', key, seconds)
    ttl = 1000 * seconds
  end
  return ttl
end
local result = {}
for i = 1, #KEYS / 2 do
  local points = tonumber(ARGV[5 * i - 4])
  local seconds = ARGV[5 * i - 3]
  local burst = tonumber(ARGV[5 * i - 2])
  local burstSeconds = ARGV[5 * i - 1]
  local wanted = tonumber(ARGV[5 * i])
  local key = KEYS[2 * i - 1]
  local left = points - tonumber(redis.call('get', key) or '0')
  local granted = 1
  if left > 1 then granted = math.max(1, math.min(wanted, math.floor(left / 8))) end
  local consumed = redis.call('incrby', key, granted)
  local ttl = expireIfNew(key, consumed, granted, seconds)
  local allowed = 1
  if consumed > points then
    granted = 0
    allowed = 0
    if burst > 0 then
      local burstKey = KEYS[2 * i]
      local burstConsumed = redis.call('incr', burstKey)
      local burstTtl = expireIfNew(burstKey, burstConsumed, 1, burstSeconds)
      if burstTtl < ttl then ttl = burstTtl end
      if burstConsumed <= burst then allowed = 1 end
    end
  end
  result[4 * i - 3] = allowed
  result[4 * i - 2] = granted
  result[4 * i - 1] = consumed
  result[4 * i] = ttl
end
return result
`;

const COMMAND = 'sonarlySpendQuotas';

type SpendCommand = (numberOfKeys: number, ...keysThenArgs: (string | number)[]) => Promise<number[]>;

export interface QuotaSpend {
  /** Redis key of the quota: `<prefix>:<policy>:<partition>`. */
  key: string;
  burstKey: string;
  rule: RateLimitRule;
}

export interface QuotaOutcome {
  allowed: boolean;
  remaining: number;
  resetMs: number;
}

/** After a failed or timed-out call, count in memory this long before trying Redis again. */
export const REDIS_PAUSE_AFTER_FAILURE_MS = 5000;
/** A lease should last about this long at the process's current rate for its partition. */
export const LEASE_HORIZON_MS = 100;
export const MAX_LEASE = 1024;
/** Partitions whose lease state a process keeps; the oldest is forgotten first. */
const MAX_TRACKED_PARTITIONS = 10_000;

interface Lease {
  /** Requests leased and not yet spent. */
  tokens: number;
  /** The window's count in Redis when the lease was taken (leases included). */
  counted: number;
  /** When the window ends, by this process's clock: the lease is void after. */
  endsAt: number;
  takenAt: number;
  /** What to ask for next time. */
  nextSize: number;
  /** A lease request for this partition is on its way: concurrent misses ask for one request only. */
  inFlight: boolean;
  /**
   * Window and burst reserve both spent: nothing frees up before this, whatever other processes
   * do, so requests until then are refused here without asking Redis (a flood past the limit
   * costs Redis nothing).
   */
  blockedUntil: number;
}

/** Redis was not asked (not ready, paused after a failure) or the call failed. */
export class QuotaStoreUnavailable extends Error {}

export class RedisQuotas {
  private readonly spendCommand: SpendCommand;
  private readonly leases = new Map<string, Lease>();
  private pausedUntil = 0;

  constructor(
    private readonly client: Redis,
    private readonly now: () => number = Date.now,
  ) {
    // ioredis sends EVALSHA and falls back to EVAL once when Redis answers NOSCRIPT (after a
    // restart or SCRIPT FLUSH). Without numberOfKeys the first argument carries the key count.
    if (!(COMMAND in client)) client.defineCommand(COMMAND, { lua: SPEND_SCRIPT });
    this.spendCommand = (client as unknown as Record<typeof COMMAND, SpendCommand>)[COMMAND].bind(client);
  }

  /**
   * False while the connection is down, and for a few seconds after a call failed or timed out:
   * callers count elsewhere instead of making every request wait for a sick Redis.
   */
  get ready(): boolean {
    return this.client.status === 'ready' && this.now() >= this.pausedUntil;
  }

  /**
   * Spends one request from each quota: from the process's lease where it has one, from Redis
   * (one call for all the others) where not. Throws QuotaStoreUnavailable, having spent nothing,
   * when Redis is needed and cannot answer.
   */
  async spend(quotas: QuotaSpend[]): Promise<QuotaOutcome[]> {
    const now = this.now();
    const outcomes: (QuotaOutcome | null)[] = quotas.map(({ key, rule }) => {
      const lease = this.leases.get(key);
      if (lease && now < lease.blockedUntil) return { allowed: false, remaining: 0, resetMs: lease.blockedUntil - now };
      if (!lease || lease.tokens === 0 || now >= lease.endsAt) return null;
      lease.tokens--;
      return { allowed: true, remaining: Math.max(0, rule.points - lease.counted) + lease.tokens, resetMs: lease.endsAt - now };
    });
    const missing = quotas.filter((_, i) => outcomes[i] === null);
    if (missing.length === 0) return outcomes as QuotaOutcome[];
    const giveBack = () => quotas.forEach(({ key }, i) => outcomes[i]?.allowed && this.leases.get(key)!.tokens++);
    if (!this.ready) {
      giveBack();
      throw new QuotaStoreUnavailable('Redis is not ready');
    }

    const keys: string[] = [];
    const args: number[] = [];
    const asked: Lease[] = [];
    for (const { key, burstKey, rule } of missing) {
      const lease = this.leaseFor(key, now);
      keys.push(key, burstKey);
      args.push(rule.points, rule.windowSeconds, rule.burst, rule.burstWindowSeconds, lease.inFlight ? 1 : lease.nextSize);
      asked.push(lease);
      lease.inFlight = true;
    }
    let flat: number[];
    try {
      flat = await this.spendCommand(keys.length, ...keys, ...args);
    } catch (error) {
      this.pausedUntil = this.now() + REDIS_PAUSE_AFTER_FAILURE_MS;
      giveBack();
      for (const lease of asked) lease.inFlight = false;
      throw new QuotaStoreUnavailable('Redis call failed', { cause: error });
    }
    const answeredAt = this.now();
    missing.forEach(({ rule }, i) => {
      const [allowed, granted, counted, ttl] = [flat[4 * i] === 1, flat[4 * i + 1]!, flat[4 * i + 2]!, flat[4 * i + 3]!];
      const lease = asked[i]!;
      lease.inFlight = false;
      if (granted > 0) {
        // Unspent tokens of a lease in the same window are still counted in Redis: keep them.
        const carried = answeredAt < lease.endsAt ? lease.tokens : 0;
        // Measured from before the call: Redis's window cannot end earlier than that, so no
        // leased request is spent after its window has been reset.
        Object.assign(lease, { tokens: carried + granted - 1, counted, endsAt: now + ttl, takenAt: answeredAt });
      }
      if (!allowed) lease.blockedUntil = now + ttl;
      const remaining = granted > 0 ? Math.max(0, rule.points - counted) + lease.tokens : 0;
      outcomes[outcomes.indexOf(null)] = { allowed, remaining, resetMs: ttl };
    });
    return outcomes as QuotaOutcome[];
  }

  /** The partition's lease state, its next size adjusted to how long the last lease lasted. */
  private leaseFor(key: string, now: number): Lease {
    let lease = this.leases.get(key);
    if (!lease) {
      if (this.leases.size >= MAX_TRACKED_PARTITIONS) this.leases.delete(this.leases.keys().next().value!);
      lease = { tokens: 0, counted: 0, endsAt: 0, takenAt: 0, nextSize: 1, inFlight: false, blockedUntil: 0 };
      this.leases.set(key, lease);
      return lease;
    }
    if (!lease.inFlight && lease.takenAt > 0) {
      const lasted = now - lease.takenAt;
      if (now >= lease.endsAt) lease.nextSize = 1;
      else if (lasted < LEASE_HORIZON_MS) lease.nextSize = Math.min(MAX_LEASE, lease.nextSize * 2);
      else if (lasted > 2 * LEASE_HORIZON_MS) lease.nextSize = Math.max(1, Math.floor(lease.nextSize / 2));
    }
    return lease;
  }
}
