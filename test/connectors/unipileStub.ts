import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pick, seededRandom } from '../../src/random.js';

/**
 * A local stand-in for Unipile's v1 API, written to its documented requests and responses; each
 * shape names where it is documented. Only what the connector uses is implemented. State is in
 * memory; `failNext` injects the failures Unipile (or LinkedIn behind it) shows.
 *
 * Sources:
 * - [SDK] github.com/unipile/unipile-node-sdk src/schemas/*.ts (typebox schemas of chats, messages,
 *   attendees, accounts) and src/resources/messaging.resource.ts (paths, query parameters,
 *   multipart fields).
 * - [REF] developer.unipile.com/reference (ChatsController_listAllChats, _listChatMessages,
 *   _sendMessageInChat, _startNewChat, ChatAttendeesController_listChatsByAttendee,
 *   UsersController_getProfileByIdentifier, AccountsController_getAccountById).
 * - [DOC] developer.unipile.com/docs: send-messages, new-messages-webhook, account-lifecycle,
 *   message-payload, webhooks-2; v2.0/docs/rate-limits (429 `api/too_many_requests`).
 */

export interface StubMessage {
  object: 'Message';
  id: string;
  account_id: string;
  chat_id: string;
  chat_provider_id: string;
  provider_id: string;
  sender_id: string;
  text: string | null;
  /** [SDK message.schema.ts] ISO 8601. */
  timestamp: string;
  is_sender: 0 | 1;
  attachments: { id: string; type: string; url?: string; file_name?: string; mimetype?: string; unavailable: boolean }[];
  reactions: unknown[];
  seen: 0 | 1;
  seen_by: Record<string, unknown>;
  hidden: 0 | 1;
  deleted: 0 | 1;
  edited: 0 | 1;
  is_event: 0 | 1;
  delivered: 0 | 1;
  behavior: null;
  original: string;
}

/** [SDK chat.schema.ts] */
export interface StubChat {
  object: 'Chat';
  id: string;
  account_id: string;
  account_type: 'LINKEDIN';
  provider_id: string;
  attendee_provider_id: string;
  name: string | null;
  type: 0 | 1 | 2;
  timestamp: string | null;
  unread_count: number;
  archived: 0 | 1;
  muted_until: null;
  read_only: 0 | 1 | 2;
  /** Newest first. Not part of Unipile's chat object: the stub's storage. */
  messages: StubMessage[];
}

export interface StubAttendee {
  providerId: string;
  firstName: string;
  lastName: string;
  publicIdentifier: string;
}

export type Fault =
  | { status: number; type?: string; retryAfter?: string }
  /** Never answers (until the stub closes). */
  | 'hang'
  /** Does the work, then never answers: the ambiguous send. */
  | 'deliver-then-hang';

export interface StubRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  apiKey: string | undefined;
  form?: Record<string, string[]>;
}

const FIRST = ['Ada', 'Bruno', 'Chloé', 'Dev', 'Esme', 'Farid', 'Greta', 'Hugo'];
const LAST = ['Moreau', 'Ito', 'Brandt', 'Quispe', 'Nakamura', 'Olsen'];

export class UnipileStub {
  readonly apiKey = 'stub-api-key-9f8e7d6c5b4a';
  readonly accountId = 'dfXlh46vQYCsMbVarumWlg';
  readonly selfProviderId = 'ACoAAStubSelf0001';
  readonly chats: StubChat[] = [];
  readonly attendees = new Map<string, StubAttendee>();
  readonly requests: StubRequest[] = [];
  private readonly faults: Fault[] = [];
  private readonly hanging = new Set<http.ServerResponse>();
  private server: http.Server | null = null;
  private counter = 0;
  /** The stub's clock for new messages (epoch ms); tests move it. */
  now = Date.parse('2026-03-01T12:00:00.000Z');

  /** A seeded inbox: `chats` 1:1 chats with up to `maxMessages` messages, some edited, deleted, event or hidden rows. */
  seed(options: { chats: number; maxMessages: number; seed?: number }): this {
    const random = seededRandom(options.seed ?? 1);
    for (let c = 0; c < options.chats; c++) {
      const attendee: StubAttendee = { providerId: `ACoAAStubPerson${c.toString().padStart(4, '0')}`, firstName: pick(random, FIRST), lastName: pick(random, LAST), publicIdentifier: `stub-person-${c}` };
      this.attendees.set(attendee.providerId, attendee);
      const chat = this.newChat(attendee);
      const count = 1 + Math.floor(random() * options.maxMessages);
      let t = this.now - Math.floor(random() * 60 * 86_400_000);
      const messages: StubMessage[] = [];
      for (let m = 0; m < count; m++) {
        t -= 1_000 * (1 + Math.floor(random() * 36_000));
        const isSender = random() < 0.5;
        const message = this.message(chat, isSender ? this.selfProviderId : attendee.providerId, isSender, `message ${m} of chat ${c}`, t);
        const roll = random();
        if (roll < 0.03) message.is_event = 1;
        else if (roll < 0.05) message.hidden = 1;
        else if (roll < 0.08) {
          message.deleted = 1;
          message.text = null;
        } else if (roll < 0.12) message.edited = 1;
        if (random() < 0.1) message.attachments.push({ id: `att-${message.id}`, type: 'file', file_name: 'brief.pdf', mimetype: 'application/pdf', url: `att://${message.id}`, unavailable: false });
        messages.push(message);
      }
      chat.messages = messages;
      chat.timestamp = messages[0]?.timestamp ?? null;
      chat.unread_count = messages.findIndex((m) => m.is_sender === 1) === -1 ? messages.length : messages.findIndex((m) => m.is_sender === 1);
    }
    this.sortChats();
    return this;
  }

  private id(prefix: string): string {
    return `${prefix}${(++this.counter).toString(36).padStart(8, '0')}`;
  }

  private newChat(attendee: StubAttendee): StubChat {
    const chat: StubChat = {
      object: 'Chat',
      id: this.id('chat_'),
      account_id: this.accountId,
      account_type: 'LINKEDIN',
      provider_id: this.id('2-li-'),
      attendee_provider_id: attendee.providerId,
      name: `${attendee.firstName} ${attendee.lastName}`,
      type: 0,
      timestamp: null,
      unread_count: 0,
      archived: 0,
      muted_until: null,
      read_only: 0,
      messages: [],
    };
    this.chats.push(chat);
    return chat;
  }

  private message(chat: StubChat, senderId: string, isSender: boolean, text: string, t: number): StubMessage {
    return {
      object: 'Message',
      id: this.id('msg_'),
      account_id: this.accountId,
      chat_id: chat.id,
      chat_provider_id: chat.provider_id,
      provider_id: this.id('2-li-msg-'),
      sender_id: senderId,
      text,
      timestamp: new Date(t).toISOString(),
      is_sender: isSender ? 1 : 0,
      attachments: [],
      reactions: [],
      seen: 0,
      seen_by: {},
      hidden: 0,
      deleted: 0,
      edited: 0,
      is_event: 0,
      delivered: 1,
      behavior: null,
      original: '{}',
    };
  }

  private sortChats(): void {
    this.chats.sort((a, b) => (b.timestamp ?? '').localeCompare(a.timestamp ?? '') || b.id.localeCompare(a.id));
  }

  /** A prospect answers: a new inbound message, as LinkedIn would add it. */
  receive(chat: StubChat, text: string, at = this.now): StubMessage {
    const message = this.message(chat, chat.attendee_provider_id, false, text, at);
    chat.messages.unshift(message);
    chat.timestamp = message.timestamp;
    chat.unread_count++;
    this.sortChats();
    return message;
  }

  /** The messages a complete walk must find: everything but event and hidden rows. */
  expectedMessageIds(): string[] {
    return this.chats.flatMap((chat) => chat.messages.filter((m) => !m.is_event && !m.hidden).map((m) => m.id));
  }

  failNext(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = http.createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async close(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private send(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  }

  /** [REF] error bodies: { status, type, title, detail }. The detail is the provider's own words: it must never reach our clients. */
  private error(response: http.ServerResponse, status: number, type: string, headers: Record<string, string> = {}): void {
    this.send(response, status, { status, type, title: 'Stub error', detail: `UPSTREAM-RAW-DETAIL for ${type}` }, headers);
  }

  private page<T>(items: T[], query: Record<string, string>, max = 250): { items: T[]; cursor: string | null } {
    const limit = Math.min(Number(query.limit ?? 100), max);
    const offset = query.cursor ? Number(Buffer.from(query.cursor, 'base64url').toString()) : 0;
    const slice = items.slice(offset, offset + limit);
    return { items: slice, cursor: offset + limit < items.length ? Buffer.from(String(offset + limit)).toString('base64url') : null };
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url!, 'http://stub');
    const query = Object.fromEntries(url.searchParams);
    const record: StubRequest = { method: request.method!, path: url.pathname, query, apiKey: request.headers['x-api-key'] as string | undefined };
    if (request.method === 'POST') {
      // [SDK messaging.resource.ts] sends are multipart/form-data.
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const form = await new Request('http://stub', { method: 'POST', headers: { 'content-type': request.headers['content-type'] ?? '' }, body: Buffer.concat(chunks) }).formData();
      record.form = {};
      for (const [name, value] of form.entries()) (record.form[name] ??= []).push(String(value));
    }
    this.requests.push(record);

    // [REF] authentication: X-API-KEY header; a wrong key is a 401.
    if (record.apiKey !== this.apiKey) return this.error(response, 401, 'errors/missing_credentials');
    const fault = this.faults.shift();
    let deliverThenHang = false;
    if (fault === 'hang') {
      this.hanging.add(response);
      return;
    }
    if (fault === 'deliver-then-hang') deliverThenHang = true;
    else if (fault) return this.error(response, fault.status, fault.type ?? 'errors/unexpected', fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});

    const reply = (status: number, body: unknown) => {
      if (deliverThenHang) {
        this.hanging.add(response);
        return;
      }
      this.send(response, status, body);
    };
    const parts = url.pathname.replace(/^\/api\/v1\//, '').split('/').map(decodeURIComponent);
    const chatById = (id: string) => this.chats.find((chat) => chat.id === id);

    // GET /api/v1/accounts/{id} [REF AccountsController_getAccountById; SDK account.schema.ts]
    if (request.method === 'GET' && parts[0] === 'accounts' && parts.length === 2) {
      if (parts[1] !== this.accountId) return this.error(response, 404, 'errors/resource_not_found');
      return reply(200, {
        object: 'Account',
        id: this.accountId,
        type: 'LINKEDIN',
        name: 'Stub Seller',
        created_at: '2026-01-01T00:00:00.000Z',
        connection_params: { im: { id: this.selfProviderId, username: 'Stub Seller', premiumFeatures: ['sales_navigator'] } },
        sources: [{ id: `${this.accountId}_MESSAGING`, status: 'OK' }],
      });
    }
    // GET /api/v1/chats?account_id&cursor&limit&after [REF ChatsController_listAllChats; SDK GetAllChatsInput]
    if (request.method === 'GET' && parts[0] === 'chats' && parts.length === 1) {
      const chats = this.chats.filter((chat) => chat.account_id === query.account_id && (!query.after || (chat.timestamp ?? '') > query.after));
      const { items, cursor } = this.page(chats.map(({ messages: _messages, ...chat }) => chat), query);
      return reply(200, { object: 'ChatList', items, cursor });
    }
    // GET /api/v1/chats/{chat_id}/messages?cursor&limit&after [REF ChatsController_listChatMessages; SDK message.schema.ts], newest first.
    if (request.method === 'GET' && parts[0] === 'chats' && parts[2] === 'messages') {
      const chat = chatById(parts[1]!);
      if (!chat) return this.error(response, 404, 'errors/resource_not_found');
      const messages = chat.messages.filter((m) => !query.after || m.timestamp > query.after);
      return reply(200, { object: 'MessageList', ...this.page(messages, query) });
    }
    // POST /api/v1/chats/{chat_id}/messages, multipart text (+ account_id guard) → 201 MessageSent [DOC send-messages; REF _sendMessageInChat]
    if (request.method === 'POST' && parts[0] === 'chats' && parts[2] === 'messages') {
      const chat = chatById(parts[1]!);
      if (!chat) return this.error(response, 404, 'errors/resource_not_found');
      if (record.form?.account_id && record.form.account_id[0] !== chat.account_id) return this.error(response, 403, 'errors/insufficient_permissions');
      const message = this.message(chat, this.selfProviderId, true, record.form?.text?.[0] ?? '', this.now);
      chat.messages.unshift(message);
      chat.timestamp = message.timestamp;
      chat.unread_count = 0;
      this.sortChats();
      return reply(201, { object: 'MessageSent', message_id: message.id });
    }
    // POST /api/v1/chats, multipart account_id, attendees_ids, text, subject, linkedin[api], linkedin[inmail] → 201 ChatStarted [DOC send-messages; REF _startNewChat]
    if (request.method === 'POST' && parts[0] === 'chats' && parts.length === 1) {
      const attendeeId = record.form?.attendees_ids?.[0];
      if (!attendeeId || record.form?.account_id?.[0] !== this.accountId) return this.error(response, 400, 'errors/invalid_parameters');
      let attendee = this.attendees.get(attendeeId);
      if (!attendee) {
        attendee = { providerId: attendeeId, firstName: 'New', lastName: 'Contact', publicIdentifier: `contact-${attendeeId}` };
        this.attendees.set(attendeeId, attendee);
      }
      // An InMail opens its own thread; a direct message goes into the existing 1:1 chat if there is one.
      const inmail = record.form?.['linkedin[inmail]']?.[0] === 'true';
      const chat = (!inmail && this.chats.find((c) => c.attendee_provider_id === attendeeId)) || this.newChat(attendee);
      const message = this.message(chat, this.selfProviderId, true, record.form?.text?.[0] ?? '', this.now);
      chat.messages.unshift(message);
      chat.timestamp = message.timestamp;
      this.sortChats();
      return reply(201, { object: 'ChatStarted', chat_id: chat.id, message_id: message.id });
    }
    // GET /api/v1/chat_attendees/{id}/chats?account_id [REF ChatAttendeesController_listChatsByAttendee; SDK getAllChatsFromAttendee]
    if (request.method === 'GET' && parts[0] === 'chat_attendees' && parts[2] === 'chats') {
      const chats = this.chats.filter((chat) => chat.attendee_provider_id === parts[1] && (!query.account_id || chat.account_id === query.account_id));
      return reply(200, { object: 'ChatList', ...this.page(chats.map(({ messages: _messages, ...chat }) => chat), query) });
    }
    // GET /api/v1/users/{identifier}?account_id [REF UsersController_getProfileByIdentifier]
    if (request.method === 'GET' && parts[0] === 'users' && parts.length === 2) {
      const attendee = this.attendees.get(parts[1]!);
      if (!attendee) return this.error(response, 404, 'errors/resource_not_found');
      return reply(200, { object: 'UserProfile', provider: 'LINKEDIN', provider_id: attendee.providerId, public_identifier: attendee.publicIdentifier, first_name: attendee.firstName, last_name: attendee.lastName });
    }
    return this.error(response, 404, 'errors/resource_not_found');
  }

  /** [DOC new-messages-webhook] The body Unipile posts for a new message (source `messaging`, format json). */
  messageWebhook(chat: StubChat, message: StubMessage): Record<string, unknown> {
    const attendee = this.attendees.get(chat.attendee_provider_id)!;
    const other = { attendee_id: `att_${attendee.providerId}`, attendee_name: `${attendee.firstName} ${attendee.lastName}`, attendee_provider_id: attendee.providerId, attendee_profile_url: `https://www.linkedin.com/in/${attendee.publicIdentifier}/` };
    const self = { attendee_id: 'att_self', attendee_name: 'Stub Seller', attendee_provider_id: this.selfProviderId, attendee_profile_url: `https://www.linkedin.com/in/${this.selfProviderId}/` };
    return {
      account_id: this.accountId,
      account_type: 'LINKEDIN',
      event: 'message_received',
      chat_id: chat.id,
      timestamp: message.timestamp,
      webhook_name: 'sonarly',
      message_id: message.id,
      message: message.text,
      sender: message.is_sender ? self : other,
      attendees: [other],
      attachments: message.attachments[0] ?? undefined,
    };
  }

  /** [DOC account-lifecycle] */
  statusWebhook(message: string): Record<string, unknown> {
    return { AccountStatus: { account_id: this.accountId, account_type: 'LINKEDIN', message } };
  }
}
