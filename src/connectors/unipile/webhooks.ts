import { timingSafeEqual } from 'node:crypto';
import { ConnectorError, type ProviderEvent, type ProviderPerson, type WebhookInput, WebhookSignatureError } from '../types.js';
import { type UnipileAttachment, isoMs, toAttachment } from './shapes.js';

/**
 * Unipile's v1 webhooks are not signed: a webhook is created with custom `headers`
 * (POST /api/v1/webhooks, developer.unipile.com/docs/webhooks-2), which Unipile sends back with
 * every call. We register ours with `X-Sonarly-Webhook-Secret: <random secret>` and compare it in
 * constant time. The route is per account, so a secret only ever opens its own account.
 */
export const UNIPILE_SECRET_HEADER = 'x-sonarly-webhook-secret';

interface Attendee {
  attendee_id?: string;
  attendee_name?: string | null;
  attendee_provider_id?: string;
  attendee_profile_url?: string | null;
}

/** developer.unipile.com/docs/new-messages-webhook (source `messaging`). */
export interface UnipileMessageWebhook {
  account_id: string;
  account_type?: string;
  event: 'message_received' | 'message_reaction' | 'message_read' | string;
  chat_id: string;
  timestamp: string;
  webhook_name?: string;
  message_id: string;
  message: string | null;
  sender?: Attendee;
  attendees?: Attendee[];
  attachments?: UnipileAttachment | UnipileAttachment[];
  is_sender?: boolean;
}

/** developer.unipile.com/docs/account-lifecycle (source `account_status`). */
export interface UnipileAccountStatusWebhook {
  AccountStatus: { account_id: string; account_type?: string; message: string };
}

const CONNECTED = new Set(['OK', 'RECONNECTED', 'CREATION_SUCCESS', 'SYNC_SUCCESS']);

function headerValue(headers: WebhookInput['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function person(attendee: Attendee | undefined): ProviderPerson | null {
  if (!attendee?.attendee_provider_id) return null;
  const url = attendee.attendee_profile_url ?? null;
  const slug = url ? /linkedin\.com\/in\/([^/?#]+)/.exec(url)?.[1] ?? null : null;
  return { providerId: attendee.attendee_provider_id, name: attendee.attendee_name?.trim() || null, publicIdentifier: slug, linkedinUrl: url };
}

export function parseUnipileWebhook(input: WebhookInput, account: { webhookSecret: string | null; accountId: string; selfProviderId: string }): ProviderEvent[] {
  const given = headerValue(input.headers, UNIPILE_SECRET_HEADER);
  if (!account.webhookSecret || !given) throw new WebhookSignatureError('Missing webhook secret.');
  const expected = Buffer.from(account.webhookSecret);
  const actual = Buffer.from(given);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw new WebhookSignatureError('Bad webhook secret.');

  let body: Partial<UnipileMessageWebhook & UnipileAccountStatusWebhook>;
  try {
    body = JSON.parse(input.body.toString('utf8')) as typeof body;
  } catch {
    throw new WebhookSignatureError('The body is not JSON (create the webhook with format "json").');
  }

  if (body.AccountStatus) {
    const { account_id, message } = body.AccountStatus;
    if (account_id !== account.accountId) return [];
    const status = message === 'CREDENTIALS' ? 'disconnected' : CONNECTED.has(message) ? 'connected' : message === 'ERROR' || message === 'STOPPED' ? 'errored' : null;
    return status ? [{ type: 'account_status', eventId: `unipile:status:${account_id}:${message}`, occurredAt: new Date().toISOString(), status }] : [];
  }

  if (body.event !== 'message_received' || body.account_id !== account.accountId || !body.message_id || !body.chat_id || !body.timestamp) return [];
  let sentAt: string;
  try {
    sentAt = isoMs(body.timestamp);
  } catch (error) {
    if (error instanceof ConnectorError) return [];
    throw error;
  }
  const sender = person(body.sender);
  const isSender = body.is_sender ?? sender?.providerId === account.selfProviderId;
  const other = (body.attendees ?? []).map(person).find((p) => p !== null && p.providerId !== account.selfProviderId) ?? (isSender ? null : sender);
  const attachments = body.attachments === undefined ? [] : Array.isArray(body.attachments) ? body.attachments : [body.attachments];
  return [
    {
      type: 'message',
      eventId: `unipile:message_received:${body.message_id}`,
      occurredAt: sentAt,
      conversation: { providerId: body.chat_id, ...(other ? { name: other.name, participant: other } : {}) },
      message: {
        providerMessageId: body.message_id,
        conversationProviderId: body.chat_id,
        senderProviderId: sender?.providerId ?? null,
        isSender,
        text: body.message ?? '',
        sentAt,
        parentProviderMessageId: null,
        attachments: attachments.map(toAttachment),
      },
    },
  ];
}
