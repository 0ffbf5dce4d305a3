import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ApiError } from '../../domain/errors.js';
import { registerDatabaseCollectors } from '../../observability/dbCollectors.js';
import type { ReadinessProbe } from '../../observability/health.js';
import type { Queryable } from '../../storage/db.js';
import { httpRequestDuration, httpRequestsTotal, registry } from '../../observability/metrics.js';
import { errorResponses, ref, success, successEnvelope } from '../envelope.js';

export const HealthSuccessResponse = successEnvelope(
  'HealthSuccessResponse',
  Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false }),
  'The process is alive and serving HTTP.',
);

export const ReadinessSuccessResponse = successEnvelope(
  'ReadinessSuccessResponse',
  Type.Object(
    {
      status: Type.Literal('ready'),
      databaseVersion: Type.Integer({ description: 'Schema version of the database.', examples: [2] }),
      codeVersion: Type.Integer({ description: 'Schema version this build expects.', examples: [2] }),
    },
    { additionalProperties: false },
  ),
  'The process can serve requests: the database answers and its schema is current.',
);

export const OPS_SCHEMAS = [HealthSuccessResponse, ReadinessSuccessResponse];

/** Route templates, not raw URLs, label the metrics: ids in paths would explode the series count. */
const UNMATCHED_ROUTE = 'unmatched';

/**
 * The operator's endpoints. They need no key and are never rate limited (a load balancer or
 * Prometheus must not be throttled); keep them off the public listener of the load balancer.
 */
export function registerOps(app: FastifyInstance, readiness: ReadinessProbe, db: Queryable): void {
  const withdrawCollectors = registerDatabaseCollectors(db);
  app.addHook('onClose', async () => withdrawCollectors());
  app.addHook('onResponse', async (request, reply) => {
    const labels = { route: request.routeOptions.url ?? UNMATCHED_ROUTE, method: request.method, status: String(reply.statusCode) };
    httpRequestsTotal.inc(labels);
    httpRequestDuration.observe(labels, reply.elapsedTime / 1000);
  });

  const common = { config: { rateLimit: false as const }, logLevel: 'warn' as const };

  app.get(
    '/healthz',
    {
      ...common,
      schema: {
        operationId: 'getHealth',
        tags: ['Operations'],
        summary: 'Liveness: the process is up',
        description: 'Answers 200 as long as the process serves HTTP; it checks nothing else, so a restart is the right reaction only when this fails. Needs no API key and is not rate limited.',
        security: [],
        response: { 200: ref(HealthSuccessResponse) },
      },
    },
    async (request) => success(request.id, { status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      ...common,
      schema: {
        operationId: 'getReadiness',
        tags: ['Operations'],
        summary: 'Readiness: the process can serve requests',
        description:
          'Answers 200 when the database answers within 2 s and its schema is at the version this build expects; 503 `SERVICE_UNAVAILABLE` otherwise (database unreachable, migrations behind or ahead, or the process is shutting down), and 200 again once that is fixed. Load balancers should route only to ready processes. Needs no API key and is not rate limited.',
        security: [],
        response: { 200: ref(ReadinessSuccessResponse), ...errorResponses([503]) },
      },
    },
    async (request) => {
      const state = await readiness.check();
      if (!state.ready) {
        request.log.warn({ reason: state.reason, cause: state.cause }, 'not ready');
        throw new ApiError('SERVICE_UNAVAILABLE', `Not ready: ${state.message}`, `reason: ${state.reason}`);
      }
      return success(request.id, { status: 'ready' as const, databaseVersion: state.databaseVersion, codeVersion: state.codeVersion });
    },
  );

  app.get(
    '/metrics',
    {
      ...common,
      schema: {
        operationId: 'getMetrics',
        tags: ['Operations'],
        summary: 'Prometheus metrics of this process',
        description:
          'Prometheus text exposition format: `sonarly_http_requests_total` and `sonarly_http_request_duration_seconds` by route, method and status; `sonarly_rate_limit_rejections_total` by policy; `sonarly_sends_total` by outcome; `sonarly_queue_depth` by status, `sonarly_sync_lag_seconds` by account and `sonarly_dead_jobs` by kind (read from the database at scrape time); and the `sonarly_process_*` and `sonarly_nodejs_*` runtime metrics. Scrape every process. Needs no API key and is not rate limited.',
        security: [],
        produces: ['text/plain'],
        response: {
          200: Type.String({ description: 'Prometheus text format 0.0.4.', examples: ['# TYPE sonarly_http_requests_total counter\nsonarly_http_requests_total{route="/v1/accounts",method="GET",status="200"} 12\n'] }),
        },
      },
    },
    async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
}
