import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { randomId } from '../../ids.js';
import { ApiError, ERROR_STATUS, type ErrorCode } from '../../domain/errors.js';
import { errorPayload } from '../envelope.js';
import { validationMessage } from '../validationMessages.js';

/**
 * Defences against input meant to hurt rather than to be served. Body size is Fastify's bodyLimit
 * (413 in the envelope, from the error handler); the rest is here:
 * - JSON nested deeper than `maxDepth` is refused before it is parsed: recursive code further on
 *   (schema validation, error messages quoting the value) would otherwise overflow the stack;
 * - requests that break HTTP itself (headers beyond the size limit, a client too slow to send its
 *   request in time) are answered by Node before Fastify sees them; `clientErrorHandler` makes
 *   those answers use the envelope too.
 */
export function registerJsonDepthLimit(app: FastifyInstance, maxDepth: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (nestingDepth(text, maxDepth) > maxDepth) {
      done(
        new ApiError(
          'VALIDATION_ERROR',
          `The JSON body is nested more than ${maxDepth} levels deep.`,
          'No request of this API needs deep nesting; send the documented flat object.',
        ),
        undefined,
      );
      return;
    }
    parse(request, text, done);
  });
}

/**
 * Ajv's type coercion turns the query strings 'Infinity', '-Infinity' and '1e400' into ±Infinity
 * and then skips `minimum`/`maximum`, which only look at finite numbers: such a `limit` reached the
 * database and came back as a 500. Numbers read from the query string and the path must be finite.
 */
export function registerFiniteNumbers(app: FastifyInstance): void {
  app.addHook('preHandler', async (request) => {
    for (const [context, values] of [['querystring', request.query], ['params', request.params]] as const) {
      if (values === null || typeof values !== 'object') continue;
      for (const [name, value] of Object.entries(values)) {
        if (typeof value !== 'number' || Number.isFinite(value)) continue;
        const schema = (request.routeOptions.schema as Record<string, unknown> | undefined)?.[context] as Parameters<typeof validationMessage>[2];
        const message = validationMessage(context, { keyword: 'type', instancePath: `/${name}`, params: {} }, schema, { [name]: String(value) });
        throw new ApiError('VALIDATION_ERROR', message, message, request.routeOptions.config.validationStatus ?? 400);
      }
    }
  });
}

/**
 * Query strings need Ajv's type coercion ('5' → 5), but the same Ajv also coerced JSON bodies:
 * `{"message": 42}` or `{"subject": true}` were accepted as the strings '42' and 'true'. Before
 * validation, every body field whose schema has one JSON type must already have that type.
 */
export function registerStrictBodyTypes(app: FastifyInstance): void {
  const typeOf = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);
  const expectedType = (schema: Record<string, unknown>): string | undefined => {
    if (schema.type === 'integer') return 'number';
    if (typeof schema.type === 'string') return schema.type;
    const variants = schema.anyOf as Record<string, unknown>[] | undefined;
    const types = new Set(variants?.map((variant) => (variant.type === 'integer' ? 'number' : variant.type)));
    return types.size === 1 && typeof [...types][0] === 'string' ? ([...types][0] as string) : undefined;
  };
  app.addHook('preValidation', async (request) => {
    const schema = (request.routeOptions.schema as Record<string, unknown> | undefined)?.body as Parameters<typeof validationMessage>[2];
    const body = request.body;
    if (!schema?.properties || body === null || typeof body !== 'object' || Array.isArray(body)) return;
    for (const [name, property] of Object.entries(schema.properties)) {
      const value = (body as Record<string, unknown>)[name];
      const expected = expectedType(property);
      if (value === undefined || expected === undefined || typeOf(value) === expected) continue;
      const message = validationMessage('body', { keyword: 'type', instancePath: `/${name}`, params: {} }, schema, body);
      throw new ApiError('VALIDATION_ERROR', message, message, request.routeOptions.config.validationStatus ?? 400);
    }
  });
}

/**
 * PostgreSQL text cannot hold the NUL character: a query parameter, path parameter or body string
 * with U+0000 failed in the database as a 500. It is refused as a validation error up front.
 */
export function registerNoNulCharacters(app: FastifyInstance): void {
  const hasNul = (value: unknown, depth = 0): boolean => {
    if (typeof value === 'string') return value.includes('\u0000');
    if (depth > 64 || value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return false;
    return Object.entries(value).some(([key, item]) => key.includes('\u0000') || hasNul(item, depth + 1));
  };
  const where: Record<string, string> = { querystring: 'Query parameter', params: 'Path parameter', body: 'Body field' };
  app.addHook('preValidation', async (request) => {
    const schemas = request.routeOptions.schema as Record<string, { properties?: Record<string, unknown> } | undefined> | undefined;
    for (const [context, values] of [['querystring', request.query], ['params', request.params], ['body', request.body]] as const) {
      // Only what the route reads: unknown query parameters are ignored, raw bodies (webhooks) are not text.
      const declared = schemas?.[context]?.properties;
      if (!declared || values === null || typeof values !== 'object' || Buffer.isBuffer(values)) continue;
      const name = Object.keys(values).find((key) => (context === 'body' || key in declared) && (hasNul(key) || hasNul((values as Record<string, unknown>)[key])));
      if (name === undefined) continue;
      const message = `${where[context]} '${name.replaceAll('\u0000', '\\u0000')}' must not contain NUL characters (\\u0000).`;
      throw new ApiError('VALIDATION_ERROR', message, message, request.routeOptions.config.validationStatus ?? 400);
    }
  });
}

/** Depth of the deepest array/object, scanning at most until it passes `limit`. */
export function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 /* [ */ || c === 123 /* { */) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 93 /* ] */ || c === 125 /* } */) depth--;
  }
  return deepest;
}

const CLIENT_ERRORS: Record<string, { code: ErrorCode; reason: string; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    code: 'HEADERS_TOO_LARGE',
    reason: 'Request Header Fields Too Large',
    message: 'The request headers (including the URL) are larger than this API accepts.',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    code: 'REQUEST_TIMEOUT',
    reason: 'Request Timeout',
    message: 'The request was not received in time; the connection is closed.',
  },
};

/** Answers a request Node refused at the HTTP level, in the envelope, then closes the connection. */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const known = CLIENT_ERRORS[error.code ?? ''] ?? { code: 'VALIDATION_ERROR', reason: 'Bad Request', message: 'The request is not valid HTTP.' };
  const traceId = randomId();
  this.log.debug({ traceId, code: error.code }, 'client error');
  if (socket.writable) {
    const body = JSON.stringify(errorPayload(traceId, known.code, known.message));
    socket.write(
      `HTTP/1.1 ${ERROR_STATUS[known.code]} ${known.reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Trace-Id: ${traceId}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
