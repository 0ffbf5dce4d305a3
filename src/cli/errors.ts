import { ApiError } from '../domain/errors.js';

/**
 * A failure the operator can act on: `main.ts` prints its message as one line (plus the hint) and
 * exits with status 2, without a stack trace.
 */
export class CliError extends Error {
  override name = 'CliError';
}

/** Exit statuses documented in docs/cli.md. */
export const EXIT = {
  /** An import finished but rejected some records (the others were stored). */
  REJECTED_RECORDS: 3,
  /** Interrupted (Ctrl-C); what was done before is kept. */
  INTERRUPTED: 130,
} as const;

/** Domain errors (bad input, unknown ids) become CLI errors with their hint on a second line. */
export function toCliError(error: unknown): unknown {
  if (error instanceof ApiError) return new CliError(error.details ? `${error.message}\n  ${error.details}` : error.message);
  return error;
}
