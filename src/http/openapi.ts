import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';

export const OPENAPI_PATH = '/v1/openapi.json';

/** The OpenAPI document is generated from the route schemas; nothing in it is written by hand. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
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
          'Unknown query parameters are ignored; unknown body fields are rejected with 400.',
        ].join('\n'),
      },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key: sk_live_…' } },
      },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
}
