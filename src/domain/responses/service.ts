import type { Clock } from '../../clock.js';
import type { Db } from '../../storage/db.js';
import { ApiError } from '../errors.js';
import { type ScheduleResponseInput, checkResponseBody, scheduleResponse } from './create.js';
import { type IdempotencyScope, claimIdempotencyKey, completeIdempotencyKey, fingerprint, releaseIdempotencyKey } from './idempotency.js';
import type { ScheduledResponse } from './model.js';

export const SCHEDULE_OPERATION = 'POST /v1/accounts/{accountGroupId}/messages/responses';

export type ScheduleResult =
  | { replayed: false; response: ScheduledResponse }
  | { replayed: true; status: number; data: unknown; error: { code: string; message: string; details: string } | null };

/**
 * Queues a reply, honouring an Idempotency-Key when one is given. Stored outcomes: the 202 and a
 * 422 (the request itself cannot work). Not stored: 400s (found before the key is claimed, so a
 * corrected retry goes through), a 409 for a disconnected account and unexpected failures (a retry
 * may succeed once the cause is gone); 401, 403 and 429 never reach this point.
 */
export async function scheduleResponseOnce(db: Db, clock: Clock, accountGroupId: string, input: ScheduleResponseInput, idempotencyKey?: string): Promise<ScheduleResult> {
  checkResponseBody(input);
  if (idempotencyKey === undefined) {
    return { replayed: false, response: await db.transaction((tx) => scheduleResponse(tx, clock, accountGroupId, input)) };
  }
  const scope: IdempotencyScope = { accountGroupId, key: idempotencyKey, operation: SCHEDULE_OPERATION, fingerprint: fingerprint(SCHEDULE_OPERATION, input) };
  const claim = await claimIdempotencyKey(db, scope, clock.now());
  if (claim.kind === 'replay') {
    const stored = JSON.parse(claim.outcome.body) as unknown;
    return claim.outcome.status < 300
      ? { replayed: true, status: claim.outcome.status, data: stored, error: null }
      : { replayed: true, status: claim.outcome.status, data: null, error: stored as { code: string; message: string; details: string } };
  }
  try {
    const response = await db.transaction(async (tx) => {
      const created = await scheduleResponse(tx, clock, accountGroupId, input);
      await completeIdempotencyKey(tx, scope, { status: 202, body: JSON.stringify(created) });
      return created;
    });
    return { replayed: false, response };
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) {
      await completeIdempotencyKey(db, scope, { status: 422, body: JSON.stringify({ code: error.code, message: error.message, details: error.details }) });
    } else {
      await releaseIdempotencyKey(db, scope).catch(() => {});
    }
    throw error;
  }
}
