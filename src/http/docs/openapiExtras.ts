import { type HttpConfig, RATE_LIMIT_ENV, type RateLimitConfig, type RateLimitPolicyName, describeRule } from '../../config.js';
import { ERROR_STATUS, type ErrorCode } from '../../domain/errors.js';
import { RATE_LIMIT_DRAFT } from '../rateLimit/headers.js';

/**
 * What the route schemas cannot say about themselves, added to the generated document for every
 * operation, present and future: the response headers every answer carries (trace id, rate-limit
 * state), the 429 every rate-limited operation can answer, an example of each error code, and
 * the tag descriptions.
 */
type Json = Record<string, unknown>;

const EXAMPLE_TRACE_ID = '507f1f77bcf86cd799439011';

const ERROR_EXAMPLES: Partial<Record<ErrorCode, [message: string, details: string]>> = {
  VALIDATION_ERROR: ["Query parameter 'limit' must be an integer from 1 to 100 (got '0').", "Query parameter 'limit' must be an integer from 1 to 100 (got '0')."],
  UNAUTHORIZED: ['Invalid or revoked API key.', 'Send the API key as `Authorization: Bearer sk_live_…`. Keys are created with `sonarly keys create`.'],
  FORBIDDEN: ["This API key lacks the 'messages:read' permission.", 'Create a key with --permissions messages:read.'],
  NOT_FOUND: ['No scheduled response with that id in this account group.', ''],
  CONFLICT: ['The sending account is disconnected.', 'Reconnect the LinkedIn account, then retry.'],
  IDEMPOTENCY_CONFLICT: ['This Idempotency-Key was used with a different request body.', 'Use a new key for a new request.'],
  IDEMPOTENCY_IN_PROGRESS: ['A request with this Idempotency-Key is still being processed.', 'Retry after the Retry-After header.'],
  RATE_LIMITED: [
    "Rate limit exceeded ('key' policy). Retry after 12 seconds.",
    "The 'key' policy allows 600 requests per 60 s, then a burst of 100 more per 600 s per API key. Wait for the Retry-After header (seconds) before retrying; the RateLimit and RateLimit-Policy headers on every response show what is left.",
  ],
  INTERNAL_ERROR: ['The server failed to handle this request. Retry later; if it persists, report the traceId.', ''],
  UPSTREAM_ERROR: ['LinkedIn did not answer in time.', 'Retry later.'],
  SERVICE_UNAVAILABLE: [
    'The database is unreachable. Retry after 5 seconds.',
    'Retrying is safe: reads change nothing, and POST …/messages/responses sent again with the same Idempotency-Key is never queued twice.',
  ],
};

const TAGS: Record<string, string> = {
  Accounts: 'Account groups: discover the `accountGroupId` that scopes every other route.',
  Messages: 'Message history across connected LinkedIn accounts, and replies queued for the outbound scheduler.',
  Prospects: 'Map LinkedIn participants to prospect records.',
  Operations: 'Health, readiness and metrics for operators. No API key, no rate limit; keep them off the public listener.',
  Webhooks: 'Called by the connector (Unipile, the sandbox) to push new messages; verified by its secret or signature, not by an API key.',
};

const HEADERS: Record<string, Json> = {
  'X-Trace-Id': {
    description: 'The `traceId` of the envelope: quote it when reporting a problem; the server log line of the request carries it too.',
    schema: { type: 'string', pattern: '^[0-9a-f]{24}$' },
    example: EXAMPLE_TRACE_ID,
  },
  'RateLimit-Policy': {
    description: `The quota policies that applied to this request (${RATE_LIMIT_DRAFT}): a Structured Field list of policy names with \`q\` (requests per window) and \`w\` (window in seconds). Stable between responses.`,
    schema: { type: 'string' },
    example: '"key";q=600;w=60, "group";q=1200;w=60',
  },
  RateLimit: {
    description: `What is left of each policy (${RATE_LIMIT_DRAFT}): \`r\` requests remaining in the window (0 while running on the burst reserve) and \`t\` seconds until the quota frees up. Not a guarantee.`,
    schema: { type: 'string' },
    example: '"key";r=599;t=42, "group";r=1187;t=42',
  },
  'Idempotency-Replayed': {
    description: '`true` when this answer is the stored result of an earlier request with the same `Idempotency-Key` and body; absent otherwise.',
    schema: { type: 'string', enum: ['true'] },
    example: 'true',
  },
  'Retry-After': {
    description:
      'Seconds to wait before retrying. On a 429, requests sent after waiting this long are not rejected by the policy that rejected this one; on a 503, about what a database restart or failover, or a process restart, takes.',
    schema: { type: 'integer', minimum: 1 },
    example: 12,
  },
};

const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** The input policy, with this server's limits. */
export function inputLimitsDescription(http: Partial<HttpConfig>): string {
  const kib = (bytes: number) => `${Math.round(bytes / 1024)} KiB`;
  return (
    'Unknown query parameters and headers are ignored; unknown body fields are rejected with 400 `VALIDATION_ERROR`. ' +
    `Bodies are JSON (\`Content-Type: application/json\`, else 415) of at most ${kib(http.bodyLimit ?? 256 * 1024)} (else 413 \`PAYLOAD_TOO_LARGE\`), ` +
    `nested at most ${http.jsonMaxDepth ?? 32} levels deep (else 400). Request headers, URL included, are limited to ${kib(http.maxHeaderSize ?? 16 * 1024)} ` +
    `(else 431 \`HEADERS_TOO_LARGE\`), and a whole request must arrive within ${Math.round((http.requestTimeoutMs ?? 30_000) / 1000)} s (else 408 \`REQUEST_TIMEOUT\`).`
  );
}

export function rateLimitDescription(config: RateLimitConfig | null): string {
  const lines = [
    '## Rate limits',
    '',
    `Every response except the Operations endpoints carries \`RateLimit-Policy\` and \`RateLimit\` headers as defined by ${RATE_LIMIT_DRAFT}. A request over a quota is answered 429 \`RATE_LIMITED\` with a \`Retry-After\` header in seconds; waiting that long is enough. Quotas count fixed windows; once a window's quota is spent, a burst reserve admits a few more before requests are refused. Requests without a valid key (missing, malformed, unknown or revoked) are counted by client address under \`anonymous\` and never spend a tenant's quota.`,
    '',
  ];
  if (!config?.enabled) {
    lines.push('Rate limiting is turned off on this server.');
    return lines.join('\n');
  }
  const scope: Record<RateLimitPolicyName, string> = {
    key: 'each API key, on every authenticated request',
    group: 'each account group, shared by all keys, on requests to a group the key may access',
    send: 'each account group, additionally, on `POST …/messages/responses`',
    anonymous: 'each client address, on requests without a valid key and public routes',
    webhook: 'each connected account, on the connector webhook (not part of this document)',
  };
  lines.push('| Policy | Applies to | Quota on this server | Setting |', '|---|---|---|---|');
  for (const [name, rule] of Object.entries(config.policies) as [RateLimitPolicyName, RateLimitConfig['policies']['key']][]) {
    lines.push(`| \`${name}\` | ${scope[name]} | ${describeRule(rule)} | \`${RATE_LIMIT_ENV[name]}\` |`);
  }
  return lines.join('\n');
}

function errorExamples(status: string): Json | undefined {
  const codes = (Object.keys(ERROR_STATUS) as ErrorCode[]).filter((code) => String(ERROR_STATUS[code]) === status || (status === '422' && code === 'VALIDATION_ERROR'));
  const examples: Json = {};
  for (const code of codes) {
    const example = ERROR_EXAMPLES[code];
    if (!example) continue;
    examples[code] = {
      summary: code,
      value: { success: false, data: null, error: { code, message: example[0], details: example[1] }, traceId: EXAMPLE_TRACE_ID },
    };
  }
  return Object.keys(examples).length > 0 ? examples : undefined;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** `exempt` holds `METHOD /openapi/path` of the routes that are never rate limited. */
export function addOpenApiExtras(document: Json, exempt: ReadonlySet<string>, rateLimit: RateLimitConfig | null): Json {
  const components = (document.components ??= {}) as Json;
  components.headers = { ...(components.headers as Json), ...HEADERS };
  const limited = rateLimit?.enabled ?? false;
  const usedTags = new Set<string>();

  for (const [path, item] of Object.entries((document.paths ?? {}) as Record<string, Json>)) {
    for (const method of METHODS) {
      const operation = item[method] as Json | undefined;
      if (!operation) continue;
      for (const tag of (operation.tags as string[] | undefined) ?? []) usedTags.add(tag);
      const responses = (operation.responses ??= {}) as Record<string, Json>;
      const rateLimited = limited && !exempt.has(`${method.toUpperCase()} ${path}`);
      const idempotent = ((operation.parameters as Json[] | undefined) ?? []).some((p) => p.in === 'header' && String(p.name).toLowerCase() === 'idempotency-key');
      // Any operation that reaches the database answers 503 while it is unreachable, and any
      // API operation answers 503 while its process shuts down.
      if (path.startsWith('/v1/') && !responses['503']) {
        responses['503'] = {
          description: 'The database is unreachable or this process is shutting down (error.code: SERVICE_UNAVAILABLE); retry after Retry-After seconds',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponse' } } },
        };
      }
      if (rateLimited && !responses['429']) {
        responses['429'] = {
          description: 'Rate limit exceeded (error.code: RATE_LIMITED)',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponse' } } },
        };
      }
      for (const [status, response] of Object.entries(responses)) {
        const headers: Json = { ...(response.headers as Json), 'X-Trace-Id': headerRef('X-Trace-Id') };
        // Sent only on replays, so not required: listed for the statuses a replay can repeat.
        if (idempotent && !['401', '403', '429'].includes(status)) headers['Idempotency-Replayed'] = { ...headerRef('Idempotency-Replayed') };
        if (rateLimited) {
          headers['RateLimit-Policy'] = headerRef('RateLimit-Policy');
          headers.RateLimit = headerRef('RateLimit');
          if (status === '429') headers['Retry-After'] = headerRef('Retry-After');
        }
        if (status === '503' && path.startsWith('/v1/')) headers['Retry-After'] = headerRef('Retry-After');
        response.headers = headers;
        const json = (response.content as Record<string, Json> | undefined)?.['application/json'];
        const schemaRef = (json?.schema as Json | undefined)?.$ref;
        if (json && typeof schemaRef === 'string' && /(ErrorResponse|ValidationErrorResponse)$/.test(schemaRef) && !json.examples && !json.example) {
          const examples = errorExamples(status);
          if (examples) json.examples = examples;
        }
      }
    }
  }

  const declared = new Map(((document.tags as Json[] | undefined) ?? []).map((tag) => [tag.name as string, tag]));
  for (const name of usedTags) if (!declared.has(name)) declared.set(name, { name, description: TAGS[name] ?? name });
  document.tags = [...declared.values()];
  return document;
}
