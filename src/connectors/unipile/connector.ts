import type { Clock } from '../../clock.js';
import {
  type Connector,
  type ConnectorAccount,
  ConnectorError,
  type ListOptions,
  type ProviderConversation,
  type ProviderEvent,
  type ProviderMessage,
  type ProviderPage,
  type ProviderPerson,
  type SendRequest,
  type SendResult,
  type WebhookInput,
} from '../types.js';
import { UnipileClient } from './client.js';
import { type UnipileSettings, parseUnipileSettings } from './settings.js';
import { LINKEDIN_API, type UnipileChat, type UnipileList, type UnipileMessage, type UnipileProfile, isoMs, toConversation, toMessage, truthy } from './shapes.js';
import { parseUnipileWebhook } from './webhooks.js';

/**
 * LinkedIn through Unipile. Conversations are Unipile chats and messages are Unipile messages,
 * both by Unipile's ids (what its webhooks and its send endpoints speak).
 *
 * Unipile has no idempotency key, so `findSent` reconciles by content: a message of ours with the
 * same text in the conversation (or, for a new thread, in the recipient's chats), sent at or after
 * `notBefore` when the scheduler gives it. See docs/connectors.md for the limits of that.
 */
export class UnipileConnector implements Connector {
  private readonly settings: UnipileSettings;
  private readonly client: UnipileClient;

  constructor(
    private readonly account: ConnectorAccount,
    private readonly clock: Clock,
  ) {
    this.settings = parseUnipileSettings(account.settings);
    this.client = new UnipileClient(this.settings);
  }

  async listConversations(cursor: string | null, options: ListOptions = {}): Promise<ProviderPage<ProviderConversation>> {
    const page = await this.client.request<UnipileList<UnipileChat>>('GET', '/chats', {
      query: { account_id: this.settings.accountId, limit: this.settings.pageSize, cursor, after: options.after },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const items = page.items.map(toConversation);
    if (options.after) {
      // Chats come most recent first: the first one older than `after` ends the walk.
      const stop = items.findIndex((c) => c.lastMessageAt !== null && c.lastMessageAt <= options.after!);
      if (stop >= 0) return { items: items.slice(0, stop), nextCursor: null };
    }
    return { items, nextCursor: page.cursor ?? null };
  }

  async listMessages(conversationProviderId: string, cursor: string | null, options: ListOptions = {}): Promise<ProviderPage<ProviderMessage>> {
    const page = await this.client.request<UnipileList<UnipileMessage>>('GET', `/chats/${encodeURIComponent(conversationProviderId)}/messages`, {
      query: { limit: this.settings.pageSize, cursor, after: options.after },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const items = page.items.map((m) => toMessage(m, conversationProviderId)).filter((m): m is ProviderMessage => m !== null);
    return { items, nextCursor: page.cursor ?? null };
  }

  async getProfile(providerId: string): Promise<ProviderPerson | null> {
    let profile: UnipileProfile;
    try {
      profile = await this.client.request<UnipileProfile>('GET', `/users/${encodeURIComponent(providerId)}`, { query: { account_id: this.settings.accountId } });
    } catch (error) {
      if (error instanceof ConnectorError && error.kind === 'permanent') return null;
      throw error;
    }
    const name = [profile.first_name, profile.last_name].filter(Boolean).join(' ') || null;
    const publicIdentifier = profile.public_identifier ?? null;
    return { providerId: profile.provider_id ?? providerId, name, publicIdentifier, linkedinUrl: publicIdentifier ? `https://www.linkedin.com/in/${publicIdentifier}` : null };
  }

  async send(request: SendRequest, signal?: AbortSignal): Promise<SendResult> {
    const sentAt = this.clock.now().toISOString();
    if (request.conversationProviderId && request.channel === 'direct_message') {
      const form = new FormData();
      form.append('text', request.text);
      form.append('account_id', this.settings.accountId);
      const answer = await this.client.request<{ object: string; message_id?: string | null }>('POST', `/chats/${encodeURIComponent(request.conversationProviderId)}/messages`, {
        form,
        ...(signal ? { signal } : {}),
      });
      return { providerMessageId: answer.message_id ?? (await this.requireSent(request, request.conversationProviderId)), conversationProviderId: request.conversationProviderId, sentAt };
    }
    const form = new FormData();
    form.append('account_id', this.settings.accountId);
    form.append('attendees_ids', request.recipientProviderId);
    form.append('text', request.text);
    if (request.subject) form.append('subject', request.subject);
    form.append('linkedin[api]', LINKEDIN_API[this.account.accountType] ?? 'classic');
    if (request.channel === 'inmail') form.append('linkedin[inmail]', 'true');
    const answer = await this.client.request<{ object: string; chat_id?: string | null; message_id?: string | null }>('POST', '/chats', { form, ...(signal ? { signal } : {}) });
    if (!answer.chat_id) {
      const found = await this.findSent(request);
      if (!found) throw new ConnectorError('timeout', 'Unipile started the chat but did not say which: the send must be reconciled.');
      return found;
    }
    return { providerMessageId: answer.message_id ?? (await this.requireSent(request, answer.chat_id)), conversationProviderId: answer.chat_id, sentAt };
  }

  private async requireSent(request: SendRequest, chatId: string): Promise<string> {
    const found = await this.findInChat(request, chatId);
    if (!found) throw new ConnectorError('timeout', 'Unipile accepted the message without its id: the send must be reconciled.');
    return found.providerMessageId;
  }

  private async findInChat(request: SendRequest, chatId: string): Promise<SendResult | null> {
    const since = request.notBefore ? Date.parse(request.notBefore) - 60_000 : null;
    const page = await this.client.request<UnipileList<UnipileMessage>>('GET', `/chats/${encodeURIComponent(chatId)}/messages`, { query: { limit: 50 } });
    for (const item of page.items) {
      if (!truthy(item.is_sender) || (item.text ?? '').trim() !== request.text.trim()) continue;
      if (since !== null && Date.parse(item.timestamp) < since) continue;
      return { providerMessageId: item.id, conversationProviderId: item.chat_id ?? chatId, sentAt: isoMs(item.timestamp) };
    }
    return null;
  }

  async findSent(request: SendRequest): Promise<SendResult | null> {
    const chatIds: string[] = [];
    if (request.conversationProviderId) chatIds.push(request.conversationProviderId);
    else {
      const chats = await this.client.request<UnipileList<UnipileChat>>('GET', `/chat_attendees/${encodeURIComponent(request.recipientProviderId)}/chats`, {
        query: { account_id: this.settings.accountId, limit: 10 },
      });
      chatIds.push(...chats.items.map((chat) => chat.id));
    }
    for (const chatId of chatIds) {
      const found = await this.findInChat(request, chatId);
      if (found) return found;
    }
    return null;
  }

  parseWebhook(input: WebhookInput): ProviderEvent[] {
    return parseUnipileWebhook(input, { webhookSecret: this.settings.webhookSecret, accountId: this.settings.accountId, selfProviderId: this.account.providerAccountId });
  }
}

/** The connected LinkedIn account behind a Unipile account id (`accounts connect`). */
export async function describeUnipileAccount(settings: Record<string, unknown>): Promise<{ providerAccountId: string | null; name: string | null; accountType: 'linkedin' | 'sales_navigator' | 'recruiter' }> {
  const parsed = parseUnipileSettings(settings);
  const account = await new UnipileClient(parsed).request<{
    name?: string;
    connection_params?: { im?: { id?: string; username?: string; premiumFeatures?: string[] } };
  }>('GET', `/accounts/${encodeURIComponent(parsed.accountId)}`);
  const im = account.connection_params?.im;
  const features = im?.premiumFeatures ?? [];
  const accountType = features.includes('recruiter') ? 'recruiter' : features.includes('sales_navigator') ? 'sales_navigator' : 'linkedin';
  return { providerAccountId: im?.id ?? null, name: account.name ?? im?.username ?? null, accountType };
}
