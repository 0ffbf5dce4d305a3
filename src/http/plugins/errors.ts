import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../domain/errors.js';
import { isDatabaseUnavailable } from '../../storage/db.js';
import { errorPayload } from '../envelope.js';
import { validationMessage } from '../validationMessages.js';
import { enforceRateLimit } from './rateLimit.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Status for schema validation failures; the prospect lookup documents 422 instead of 400. */
    validationStatus?: 400 | 422;
  }
}

/** Long enough for a restart or a failover, short enough not to strand clients. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

type FastifyValidationError = FastifyError & {
  validation: { keyword: string; instancePath: string; params: Record<string, unknown>; message?: string }[];
  validationContext: string;
};

const INPUT_BY_CONTEXT: Record<string, (request: FastifyRequest) => unknown> = {
  querystring: (r) => r.query,
  params: (r) => r.params,
  body: (r) => r.body,
  headers: (r) => r.headers,
};

function send(reply: FastifyReply, status: number, code: string, message: string, details = '') {
  return reply.code(status).type('application/json; charset=utf-8').send(errorPayload(reply.request.id, code, message, details));
}

/**
 * Every failure leaves as the envelope: our own ApiErrors as they are, framework errors (bad JSON,
 * body too large, wrong content type) translated, and anything unexpected as a 500 whose message
 * reveals nothing; the stack goes to the log under the request's trace id.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    // A request that failed before the rate-limit hook (a bad key: 401; a key lacking the
    // permission: 403) is counted here, against its client address or its key, and gets the
    // rate-limit headers like every other response; past the quota its answer becomes the 429.
    if (!request.rateLimitCounted) {
      try {
        await enforceRateLimit(request, reply);
      } catch (limited) {
        if (!(limited instanceof ApiError)) request.log.error({ err: limited }, 'rate limit check failed');
        else error = limited as unknown as FastifyError;
      }
    }
    if (error instanceof ApiError) {
      reply.headers(error.headers);
      return send(reply, error.status, error.code, error.message, error.details);
    }
    if ((error as FastifyValidationError).validation) {
      const { validation, validationContext } = error as FastifyValidationError;
      const schemas = request.routeOptions.schema as Record<string, unknown> | undefined;
      const schema = schemas?.[validationContext] as Record<string, unknown> | undefined;
      const input = INPUT_BY_CONTEXT[validationContext]?.(request);
      const messages = validation.map((issue) => validationMessage(validationContext, issue, schema, input));
      const status = request.routeOptions.config.validationStatus ?? 400;
      return send(reply, status, 'VALIDATION_ERROR', messages[0]!, messages.join(' '));
    }
    switch (error.code) {
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return send(reply, 400, 'VALIDATION_ERROR', 'The request body is not valid JSON.', 'Send a JSON object with Content-Type: application/json.');
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return send(reply, 413, 'PAYLOAD_TOO_LARGE', `The request body is larger than the ${app.initialConfig.bodyLimit} bytes this API accepts.`);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return send(reply, 415, 'UNSUPPORTED_MEDIA_TYPE', 'Request bodies must be sent with Content-Type: application/json.');
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return send(reply, 400, 'VALIDATION_ERROR', 'The Content-Length header does not match the body.');
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return send(reply, error.statusCode, 'VALIDATION_ERROR', 'The request could not be read. Check its headers and body.');
    }
    if (isDatabaseUnavailable(error)) {
      // A restart or failover is a wait, not a bug: tell clients when to come back. Logged
      // at warn, without the stack: the cause is the database, not this code.
      request.log.warn({ err: { message: error.message, cause: (error.cause as Error | undefined)?.message } }, 'database unavailable');
      reply.header('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
      return send(
        reply,
        503,
        'SERVICE_UNAVAILABLE',
        `The database is unreachable. Retry after ${DATABASE_RETRY_AFTER_SECONDS} seconds.`,
        'Retrying is safe: reads change nothing, and POST …/messages/responses sent again with the same Idempotency-Key is never queued twice.',
      );
    }
    request.log.error({ err: error }, 'unhandled error');
    return send(reply, 500, 'INTERNAL_ERROR', 'The server failed to handle this request. Retry later; if it persists, report the traceId.');
  });
}
