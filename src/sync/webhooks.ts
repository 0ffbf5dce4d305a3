import type { Clock } from '../clock.js';
import type { ConnectorRegistry } from '../connectors/registry.js';
import { type ProviderEvent, type WebhookInput, WebhookSignatureError } from '../connectors/types.js';
import { ApiError } from '../domain/errors.js';
import { isId } from '../ids.js';
import { enqueueJob } from '../scheduler/queue.js';
import type { Queryable } from '../storage/db.js';
import { PROCESS_WEBHOOK_JOB } from './jobs.js';
import { loadSyncAccount } from './state.js';

export interface WebhookDeps {
  db: Queryable;
  clock: Clock;
  connectors: ConnectorRegistry;
}

/**
 * Intake of `POST /v1/webhooks/{connector}/{accountId}`: the account's connector verifies the
 * request and parses it; the events are stored as one durable job and the caller is answered at
 * once. Processing (`applyEvents`) happens in the worker, retried until it succeeds. An unknown
 * account, a connector mismatch and a bad signature are the same WebhookSignatureError, so the
 * endpoint reveals nothing about which accounts exist.
 */
export async function receiveWebhook(deps: WebhookDeps, connector: string, accountId: string, input: WebhookInput): Promise<{ accepted: number }> {
  const account = isId(accountId) ? await loadSyncAccount(deps.db, accountId) : null;
  if (!account || account.connector !== connector) throw new WebhookSignatureError('Unknown webhook target.');
  let events: ProviderEvent[];
  try {
    events = deps.connectors.forAccount(account).parseWebhook(input);
  } catch (error) {
    if (error instanceof WebhookSignatureError) throw error;
    // Signed, but not in the connector's format (a field missing or of another type): the
    // provider's fault, answered 400 so it does not retry forever, instead of a 500.
    throw new ApiError('VALIDATION_ERROR', 'The webhook body is not in the format this connector expects.');
  }
  if (events.length === 0) return { accepted: 0 };
  const now = deps.clock.now();
  await enqueueJob(deps.db, PROCESS_WEBHOOK_JOB, { accountId, events }, now, now);
  return { accepted: events.length };
}
