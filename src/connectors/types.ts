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
  /** When the provider says the text was last edited (ISO 8601 UTC), if it was. */
  editedAt?: string | null;
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
  /**
   * When the first attempt of this send began (ISO 8601). Providers without a dedupe key (Unipile)
   * reconcile by looking for the text among messages sent since then; without it they look at the
   * recent messages of the conversation.
   */
  notBefore?: string;
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

export interface ListOptions {
  /** Only items active (conversations) or sent (messages) after this instant, ISO 8601. */
  after?: string;
  /** Aborts the call (read-through deadlines); the connector then throws a `timeout` ConnectorError. */
  signal?: AbortSignal;
}

/** A webhook request as it arrived: the raw body is what signatures are computed over. */
export interface WebhookInput {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Conversation facts a message event carries; fields the event does not know are left out. */
export interface ProviderConversationHint {
  providerId: string;
  name?: string | null;
  participant?: ProviderPerson | null;
}

export type ProviderEvent =
  | {
      type: 'message';
      /** The provider's event id when it has one, else a stable id derived from the event. */
      eventId: string;
      /** When the provider saw the change (ISO 8601); orders edits of one message. */
      occurredAt: string;
      conversation: ProviderConversationHint;
      message: ProviderMessage;
    }
  | { type: 'account_status'; eventId: string; occurredAt: string; status: 'connected' | 'disconnected' | 'errored' };

/** The webhook request is not from the provider: its signature (or shared secret) is missing or wrong. */
export class WebhookSignatureError extends Error {
  override name = 'WebhookSignatureError';
}

export interface Connector {
  /** Conversations, most recently active first; `after` stops the walk at conversations last active before it. */
  listConversations(cursor: string | null, options?: ListOptions): Promise<ProviderPage<ProviderConversation>>;
  /** Messages of one conversation, newest first; `after` limits the walk to messages sent after that instant. */
  listMessages(conversationProviderId: string, cursor: string | null, options?: ListOptions): Promise<ProviderPage<ProviderMessage>>;
  getProfile(providerId: string): Promise<ProviderPerson | null>;
  send(request: SendRequest, signal?: AbortSignal): Promise<SendResult>;
  /** Whether a send with this dedupe id reached the provider, and what it became. */
  findSent(request: SendRequest): Promise<SendResult | null>;
  /**
   * Verifies that an inbound webhook request comes from the provider (throws WebhookSignatureError
   * if not) and parses it into events. Events the system does not use are left out.
   */
  parseWebhook(input: WebhookInput): ProviderEvent[];
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
