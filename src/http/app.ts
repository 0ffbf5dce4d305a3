import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions, LogController } from 'fastify';
import FindMyWay from 'find-my-way';
import { ApiError, type ErrorCode } from '../domain/errors.js';
import { randomId } from '../ids.js';
import { SHARED_SCHEMAS, errorPayload } from './envelope.js';
import { OPENAPI_PATH, registerOpenApi } from './openapi.js';
import type { HttpConfig } from '../config.js';
import { Lifecycle, ReadinessProbe } from '../observability/health.js';
import { registerApiReference } from './docs/reference.js';
import { registerAuth } from './plugins/auth.js';
import { registerCors } from './plugins/cors.js';
import { registerErrorHandling } from './plugins/errors.js';
import { clientErrorHandler, registerFiniteNumbers, registerJsonDepthLimit, registerNoNulCharacters, registerStrictBodyTypes } from './plugins/hostileInput.js';
import { OPS_SCHEMAS, registerOps } from './plugins/ops.js';
import { enforceRateLimitOnRouterError, registerRateLimit } from './plugins/rateLimit.js';
import type { RateLimiter } from './rateLimit/limiter.js';
import { ROUTE_SCHEMAS, registerRoutes } from './routes/index.js';
import type { Services } from './services.js';

export interface AppOptions {
  logger?: FastifyServerOptions['logger'];
  bodyLimit?: number;
  /** Limits and timeouts against hostile clients, CORS, proxy trust (config.http). */
  http?: Partial<HttpConfig>;
  /** Rate limits; none when omitted (`sonarly serve` always passes one built from the config). */
  rateLimiter?: RateLimiter | null;
  /** Shared with the shutdown sequence, which flips readiness before closing the listener. */
  lifecycle?: Lifecycle;
}

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export async function buildApp(services: Services, options: AppOptions = {}): Promise<FastifyInstance> {
  // Routes whose validation failures answer another status than 400 (the prospect lookup: 422);
  // the router's own errors on their URLs answer it too, so every answer stays documented.
  const validationStatuses: { pattern: RegExp; status: number }[] = [];
  const validationStatusOf = (url: string) => validationStatuses.find((route) => route.pattern.test(url.split('?')[0]!))?.status ?? 400;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? options.http?.bodyLimit ?? 256 * 1024,
    // Slow clients: the whole request (headers and body) must arrive within requestTimeout, the
    // headers within headersTimeout; Node answers 408 through clientErrorHandler, in the envelope.
    requestTimeout: options.http?.requestTimeoutMs ?? 30_000,
    keepAliveTimeout: options.http?.keepAliveTimeoutMs ?? 72_000,
    http: {
      maxHeaderSize: options.http?.maxHeaderSize ?? 16 * 1024,
      headersTimeout: Math.min(options.http?.headersTimeoutMs ?? 10_000, options.http?.requestTimeoutMs ?? 30_000),
      // How often Node looks for timed-out requests; its default of 30 s would stretch the timeouts.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor((options.http?.requestTimeoutMs ?? 30_000) / 4))),
    },
    clientErrorHandler,
    trustProxy: (options.http?.trustProxy ?? false) as boolean,
    // Our own hook answers 503 while closing, in the envelope (Fastify's own answer is not).
    return503OnClosing: false,
    genReqId: () => randomId(),
    // Path parameters up to 1024 characters reach schema validation (providerId allows 256); the
    // router's default of 100 answered longer ones with a bare 414 outside the envelope.
    routerOptions: { maxParamLength: 1024 },
    // Errors the router raises before any route or hook runs (bad percent-encoding, a path
    // parameter beyond the limit above) still leave in the envelope, with the trace id.
    // They are counted against the client address's quota like any keyless request.
    frameworkErrors: (error, request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const answer = (status: number, code: ErrorCode, message: string, details = '') =>
        void (reply as FastifyReply).code(status).header('X-Trace-Id', request.id).type('application/json; charset=utf-8').send(errorPayload(request.id, code, message, details));
      const refuse = () =>
        answer(validationStatusOf(request.url), 'VALIDATION_ERROR', tooLong ? 'A path segment is longer than 1024 characters.' : 'The URL is not valid: check its percent-encoding.');
      enforceRateLimitOnRouterError(request, reply as FastifyReply).then(refuse, (limited: unknown) => {
        if (limited instanceof ApiError) return answer(limited.status, limited.code, limited.message, limited.details);
        request.log.error({ err: limited }, 'rate limit check failed');
        refuse();
      });
    },
    logController: new LogController({ requestIdLogLabel: 'traceId' }),
    ajv: {
      // Unknown body fields are an error, not silently dropped: a client that misspells
      // `conversationId` must hear about it. Query strings are coerced from text.
      customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false },
    },
  });

  // Remembers every route so a wrong method can be told apart from an unknown path (405 vs 404).
  const knownRoutes = FindMyWay({ maxParamLength: 1024 });
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) if (method !== 'HEAD' && method !== 'OPTIONS') knownRoutes.on(method as 'GET', route.url, () => {});
    const status = route.config?.validationStatus;
    if (status && status !== 400) validationStatuses.push({ pattern: new RegExp(`^${route.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:\w+/g, '[^/]*')}$`), status });
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Trace-Id', request.id);
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Requests still in flight when the close began get their answer, then the connection closes;
  // kept alive, it would hold the listener open until its keep-alive timeout.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('Connection', 'close');
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!closing) return;
    return reply
      .code(503)
      .header('Connection', 'close')
      .header('Retry-After', '1')
      .type('application/json; charset=utf-8')
      .send(errorPayload(request.id, 'SERVICE_UNAVAILABLE', 'This process is shutting down; retry the request (another process will take it).'));
  });

  // Bodies are JSON only: without this, Fastify's built-in text/plain parser would hand a route a
  // string, answered 400 "must be a JSON object" instead of 415.
  app.removeContentTypeParser('text/plain');
  registerJsonDepthLimit(app, options.http?.jsonMaxDepth ?? 32);
  registerFiniteNumbers(app);
  registerStrictBodyTypes(app);
  registerNoNulCharacters(app);

  for (const schema of [...SHARED_SCHEMAS, ...ROUTE_SCHEMAS, ...OPS_SCHEMAS]) app.addSchema(schema);
  await registerOpenApi(app, { rateLimit: options.rateLimiter?.config ?? null, http: { ...options.http, ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}) } });
  registerErrorHandling(app);
  await registerCors(app, options.http?.corsOrigins ?? []);
  registerAuth(app, services);
  registerRateLimit(app, options.rateLimiter ?? null);
  registerRoutes(app, services);
  registerOps(app, await ReadinessProbe.create(services.db, options.lifecycle ?? new Lifecycle()), services.db);
  await registerApiReference(app);

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
