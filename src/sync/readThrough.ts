import { ConnectorError } from '../connectors/types.js';
import { ApiError } from '../domain/errors.js';
import { completeConversationHistory } from './backfill.js';
import type { SyncContext } from './context.js';
import { type SyncAccount, markDisconnected } from './state.js';

/** Fetches the older history of a conversation that is not complete yet; throws ApiError UPSTREAM_ERROR when LinkedIn fails. */
export type ReadThrough = (conversation: { id: string; accountGroupId: string }) => Promise<void>;

export const READ_THROUGH_TIMEOUT_MS = 5_000;

/** SONARLY_READ_THROUGH_TIMEOUT_MS: how long a request may wait for LinkedIn (100 ms to 60 s, default 5 s). */
export function readThroughTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SONARLY_READ_THROUGH_TIMEOUT_MS;
  if (raw === undefined || raw === '') return READ_THROUGH_TIMEOUT_MS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 100 || value > 60_000) throw new Error(`SONARLY_READ_THROUGH_TIMEOUT_MS must be an integer from 100 to 60000; got '${raw}'.`);
  return value;
}

interface Row {
  id: string;
  provider_id: string;
  history_cursor: string | null;
  history_complete: boolean;
  account: SyncAccount;
}

const upstream = (message: string, details = 'Other conversations and the group-wide list are not affected. Retry this request later.') =>
  new ApiError('UPSTREAM_ERROR', message, details);

/** A message for the client that says what happened without repeating anything the provider sent. */
function describe(error: unknown, timeoutMs: number): ApiError {
  if (error instanceof ConnectorError) {
    switch (error.kind) {
      case 'timeout':
        return upstream(`LinkedIn did not return this conversation's older messages within ${timeoutMs / 1000} s.`);
      case 'rate_limited':
        return upstream(
          `LinkedIn is rate limiting this account; this conversation's older messages could not be fetched.`,
          `Retry in ${Math.ceil((error.retryAfterMs ?? 60_000) / 1000)} s. Other conversations and the group-wide list are not affected.`,
        );
      case 'auth_expired':
        return upstream(`The LinkedIn session of this conversation's account has expired; its older messages cannot be fetched until the account is reconnected.`);
      default:
        return upstream(`LinkedIn failed to return this conversation's older messages.`);
    }
  }
  return upstream(`LinkedIn did not return this conversation's older messages within ${timeoutMs / 1000} s.`);
}

/**
 * Read-through for `GET …/messages?conversationId=…`: when sync has not yet stored a
 * conversation's history back to its first message, the missing older pages are fetched from the
 * connector first, within `timeoutMs`. Each page is committed as it arrives, so a slow or failed
 * attempt still leaves progress for the next one; concurrent requests for the same conversation
 * share one fetch. Nothing here blocks requests for other conversations.
 */
export function createReadThrough(ctx: SyncContext, options: { timeoutMs?: number } = {}): ReadThrough {
  const timeoutMs = options.timeoutMs ?? READ_THROUGH_TIMEOUT_MS;
  const inFlight = new Map<string, Promise<void>>();

  const fetchHistory = async (conversationId: string, accountGroupId: string) => {
    const [row] = await ctx.db.query<Row>(
      `SELECT c.id, c.provider_id, c.history_cursor, c.history_complete,
              json_build_object('id', a.id, 'accountGroupId', a.account_group_id, 'connector', a.connector, 'providerAccountId', a.provider_account_id,
                                'accountType', a.account_type, 'settings', a.settings, 'status', a.status, 'name', a.name) AS account
       FROM conversations c JOIN connected_accounts a ON a.id = c.account_id
       WHERE c.id = $1 AND c.account_group_id = $2`,
      [conversationId, accountGroupId],
    );
    if (!row || row.history_complete) return;
    if (row.account.status !== 'connected') {
      throw upstream(`This conversation's LinkedIn account is ${row.account.status}; its older messages cannot be fetched until it is reconnected.`);
    }
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new ConnectorError('timeout', 'read-through deadline'));
      }, timeoutMs);
    });
    try {
      const connector = ctx.connectors.forAccount(row.account);
      const walk = completeConversationHistory(
        ctx,
        { id: row.account.id, accountGroupId: row.account.accountGroupId },
        { id: row.id, providerId: row.provider_id, historyCursor: row.history_cursor },
        connector,
        { signal: controller.signal },
      );
      walk.catch(() => {}); // It may settle after the deadline; its error is then nobody's.
      await Promise.race([walk, deadline]);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      if (error instanceof ConnectorError || (error as Error).name === 'AbortError' || (error as Error).name === 'TimeoutError') {
        if (error instanceof ConnectorError && error.kind === 'auth_expired') {
          await markDisconnected(ctx.db, row.account.id, 'The LinkedIn session expired (read-through).', ctx.clock.now()).catch(() => {});
        }
        throw describe(error, timeoutMs);
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };

  return (conversation) => {
    const running = inFlight.get(conversation.id);
    if (running) return running;
    const attempt = fetchHistory(conversation.id, conversation.accountGroupId).finally(() => inFlight.delete(conversation.id));
    inFlight.set(conversation.id, attempt);
    return attempt;
  };
}
