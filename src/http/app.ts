import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import FindMyWay from 'find-my-way';
import { randomId } from '../ids.js';
import { SHARED_SCHEMAS, errorPayload } from './envelope.js';
import { OPENAPI_PATH, registerOpenApi } from './openapi.js';
import { registerAuth } from './plugins/auth.js';
import { registerErrorHandling } from './plugins/errors.js';
import { ROUTE_SCHEMAS, registerRoutes } from './routes/index.js';
import type { Services } from './services.js';

export interface AppOptions {
  logger?: FastifyServerOptions['logger'];
  bodyLimit?: number;
}

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export async function buildApp(services: Services, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 256 * 1024,
    genReqId: () => randomId(),
    logController: new LogController({ requestIdLogLabel: 'traceId' }),
    ajv: {
      // Unknown body fields are an error, not silently dropped: a client that misspells
      // `conversationId` must hear about it. Query strings are coerced from text.
      customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false },
    },
  });

  // Remembers every route so a wrong method can be told apart from an unknown path (405 vs 404).
  const knownRoutes = FindMyWay();
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) if (method !== 'HEAD' && method !== 'OPTIONS') knownRoutes.on(method as 'GET', route.url, () => {});
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Trace-Id', request.id);
  });

  for (const schema of [...SHARED_SCHEMAS, ...ROUTE_SCHEMAS]) app.addSchema(schema);
  await registerOpenApi(app);
  registerErrorHandling(app);
  registerAuth(app, services);
  registerRoutes(app, services);

  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = HTTP_METHODS.filter((method) => knownRoutes.find(method, path));
    if (allowed.length > 0) {
      return reply
        .code(405)
        .header('Allow', allowed.join(', '))
        .send(errorPayload(request.id, 'METHOD_NOT_ALLOWED', `${request.method} is not supported on ${path}. Allowed: ${allowed.join(', ')}.`));
    }
    return reply.code(404).send(errorPayload(request.id, 'NOT_FOUND', `No route ${request.method} ${path}.`, `The API reference is at ${OPENAPI_PATH}.`));
  });

  return app;
}
