import { type TSchema, Type } from 'typebox';
import { ERROR_STATUS, type ErrorCode } from '../domain/errors.js';
import { ID_PATTERN } from '../ids.js';

/**
 * The envelope of every response (reference notes 2.4). Named schemas are registered once with
 * `$id` so the OpenAPI document shows them as components with Sonarly's schema names.
 */
export const TraceId = Type.String({ pattern: ID_PATTERN, description: '24-hex id of this request; also sent as the `X-Trace-Id` header and written in its log line.', examples: ['507f1f77bcf86cd799439011'] });

export const ErrorBody = Type.Object(
  {
    code: Type.String({ description: 'Machine-readable error code.', examples: ['FORBIDDEN'] }),
    message: Type.String({ description: 'What went wrong and what to change.' }),
    details: Type.String({ description: 'More context: for validation errors, every failing parameter.' }),
  },
  { additionalProperties: false },
);

export const ErrorResponse = Type.Object(
  { success: Type.Literal(false), data: Type.Null(), error: ErrorBody, traceId: TraceId },
  { $id: 'ErrorResponse', additionalProperties: false, description: 'An error, in the common envelope.' },
);

export const ValidationErrorResponse = Type.Object(
  {
    success: Type.Literal(false),
    data: Type.Null(),
    error: Type.Object(
      {
        code: Type.Literal('VALIDATION_ERROR'),
        message: Type.String({ description: 'Names the parameter and what is allowed.' }),
        details: Type.String(),
      },
      { additionalProperties: false },
    ),
    traceId: TraceId,
  },
  { $id: 'ValidationErrorResponse', additionalProperties: false, description: 'The request did not pass validation.' },
);

export function successEnvelope(name: string, data: TSchema, description: string) {
  return Type.Object(
    { success: Type.Literal(true), data, error: Type.Null(), traceId: TraceId },
    { $id: name, additionalProperties: false, description },
  );
}

export const SHARED_SCHEMAS = [ErrorResponse, ValidationErrorResponse];

export const ref = (schema: TSchema & { $id?: string }) => Type.Unsafe({ $ref: `${schema.$id}#` });

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Request validation failed',
  401: 'Invalid or missing API key',
  403: 'Missing required permission, or no access to this account group',
  404: 'Resource not found',
  409: 'Conflict with the current state',
  422: 'Request validation failed',
  429: 'Rate limit exceeded',
  500: 'Internal server error',
  502: 'Upstream service error',
};

/** Error responses for a route's OpenAPI entry, from the statuses it can answer. */
export function errorResponses(statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const status of statuses) {
    const schemaId = status === 400 || status === 422 ? 'ValidationErrorResponse' : 'ErrorResponse';
    const codes = (Object.keys(ERROR_STATUS) as ErrorCode[]).filter((code) => ERROR_STATUS[code] === status || (status === 422 && code === 'VALIDATION_ERROR'));
    out[status] = Type.Unsafe({
      $ref: `${schemaId}#`,
      description: `${ERROR_DESCRIPTIONS[status] ?? 'Error'} (error.code: ${codes.join(', ') || 'see message'})`,
    });
  }
  return out;
}

export interface ErrorPayload {
  success: false;
  data: null;
  error: { code: string; message: string; details: string };
  traceId: string;
}

export function errorPayload(traceId: string, code: string, message: string, details = ''): ErrorPayload {
  return { success: false, data: null, error: { code, message, details }, traceId };
}

/** Wraps JSON the database already rendered, without parsing and re-serializing it. */
export function rawSuccess(traceId: string, dataJson: string): string {
  return `{"success":true,"data":${dataJson},"error":null,"traceId":"${traceId}"}`;
}

export function success<T>(traceId: string, data: T) {
  return { success: true as const, data, error: null, traceId };
}
