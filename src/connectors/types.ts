/**
 * What the rest of the system needs from a way of reaching LinkedIn (a vendor API such as
 * Unipile, or the sandbox). Connectors know nothing of HTTP routes or our database schema: they
 * speak in provider ids and return plain values or throw a ConnectorError.
 */

export interface ProviderAttachment {
  type: string;
  id: string;
  url: string;
  fileName: string | null;
  mimeType: string | null;
}

export interface ProviderPerson {
  providerId: string;
  name: string | null;
  publicIdentifier: string | null;
  linkedinUrl: string | null;
}

export interface ProviderConversation {
  providerId: string;
  name: string | null;
  /** The other participant of a 1:1 conversation (the prospect side). */
  participant: ProviderPerson | null;
  unreadCount: number;
  /** ISO 8601 UTC with milliseconds. */
  lastMessageAt: string | null;
}

export interface ProviderMessage {
  providerMessageId: string;
  conversationProviderId: string;
  senderProviderId: string | null;
  isSender: boolean;
  text: string;
  /** ISO 8601 UTC with milliseconds. */
  sentAt: string;
  parentProviderMessageId: string | null;
  attachments: ProviderAttachment[];
  deleted?: boolean;
}

export interface ProviderPage<T> {
  items: T[];
  /** Pass back to get the next (older) page; null when there is none. */
  nextCursor: string | null;
}

export type SendChannel = 'direct_message' | 'inmail';

export interface SendRequest {
  /** Stable across retries of one scheduled response: the provider (or our reconciliation) uses it to avoid a second send. */
  dedupeId: string;
  channel: SendChannel;
  /** Set when replying in an existing conversation. */
  conversationProviderId: string | null;
  recipientProviderId: string;
  subject: string | null;
  text: string;
}

export interface SendResult {
  providerMessageId: string;
  conversationProviderId: string;
  sentAt: string;
}

export type ConnectorErrorKind = 'transient' | 'permanent' | 'auth_expired' | 'rate_limited' | 'timeout';

/**
 * `transient`: retry later. `timeout`: the outcome is unknown (ask `findSent` before retrying a
 * send). `permanent`: retrying cannot help. `auth_expired`: the account must be reconnected.
 * `rate_limited`: wait `retryAfterMs` before the next call.
 */
export class ConnectorError extends Error {
  constructor(
    readonly kind: ConnectorErrorKind,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ConnectorError';
  }
}

export interface Connector {
  /** Conversations, most recently active first. */
  listConversations(cursor: string | null): Promise<ProviderPage<ProviderConversation>>;
  /** Messages of one conversation, newest first; `after` limits the walk to messages sent after that instant. */
  listMessages(conversationProviderId: string, cursor: string | null, options?: { after?: string }): Promise<ProviderPage<ProviderMessage>>;
  getProfile(providerId: string): Promise<ProviderPerson | null>;
  send(request: SendRequest, signal?: AbortSignal): Promise<SendResult>;
  /** Whether a send with this dedupe id reached the provider, and what it became. */
  findSent(request: SendRequest): Promise<SendResult | null>;
}

/** The connection a connector is built for. */
export interface ConnectorAccount {
  id: string;
  accountGroupId: string;
  connector: string;
  providerAccountId: string;
  accountType: string;
  /** Connector-specific settings (e.g. Unipile DSN and API key); never logged. */
  settings: Record<string, unknown>;
}

export type ConnectorFactory = (account: ConnectorAccount) => Connector;
