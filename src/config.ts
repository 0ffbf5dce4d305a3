import path from 'node:path';

/**
 * All settings, read from the environment and CLI flags once at start. Every bad value is reported
 * at once, each with a message naming the setting and what it accepts, and the process stops.
 * docs/operations.md lists every setting with its default.
 */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  logLevel: LogLevel;
  /** Shared store for rate limits across processes; in-process memory when unset. */
  redisUrl: string | undefined;
  rateLimit: RateLimitConfig;
  http: HttpConfig;
  /** Longest wait for in-flight requests (and worker jobs) on SIGTERM before exiting anyway. */
  shutdownTimeoutMs: number;
  /** Pause between failing /readyz and closing the listener, so a load balancer stops routing first. */
  shutdownDrainDelayMs: number;
  /** The outbound scheduler worker (src/scheduler/startWorker.ts reads the same variables). */
  worker: { concurrency: number; leaseMs: number; sendTimeoutMs: number };
  /** Where `sonarly worker` serves /metrics and /healthz; off when unset. */
  workerMetricsPort: number | undefined;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** `points` requests per `windowSeconds`; once spent, up to `burst` more per `burstWindowSeconds`. */
export interface RateLimitRule {
  points: number;
  windowSeconds: number;
  burst: number;
  burstWindowSeconds: number;
}

export type RateLimitPolicyName = 'key' | 'group' | 'send' | 'anonymous' | 'webhook';

export interface RateLimitConfig {
  enabled: boolean;
  policies: Record<RateLimitPolicyName, RateLimitRule>;
  /** Prefix of the Redis keys, so several deployments can share one Redis. */
  redisPrefix: string;
}

export interface HttpConfig {
  bodyLimit: number;
  jsonMaxDepth: number;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxHeaderSize: number;
  /** Origins allowed to call the API from a browser; empty = CORS off (no CORS headers at all). */
  corsOrigins: string[];
  /** Fastify's `trustProxy`: which X-Forwarded-For hops to believe for the client address. */
  trustProxy: boolean | number | string[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Defaults, also quoted by docs/operations.md and the OpenAPI description. */
export const RATE_LIMIT_DEFAULTS: Record<RateLimitPolicyName, string> = {
  key: '600/1m,burst=100',
  group: '1200/1m,burst=200',
  send: '60/1m,burst=10',
  anonymous: '60/1m,burst=20',
  webhook: '600/1m,burst=300',
};

export const RATE_LIMIT_ENV: Record<RateLimitPolicyName, string> = {
  key: 'RATE_LIMIT_KEY',
  group: 'RATE_LIMIT_GROUP',
  send: 'RATE_LIMIT_SEND',
  anonymous: 'RATE_LIMIT_ANONYMOUS',
  webhook: 'RATE_LIMIT_WEBHOOK',
};

/** A burst allowance refills over this many windows unless the rule names its own burst window. */
export const BURST_WINDOW_FACTOR = 10;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600 };
const RULE = /^(\d+)\s*\/\s*(\d*)\s*([smh])(?:\s*,\s*burst\s*=\s*(\d+)(?:\s*\/\s*(\d*)\s*([smh]))?)?$/;
const RULE_HELP = "'<requests>/<window>[,burst=<requests>[/<window>]]' with windows like 1s, 30s, 1m, 1h (e.g. '600/1m,burst=100')";

export function parseRateLimitRule(text: string): RateLimitRule | null {
  const match = RULE.exec(text.trim());
  if (!match) return null;
  const [, points, count, unit, burst, burstCount, burstUnit] = match;
  const windowSeconds = Number(count || 1) * UNIT_SECONDS[unit!]!;
  const burstWindowSeconds = burstUnit ? Number(burstCount || 1) * UNIT_SECONDS[burstUnit]! : windowSeconds * BURST_WINDOW_FACTOR;
  // The draft's `w` parameter is whole, non-zero seconds; zero-point quotas would reject everything.
  if (Number(points) < 1 || windowSeconds < 1 || burstWindowSeconds < 1) return null;
  return { points: Number(points), windowSeconds, burst: Number(burst ?? 0), burstWindowSeconds };
}

export interface ConfigOverrides {
  host?: string;
  port?: string | number;
  dataDir?: string;
  databaseUrl?: string;
  redisUrl?: string;
}

const redact = (url: string) => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  const problems: string[] = [];
  const read = (name: string) => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };

  function integer(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}; got '${raw}'.`);
      return fallback;
    }
    return value;
  }

  function boolean(name: string, fallback: boolean): boolean {
    const raw = read(name);
    if (raw === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    problems.push(`${name} must be true or false (also on/off, yes/no, 1/0); got '${raw}'.`);
    return fallback;
  }

  const databaseUrl = overrides.databaseUrl ?? read('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push(`DATABASE_URL must be a postgres:// or postgresql:// URL; got '${redact(databaseUrl)}'.`);
  }

  const redisUrl = overrides.redisUrl ?? read('REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\/[^/]/.test(redisUrl)) {
    problems.push(`REDIS_URL must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379; got '${redact(redisUrl)}'.`);
  }

  const logLevel = (read('LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got '${logLevel}'.`);

  const policies = {} as Record<RateLimitPolicyName, RateLimitRule>;
  for (const name of Object.keys(RATE_LIMIT_DEFAULTS) as RateLimitPolicyName[]) {
    const variable = RATE_LIMIT_ENV[name];
    const raw = read(variable);
    const rule = parseRateLimitRule(raw ?? RATE_LIMIT_DEFAULTS[name]);
    if (!rule) problems.push(`${variable} must be ${RULE_HELP}, with at least 1 request per window; got '${raw}'.`);
    policies[name] = rule ?? parseRateLimitRule(RATE_LIMIT_DEFAULTS[name])!;
  }

  const redisPrefix = read('RATE_LIMIT_REDIS_PREFIX') ?? 'sonarly:rl';
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(redisPrefix)) {
    problems.push(`RATE_LIMIT_REDIS_PREFIX must be 1 to 64 letters, digits or ':_.-'; got '${redisPrefix}'.`);
  }

  const corsOrigins = (read('CORS_ORIGINS') ?? '').split(',').map((origin) => origin.trim()).filter(Boolean);
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(`CORS_ORIGINS must be a comma-separated list of origins like https://app.example.com (no path), or *; got '${origin}'.`);
    }
  }

  const trustProxy = parseTrustProxy(read('TRUST_PROXY'));
  if (trustProxy === null) {
    problems.push(`TRUST_PROXY must be false, true, a number of proxy hops, or a comma-separated list of proxy addresses/CIDRs; got '${read('TRUST_PROXY')}'.`);
  }

  const requestTimeoutMs = integer('REQUEST_TIMEOUT_MS', read('REQUEST_TIMEOUT_MS'), 30_000, 100, 600_000);
  const http: HttpConfig = {
    bodyLimit: integer('BODY_LIMIT_BYTES', read('BODY_LIMIT_BYTES'), 256 * 1024, 1024, 100 * 1024 * 1024),
    jsonMaxDepth: integer('JSON_MAX_DEPTH', read('JSON_MAX_DEPTH'), 32, 2, 1000),
    requestTimeoutMs,
    // Node requires the header deadline not to exceed the whole-request deadline.
    headersTimeoutMs: Math.min(integer('HEADERS_TIMEOUT_MS', read('HEADERS_TIMEOUT_MS'), 10_000, 100, 600_000), requestTimeoutMs),
    keepAliveTimeoutMs: integer('KEEP_ALIVE_TIMEOUT_MS', read('KEEP_ALIVE_TIMEOUT_MS'), 72_000, 1_000, 600_000),
    maxHeaderSize: integer('MAX_HEADER_BYTES', read('MAX_HEADER_BYTES'), 16 * 1024, 1024, 256 * 1024),
    corsOrigins,
    trustProxy: trustProxy ?? false,
  };

  const portName = overrides.port !== undefined ? '--port' : 'PORT';
  const config: Config = {
    host: overrides.host ?? read('HOST') ?? '127.0.0.1',
    port: integer(portName, overrides.port?.toString() ?? read('PORT'), 8080, 0, 65535),
    dataDir: path.resolve(overrides.dataDir ?? read('SONARLY_DATA_DIR') ?? '.sonarly'),
    databaseUrl,
    databasePoolSize: integer('DATABASE_POOL_SIZE', read('DATABASE_POOL_SIZE'), 10, 1, 1000),
    logLevel,
    redisUrl,
    rateLimit: { enabled: boolean('RATE_LIMIT_ENABLED', true), policies, redisPrefix },
    http,
    shutdownTimeoutMs: integer('SHUTDOWN_TIMEOUT_MS', read('SHUTDOWN_TIMEOUT_MS'), 15_000, 0, 600_000),
    shutdownDrainDelayMs: integer('SHUTDOWN_DRAIN_DELAY_MS', read('SHUTDOWN_DRAIN_DELAY_MS'), 0, 0, 600_000),
    worker: {
      concurrency: integer('WORKER_CONCURRENCY', read('WORKER_CONCURRENCY'), 8, 1, 256),
      leaseMs: integer('WORKER_LEASE_MS', read('WORKER_LEASE_MS'), 60_000, 1_000, 120_000),
      sendTimeoutMs: integer('SEND_TIMEOUT_MS', read('SEND_TIMEOUT_MS'), 30_000, 100, 110_000),
    },
    workerMetricsPort: read('WORKER_METRICS_PORT') === undefined ? undefined : integer('WORKER_METRICS_PORT', read('WORKER_METRICS_PORT'), 0, 0, 65535),
  };
  // A lease shorter than a send would let another worker take a send that is still in flight.
  if (config.worker.sendTimeoutMs >= config.worker.leaseMs) {
    problems.push(`SEND_TIMEOUT_MS (${config.worker.sendTimeoutMs}) must be shorter than WORKER_LEASE_MS (${config.worker.leaseMs}).`);
  }

  if (problems.length === 1) throw new ConfigError(problems[0]!);
  if (problems.length > 1) throw new ConfigError(`${problems.length} settings are invalid:\n  - ${problems.join('\n  - ')}`);
  return config;
}

function parseTrustProxy(raw: string | undefined): boolean | number | string[] | null {
  if (raw === undefined || /^(0|false|no|off)$/i.test(raw)) return false;
  if (/^(true|yes|on)$/i.test(raw)) return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const entries = raw.split(',').map((entry) => entry.trim()).filter(Boolean);
  const address = /^(?:[0-9.]+|[0-9a-f:]+)(?:\/\d{1,3})?$/i;
  const named = /^(loopback|linklocal|uniquelocal)$/;
  return entries.length > 0 && entries.every((entry) => address.test(entry) || named.test(entry)) ? entries : null;
}

/** The rule as operators write it, for messages and docs. */
export function describeRule(rule: RateLimitRule): string {
  const burst = rule.burst > 0 ? `, then a burst of ${rule.burst} more per ${rule.burstWindowSeconds} s` : '';
  return `${rule.points} requests per ${rule.windowSeconds} s${burst}`;
}
