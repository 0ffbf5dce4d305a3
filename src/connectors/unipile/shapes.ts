import { ConnectorError, type ProviderAttachment, type ProviderConversation, type ProviderMessage, type ProviderPerson } from '../types.js';

/**
 * Unipile's v1 shapes, as far as we read them. Sources: the `unipile-node-sdk` typebox schemas
 * (src/schemas/chat.schema.ts, message.schema.ts, chat-attendee.schema.ts) and the API reference
 * (developer.unipile.com/reference: ChatsController_listAllChats, _listChatMessages,
 * _sendMessageInChat, _startNewChat, UsersController_getProfileByIdentifier,
 * ChatAttendeesController_listChatsByAttendee).
 */
export interface UnipileChat {
  object: 'Chat';
  id: string;
  account_id: string;
  provider_id: string;
  attendee_provider_id?: string;
  name: string | null;
  type: number;
  timestamp: string | null;
  unread_count: number;
}

export interface UnipileAttachment {
  id: string;
  type: string;
  url?: string;
  mimetype?: string;
  file_name?: string;
  unavailable?: boolean | number | string;
}

export interface UnipileMessage {
  object?: 'Message';
  id: string;
  chat_id: string;
  provider_id: string;
  sender_id: string;
  text: string | null;
  timestamp: string;
  is_sender: 0 | 1 | boolean;
  attachments: UnipileAttachment[];
  deleted?: 0 | 1 | boolean;
  edited?: 0 | 1 | boolean;
  hidden?: 0 | 1 | boolean;
  is_event?: 0 | 1 | boolean;
  parent?: string;
}

export interface UnipileList<T> {
  items: T[];
  cursor: string | null;
}

export interface UnipileProfile {
  provider_id?: string;
  public_identifier?: string | null;
  first_name?: string | null;
  last_name?: string | null;
}

/** Unipile's `linkedin[api]` value for each kind of account. */
export const LINKEDIN_API: Record<string, string> = { linkedin: 'classic', sales_navigator: 'sales_navigator', recruiter: 'recruiter' };

export const truthy = (value: unknown) => value === true || value === 1 || value === '1' || value === 'true';

export function isoMs(value: string): string {
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new ConnectorError('permanent', 'Unipile returned a timestamp that is not ISO 8601.');
  return new Date(time).toISOString();
}

export function toAttachment(a: UnipileAttachment): ProviderAttachment {
  return { type: a.type, id: a.id, url: a.url ?? '', fileName: a.file_name ?? null, mimeType: a.mimetype ?? null };
}

export function toMessage(m: UnipileMessage, chatId: string): ProviderMessage | null {
  // Event rows (reactions, group changes) and hidden rows are not messages a person wrote.
  if (truthy(m.is_event) || truthy(m.hidden)) return null;
  return {
    providerMessageId: m.id,
    conversationProviderId: m.chat_id ?? chatId,
    senderProviderId: m.sender_id ?? null,
    isSender: truthy(m.is_sender),
    text: m.text ?? '',
    sentAt: isoMs(m.timestamp),
    parentProviderMessageId: m.parent ?? null,
    attachments: (m.attachments ?? []).map(toAttachment),
    deleted: truthy(m.deleted),
    editedAt: null,
  };
}

export function toConversation(chat: UnipileChat): ProviderConversation {
  const participant: ProviderPerson | null = chat.attendee_provider_id
    ? { providerId: chat.attendee_provider_id, name: chat.type === 0 ? chat.name : null, publicIdentifier: null, linkedinUrl: null }
    : null;
  return {
    providerId: chat.id,
    name: chat.name,
    participant,
    unreadCount: chat.unread_count ?? 0,
    lastMessageAt: chat.timestamp ? isoMs(chat.timestamp) : null,
  };
}

