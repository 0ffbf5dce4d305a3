/**
 * What no answer may contain: stack traces, file system paths, SQL or database error text, and
 * secrets (API keys, signing keys, webhook secrets, database URLs). Text the request itself
 * carried may come back quoted in a validation message, so a match that is a substring of the
 * request is not counted, except for secrets, which are never echoed.
 */
const DISCLOSURES: [name: string, pattern: RegExp][] = [
  ['stack trace', /\n\s+at \S|\bat (?:async )?[\w$.<>]+ \((?:file:|node:|\/)|Error: [^"]*\n/],
  ['file path', /(?:\/(?:work|home|root|usr|tmp|var|opt|srv|app)\/[\w.-]|node_modules|file:\/\/|\b[\w-]+\.(?:ts|mjs|cjs|js):\d+)/],
  ['SQL', /\b(?:SELECT\s+[\w*"(]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|RETURNING\s+\w)|\bsyntax error at\b|\brelation "|\bviolates (?:unique|foreign|not-null|check)|duplicate key value|\bcolumn "|pg_catalog|SQLSTATE|invalid input syntax for|current transaction is aborted/i],
  ['database detail', /\b(?:ECONNREFUSED|ECONNRESET|EPIPE|Connection terminated|PGlite|RuntimeError|unreachable code|TypeError|ReferenceError|RangeError)\b/],
];

const SECRETS: [name: string, pattern: RegExp][] = [
  ['API key', /sk_(?:live|test)_[0-9A-Za-z]{20,}/],
  ['database URL', /postgres(?:ql)?:\/\/\S+/],
];

export function disclosures(body: string, request: string, secrets: readonly string[] = []): string[] {
  const found: string[] = [];
  for (const [name, pattern] of DISCLOSURES) {
    const match = pattern.exec(body);
    if (match && !request.includes(match[0].trim())) found.push(`${name}: '${match[0]}'`);
  }
  for (const [name, pattern] of SECRETS) {
    const match = pattern.exec(body);
    if (match) found.push(`${name}: '${match[0].slice(0, 16)}…'`);
  }
  for (const secret of secrets) if (secret.length >= 8 && body.includes(secret)) found.push(`server secret '${secret.slice(0, 6)}…'`);
  return found;
}
