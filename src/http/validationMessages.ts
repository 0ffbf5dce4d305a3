import { ID_PATTERN } from '../ids.js';

/**
 * Turns schema validation failures into messages that name the parameter and say what is allowed,
 * read from the parameter's own schema: "Query parameter 'limit' must be an integer from 1 to 100
 * (got '0')."
 */
interface ValidationIssue {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema> };

const CONTEXT_NAMES: Record<string, string> = {
  querystring: 'Query parameter',
  params: 'Path parameter',
  body: 'Body field',
  headers: 'Header',
};

export function describeAllowed(schema: JsonSchema | undefined): string | undefined {
  if (!schema) return undefined;
  if (schema.pattern === ID_PATTERN) return 'a 24-character hexadecimal id';
  if (Array.isArray(schema.enum)) return `one of ${schema.enum.map((v) => `'${String(v)}'`).join(', ')}`;
  if (schema.const !== undefined) return `'${String(schema.const)}'`;
  if (Array.isArray(schema.anyOf)) {
    const literals = schema.anyOf.map((s: JsonSchema) => s.const).filter((v) => v !== undefined);
    if (literals.length) return `one of ${literals.map((v) => `'${String(v)}'`).join(', ')}`;
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    const kind = schema.type === 'integer' ? 'an integer' : 'a number';
    if (schema.minimum !== undefined && schema.maximum !== undefined) return `${kind} from ${schema.minimum} to ${schema.maximum}`;
    if (schema.minimum !== undefined) return `${kind} of at least ${schema.minimum}`;
    if (schema.maximum !== undefined) return `${kind} of at most ${schema.maximum}`;
    return kind;
  }
  if (schema.type === 'string') {
    const min = schema.minLength as number | undefined;
    const max = schema.maxLength as number | undefined;
    if (min && max) return `a string of ${min} to ${max} characters`;
    if (max) return `a string of at most ${max} characters`;
    if (min) return `a non-empty string`;
    return 'a string';
  }
  if (schema.type === 'boolean') return 'true or false';
  if (schema.type === 'object') return 'a JSON object';
  if (schema.type === 'array') return 'an array';
  return undefined;
}

function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text === undefined) return '';
  return ` (got '${text.length > 40 ? text.slice(0, 40) + '…' : text}')`;
}

function schemaAt(root: JsonSchema | undefined, path: string[]): JsonSchema | undefined {
  let node = root;
  for (const segment of path) {
    if (!node) return undefined;
    if (node.properties?.[segment]) node = node.properties[segment];
    else if (node.items && /^\d+$/.test(segment)) node = node.items as JsonSchema;
    else return undefined;
  }
  return node;
}

function valueAt(root: unknown, path: string[]): unknown {
  let node = root;
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

export function validationMessage(context: string, issue: ValidationIssue, schema: JsonSchema | undefined, input: unknown): string {
  const where = CONTEXT_NAMES[context] ?? 'Parameter';
  const path = issue.instancePath.split('/').filter(Boolean).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (issue.keyword === 'required') {
    const missing = String(issue.params.missingProperty);
    const allowed = describeAllowed(schemaAt(schema, [...path, missing]));
    return `${where} '${[...path, missing].join('.')}' is required${allowed ? `: ${allowed}` : ''}.`;
  }
  if (issue.keyword === 'additionalProperties') {
    const extra = String(issue.params.additionalProperty);
    const known = Object.keys(schemaAt(schema, path)?.properties ?? {});
    return `${where} '${[...path, extra].join('.')}' is not recognised; allowed fields are ${known.map((k) => `'${k}'`).join(', ')}.`;
  }
  if (path.length === 0 && context === 'body') {
    return `The request body must be ${describeAllowed(schema) ?? 'valid'}.`;
  }
  const allowed = describeAllowed(schemaAt(schema, path));
  return `${where} '${path.join('.')}' must be ${allowed ?? issue.message ?? 'valid'}${shown(valueAt(input, path))}.`;
}
