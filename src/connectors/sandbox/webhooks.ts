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

/** A signed body that is not in the sandbox's event format (the receiver answers 400). */
export class SandboxWebhookFormatError extends Error {
  override name = 'SandboxWebhookFormatError';
}

const MESSAGE_TYPES = new Set(['message.created', 'message.edited', 'message.deleted']);
const isString = (value: unknown): value is string => typeof value === 'string';
const isStringOrNull = (value: unknown) => value === null || value === undefined || typeof value === 'string';
const isInstant = (value: unknown) => typeof value === 'string' && !Number.isNaN(Date.parse(value));
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks one event's shape before it is accepted: a field of the wrong type would otherwise be
 * queued and then fail in the worker on every retry.
 */
function checkEvent(event: unknown): void {
  const invalid = (what: string): never => {
    throw new SandboxWebhookFormatError(`Sandbox webhook: ${what}.`);
  };
  if (!isObject(event) || !isString(event.id) || !isString(event.type) || !isInstant(event.occurred_at)) invalid('every event needs a string id and type and an ISO occurred_at');
  const e = event as Record<string, unknown>;
  if (!MESSAGE_TYPES.has(e.type as string)) return;
  const conversation = e.conversation;
  const message = e.message;
  if (!isObject(conversation) || !isString(conversation.id) || !isStringOrNull(conversation.name)) invalid('a message event needs a conversation with a string id');
  const participant = (conversation as Record<string, unknown>).participant;
  if (participant !== null && participant !== undefined && (!isObject(participant) || !isString(participant.id) || !isStringOrNull(participant.name) || !isStringOrNull(participant.public_identifier))) {
    invalid('a participant needs a string id');
  }
  if (
    !isObject(message) ||
    !isString(message.id) ||
    !isString(message.conversation_id) ||
    !isStringOrNull(message.sender_id) ||
    typeof message.is_sender !== 'boolean' ||
    !isString(message.text) ||
    !isInstant(message.sent_at) ||
    !isStringOrNull(message.parent_id) ||
    !(message.edited_at === null || message.edited_at === undefined || isInstant(message.edited_at)) ||
    !Array.isArray(message.attachments) ||
    !message.attachments.every((a: unknown) => isObject(a) && isString(a.type) && isString(a.id) && isString(a.url) && isStringOrNull(a.file_name) && isStringOrNull(a.mime_type))
  ) {
    invalid('a message event needs id, conversation_id, is_sender, text, sent_at and attachments of the documented types');
  }
}

export function parseSandboxWebhook(input: WebhookInput, secret: string | undefined): ProviderEvent[] {
  verifySandboxSignature(input, secret);
  let body: { events?: SandboxWebhookEvent[] };
  try {
    body = JSON.parse(input.body.toString('utf8')) as { events?: SandboxWebhookEvent[] };
  } catch {
    throw new WebhookSignatureError('The signed body is not JSON.');
  }
  if (!isObject(body) || (body.events !== undefined && !Array.isArray(body.events))) throw new SandboxWebhookFormatError('Sandbox webhook: the body must be {"events": [...]}.');
  for (const event of body.events ?? []) checkEvent(event);
  const events: ProviderEvent[] = [];
  for (const event of body.events ?? []) {
    if (event.type === 'account.disconnected' || event.type === 'account.connected') {
      events.push({ type: 'account_status', eventId: event.id, occurredAt: iso(event.occurred_at), status: event.type === 'account.connected' ? 'connected' : 'disconnected' });
      continue;
    }
    const m = event.message;
    if (!MESSAGE_TYPES.has(event.type) || !m || !event.conversation) continue;
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
