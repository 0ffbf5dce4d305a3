import { createHmac, timingSafeEqual } from 'node:crypto';
import { type ProviderEvent, type ProviderMessage, type WebhookInput, WebhookSignatureError } from '../types.js';
import type { TimedMessage } from './network.js';

/**
 * The sandbox's webhooks, shaped like the signed webhooks of LinkedIn-facing vendors
 * (ConnectSafely, Sendpilot): a JSON body, and `X-Sandbox-Signature: sha256=<hex>` holding the
 * HMAC-SHA256 of the raw body under the account's `webhookSecret`.
 */
export const SANDBOX_SIGNATURE_HEADER = 'x-sandbox-signature';

export interface SandboxWebhookEvent {
  id: string;
  type: 'message.created' | 'message.edited' | 'message.deleted' | 'account.disconnected' | 'account.connected';
  occurred_at: string;
  conversation?: { id: string; name: string | null; participant: { id: string; name: string | null; public_identifier: string | null } | null };
  message?: {
    id: string;
    conversation_id: string;
    sender_id: string | null;
    is_sender: boolean;
    text: string;
    sent_at: string;
    parent_id: string | null;
    edited_at: string | null;
    attachments: { type: string; id: string; url: string; file_name: string | null; mime_type: string | null }[];
  };
}

export function signSandboxWebhook(secret: string, body: string | Buffer): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

/** The body LinkedIn-in-the-sandbox posts for one message event. */
export function sandboxMessageEvent(
  type: 'message.created' | 'message.edited' | 'message.deleted',
  message: ProviderMessage | TimedMessage,
  conversation: { name: string | null; participant: { providerId: string; name: string | null; publicIdentifier: string | null } | null },
  occurredAt: string,
): SandboxWebhookEvent {
  return {
    id: `${type}:${message.providerMessageId}:${occurredAt}`,
    type,
    occurred_at: occurredAt,
    conversation: {
      id: message.conversationProviderId,
      name: conversation.name,
      participant: conversation.participant ? { id: conversation.participant.providerId, name: conversation.participant.name, public_identifier: conversation.participant.publicIdentifier } : null,
    },
    message: {
      id: message.providerMessageId,
      conversation_id: message.conversationProviderId,
      sender_id: message.senderProviderId,
      is_sender: message.isSender,
      text: type === 'message.deleted' ? '' : message.text,
      sent_at: message.sentAt,
      parent_id: message.parentProviderMessageId,
      edited_at: type === 'message.edited' ? occurredAt : null,
      attachments: message.attachments.map((a) => ({ type: a.type, id: a.id, url: a.url, file_name: a.fileName, mime_type: a.mimeType })),
    },
  };
}

function header(headers: WebhookInput['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function verifySandboxSignature(input: WebhookInput, secret: string | undefined): void {
  const given = header(input.headers, SANDBOX_SIGNATURE_HEADER);
  if (!secret || !given) throw new WebhookSignatureError('Missing signature.');
  const expected = Buffer.from(signSandboxWebhook(secret, input.body));
  const actual = Buffer.from(given);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw new WebhookSignatureError('Bad signature.');
}

const iso = (value: string) => new Date(value).toISOString();

export function parseSandboxWebhook(input: WebhookInput, secret: string | undefined): ProviderEvent[] {
  verifySandboxSignature(input, secret);
  let body: { events?: SandboxWebhookEvent[] };
  try {
    body = JSON.parse(input.body.toString('utf8')) as { events?: SandboxWebhookEvent[] };
  } catch {
    throw new WebhookSignatureError('The signed body is not JSON.');
  }
  const events: ProviderEvent[] = [];
  for (const event of body.events ?? []) {
    if (event.type === 'account.disconnected' || event.type === 'account.connected') {
      events.push({ type: 'account_status', eventId: event.id, occurredAt: iso(event.occurred_at), status: event.type === 'account.connected' ? 'connected' : 'disconnected' });
      continue;
    }
    const m = event.message;
    if (!m || !event.conversation) continue;
    const participant = event.conversation.participant;
    events.push({
      type: 'message',
      eventId: event.id,
      occurredAt: iso(event.occurred_at),
      conversation: {
        providerId: event.conversation.id,
        name: event.conversation.name,
        participant: participant ? { providerId: participant.id, name: participant.name, publicIdentifier: participant.public_identifier, linkedinUrl: participant.public_identifier ? `https://www.linkedin.com/in/${participant.public_identifier}` : null } : null,
      },
      message: {
        providerMessageId: m.id,
        conversationProviderId: m.conversation_id,
        senderProviderId: m.sender_id,
        isSender: m.is_sender,
        text: m.text,
        sentAt: iso(m.sent_at),
        parentProviderMessageId: m.parent_id,
        attachments: m.attachments.map((a) => ({ type: a.type, id: a.id, url: a.url, fileName: a.file_name, mimeType: a.mime_type })),
        deleted: event.type === 'message.deleted',
        editedAt: m.edited_at ? iso(m.edited_at) : null,
      },
    });
  }
  return events;
}
