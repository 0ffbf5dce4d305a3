import type { Clock } from '../../clock.js';
import type { Db, Queryable } from '../../storage/db.js';
import { type CursorCodec, cursorMismatch } from '../cursor.js';
import { ApiError } from '../errors.js';
import { RESPONSE_COLUMNS, type ResponseRow, type ResponseStatus, type ScheduledResponse, getScheduledResponse, toScheduledResponse } from './model.js';

interface ResponsePosition {
  v: 1;
  k: 'responses';
  g: string;
  s: ResponseStatus | null;
  t: string;
  i: string;
}

export interface ResponsePage {
  items: ScheduledResponse[];
  nextCursor: string | null;
  hasMore: boolean;
}

/** Scheduled responses of a group, newest first by (createdAt, id), optionally of one status. */
export async function listScheduledResponses(
  db: Queryable,
  cursors: CursorCodec,
  query: { accountGroupId: string; limit: number; status?: ResponseStatus; cursor?: string },
): Promise<ResponsePage> {
  const status = query.status ?? null;
  let after: ResponsePosition | null = null;
  if (query.cursor !== undefined) {
    after = cursors.decode<ResponsePosition>(query.cursor);
    if (after.v !== 1 || after.k !== 'responses' || after.g !== query.accountGroupId || after.s !== status) throw cursorMismatch();
  }
  const rows = await db.query<ResponseRow & { created_at_raw: string }>(
    `SELECT ${RESPONSE_COLUMNS}, r.created_at::text AS created_at_raw FROM scheduled_responses r
     WHERE r.account_group_id = $1 AND ($2::text IS NULL OR r.status = $2)
       AND ($3::timestamptz IS NULL OR (r.created_at, r.id) < ($3::timestamptz, $4::text))
     ORDER BY r.created_at DESC, r.id DESC LIMIT $5`,
    [query.accountGroupId, status, after?.t ?? null, after?.i ?? null, query.limit + 1],
  );
  const hasMore = rows.length > query.limit;
  const page = hasMore ? rows.slice(0, query.limit) : rows;
  const last = page.at(-1);
  return {
    items: page.map(({ created_at_raw: _, ...row }) => toScheduledResponse(row)),
    nextCursor: hasMore && last ? cursors.encode({ v: 1, k: 'responses', g: query.accountGroupId, s: status, t: last.created_at_raw, i: last.id } satisfies ResponsePosition) : null,
    hasMore,
  };
}

/**
 * Cancels a response that has not started sending. Once a worker has marked it `sending`, the
 * message may already be on its way to LinkedIn, so it can no longer be called back.
 */
export async function cancelScheduledResponse(db: Db, clock: Clock, accountGroupId: string, id: string): Promise<ScheduledResponse> {
  return db.transaction(async (tx) => {
    const [row] = await tx.query<ResponseRow>(
      `UPDATE scheduled_responses r SET status = 'cancelled', updated_at = $3
       WHERE r.id = $1 AND r.account_group_id = $2 AND r.status = 'queued' RETURNING ${RESPONSE_COLUMNS}`,
      [id, accountGroupId, clock.now().toISOString()],
    );
    if (row) {
      await tx.query(`DELETE FROM jobs WHERE kind = 'send_response' AND payload->>'responseId' = $1`, [id]);
      return toScheduledResponse(row);
    }
    const current = await getScheduledResponse(tx, accountGroupId, id);
    if (!current) throw new ApiError('NOT_FOUND', 'No scheduled response with this id in this account group.');
    throw new ApiError('CONFLICT', `This response is ${current.status} and can no longer be cancelled; only a queued response can.`, `status: ${current.status}`);
  });
}
