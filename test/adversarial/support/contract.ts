import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/**
 * The project's own OpenAPI document as a test oracle: its operations, what each may answer
 * (statuses, error codes, body schemas), and a check of a real answer against it. Shared by the
 * fuzzer and the cross-tenant probes.
 */
type Json = Record<string, any>;

export type Method = 'GET' | 'POST';

export interface Operation {
  id: string;
  method: Method;
  /** OpenAPI path template, e.g. /v1/accounts/{accountGroupId}/messages */
  path: string;
  spec: Json;
  secured: boolean;
  parameters: { in: 'path' | 'query' | 'header'; name: string; required: boolean; schema: Json }[];
  body: Json | null;
}

/**
 * Statuses the document describes for every operation in its introduction rather than in each
 * operation's `responses`: 429 (rate limits: every operation), and for operations that take a body
 * 413 (too large) and 415 (not JSON).
 */
export const GLOBAL_STATUSES = { any: [429], withBody: [413, 415] } as const;

export class Contract {
  readonly operations: Operation[];
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();

  private constructor(readonly doc: Json) {
    this.operations = Object.entries(doc.paths as Record<string, Json>).flatMap(([path, item]) =>
      (['get', 'post'] as const)
        .filter((method) => item[method])
        .map((method) => {
          const spec = item[method] as Json;
          return {
            id: spec.operationId as string,
            method: method.toUpperCase() as Method,
            path,
            spec,
            secured: (spec.security ?? doc.security ?? []).length > 0,
            parameters: ((spec.parameters ?? []) as Json[]).map((p) => ({ in: p.in, name: p.name, required: p.required === true, schema: p.schema ?? {} })),
            body: spec.requestBody?.content?.['application/json']?.schema ?? null,
          };
        }),
    );
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    this.ajv.addSchema({ $id: 'https://sonarly.invalid/openapi.json', $defs: JSON.parse(this.local(JSON.stringify(doc.components?.schemas ?? {}))) });
  }

  static async load(app: FastifyInstance): Promise<Contract> {
    const response = await app.inject({ method: 'GET', url: '/v1/openapi.json' });
    if (response.statusCode !== 200) throw new Error(`GET /v1/openapi.json answered ${response.statusCode}`);
    return new Contract(response.json());
  }

  private local(text: string): string {
    return text.replaceAll('#/components/schemas/', 'https://sonarly.invalid/openapi.json#/$defs/');
  }

  operation(id: string): Operation {
    const found = this.operations.find((operation) => operation.id === id);
    if (!found) throw new Error(`operation ${id} is not in the OpenAPI document`);
    return found;
  }

  /** Statuses the operation may answer. */
  statuses(operation: Operation): Set<number> {
    const statuses = new Set(Object.keys(operation.spec.responses).map(Number));
    if (operation.secured) for (const status of GLOBAL_STATUSES.any) statuses.add(status);
    if (operation.body) for (const status of GLOBAL_STATUSES.withBody) statuses.add(status);
    return statuses;
  }

  /** The error codes documented for a status of an operation (examples, else the description's list); null: any. */
  codes(operation: Operation, status: number): Set<string> | null {
    const response = operation.spec.responses[String(status)] as Json | undefined;
    if (status === 413) return new Set(['PAYLOAD_TOO_LARGE']);
    if (status === 415) return new Set(['UNSUPPORTED_MEDIA_TYPE']);
    if (status === 429) return new Set(['RATE_LIMITED']);
    if (!response) return null;
    const examples = response.content?.['application/json']?.examples as Json | undefined;
    if (examples) return new Set(Object.values(examples).map((example: Json) => example.value?.error?.code as string));
    const listed = /\(error\.code: ([A-Z_, ]+)\)/.exec(String(response.description ?? ''))?.[1];
    return listed ? new Set(listed.split(',').map((code) => code.trim())) : null;
  }

  private validator(schema: Json): ValidateFunction {
    const text = this.local(JSON.stringify(schema));
    let validate = this.validators.get(text);
    if (!validate) {
      validate = this.ajv.compile(JSON.parse(text));
      this.validators.set(text, validate);
    }
    return validate;
  }

  /**
   * Everything wrong with an answer, judged by the document alone: an undocumented status or error
   * code, a content type or body that does not match the documented schema, the envelope, the
   * trace id header. Empty when the answer is as documented.
   */
  problems(operation: Operation, response: LightMyRequestResponse): string[] {
    const problems: string[] = [];
    const status = response.statusCode;
    if (status >= 500) problems.push(`server error ${status}`);
    if (!this.statuses(operation).has(status)) problems.push(`status ${status} is not documented for ${operation.id}`);
    const contentType = String(response.headers['content-type'] ?? '').split(';')[0]!.trim();
    const documented = operation.spec.responses[String(status)] as Json | undefined;
    const isJson = contentType === 'application/json';
    if (documented?.content && !documented.content[contentType]) problems.push(`content type '${contentType}' is not documented for ${status}`);
    const traceHeader = response.headers['x-trace-id'];
    if (typeof traceHeader !== 'string' || !/^[0-9a-f]{24}$/.test(traceHeader)) problems.push('X-Trace-Id header missing or malformed');
    if (!isJson) {
      // Only documented non-JSON answers (metrics) may leave the envelope.
      if (!documented?.content?.[contentType]) problems.push(`answer ${status} is not JSON (${contentType})`);
      return problems;
    }
    let body: Json;
    try {
      body = JSON.parse(response.body) as Json;
    } catch {
      return [...problems, 'body is not valid JSON'];
    }
    const envelopeOk =
      body !== null &&
      typeof body === 'object' &&
      typeof body.success === 'boolean' &&
      'data' in body &&
      'error' in body &&
      typeof body.traceId === 'string' &&
      /^[0-9a-f]{24}$/.test(body.traceId) &&
      Object.keys(body).length === 4;
    if (!envelopeOk) return [...problems, `not the envelope: ${response.body.slice(0, 200)}`];
    if (body.traceId !== traceHeader) problems.push('traceId differs from the X-Trace-Id header');
    if (status < 400) {
      if (body.success !== true || body.error !== null) problems.push('a success without success:true and error:null');
    } else {
      const error = body.error as Json | null;
      if (body.success !== false || body.data !== null || !error || typeof error.code !== 'string' || typeof error.message !== 'string' || typeof error.details !== 'string') {
        problems.push(`an error outside the ErrorResponse shape: ${response.body.slice(0, 200)}`);
      } else {
        const codes = this.codes(operation, status);
        if (codes && !codes.has(error.code)) problems.push(`error code ${error.code} is not documented for ${status} (${[...codes].join(', ')})`);
      }
    }
    const schema = documented?.content?.['application/json']?.schema as Json | undefined;
    if (schema) {
      const validate = this.validator(schema);
      if (!validate(body)) problems.push(`body does not match the documented schema: ${this.ajv.errorsText(validate.errors)}`);
    }
    if (status === 429 && !response.headers['retry-after']) problems.push('429 without Retry-After');
    return problems;
  }
}
