import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import type { HttpConfig, RateLimitConfig } from '../config.js';
import { addOpenApiExtras, inputLimitsDescription, rateLimitDescription } from './docs/openapiExtras.js';

export const OPENAPI_PATH = '/v1/openapi.json';

/** The OpenAPI document is generated from the route schemas; nothing in it is written by hand. */
export async function registerOpenApi(app: FastifyInstance, options: { rateLimit?: RateLimitConfig | null; http?: Partial<HttpConfig> } = {}): Promise<void> {
  const rateLimit = options.rateLimit ?? null;
  // Routes that opt out of rate limiting (`config.rateLimit: false`), as `METHOD /openapi/path`.
  const exempt = new Set<string>();
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Sonarly messaging API (self-hosted)',
        version: '1.0.0',
        description: [
          'Read the full LinkedIn message history of your connected accounts, resolve participants to prospects, and queue replies that the outbound scheduler delivers at a LinkedIn-safe pace.',
          '',
          'Every response uses the envelope `{success, data, error:{code,message,details}, traceId}`; `traceId` is also sent as the `X-Trace-Id` header.',
          'Authenticate with `Authorization: Bearer sk_live_…`. 401 `UNAUTHORIZED`: missing, malformed, unknown or revoked key. 403 `FORBIDDEN`: the key lacks the permission, or may not access the account group (the same answer whether the group exists or not).',
          inputLimitsDescription(options.http ?? {}),
          '',
          rateLimitDescription(rateLimit),
        ].join('\n'),
      },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key: sk_live_…' } },
      },
    },
    transform: ({ route, url, schema }) => {
      if (route.config?.rateLimit === false) {
        const methods = Array.isArray(route.method) ? route.method : [route.method];
        for (const method of methods) exempt.add(`${method} ${url.replace(/:(\w+)/g, '{$1}')}`);
      }
      return { schema, url };
    },
    transformObject: (documentObject) => addOpenApiExtras((documentObject as { openapiObject: Record<string, unknown> }).openapiObject, exempt, rateLimit),
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
}
