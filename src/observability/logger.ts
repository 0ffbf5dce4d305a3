import type { FastifyServerOptions } from 'fastify';
import type { LogLevel } from '../config.js';

/**
 * JSON log lines (pino) for the API and worker. Each request's lines carry its `traceId` (the
 * envelope's and the X-Trace-Id header's). Secrets and message text never reach a line: requests
 * are logged as method, route, URL and client address only (no headers, no body), and the paths
 * below are censored in case a future log call passes an object that holds them.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'apiKey',
  'secret',
  'body',
  'req.body',
  'message',
  'text',
  'subject',
  '*.authorization',
  '*.apiKey',
  '*.secret',
  '*.body',
  '*.text',
  '*.subject',
];

export function loggerOptions(level: LogLevel): Exclude<NonNullable<FastifyServerOptions['logger']>, boolean> {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req: (request: { method: string; url: string; routeOptions?: { url?: string }; ip?: string }) => ({
        method: request.method,
        // The query string can carry cursors but never keys or bodies; it helps reproduce a call.
        url: request.url,
        route: request.routeOptions?.url,
        remoteAddress: request.ip,
      }),
      res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }),
    },
  };
}
