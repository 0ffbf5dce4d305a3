import { type Connector, ConnectorError, type ProviderPage, WebhookSignatureError } from '../types.js';

export const MANUAL_CONNECTOR = 'manual';

/**
 * The connector of accounts recorded with `sonarly accounts add`: their history comes from imports,
 * and nothing reaches LinkedIn through them. Reads find nothing more to fetch (read-through marks
 * the conversation's history complete), webhooks are refused like an unknown target, and a send is
 * a permanent failure. Replies are refused before that, when they are queued
 * (src/domain/responses/create.ts); this is the backstop for an account whose connector changed
 * after its reply was queued.
 */
export class ManualConnector implements Connector {
  async listConversations(): Promise<ProviderPage<never>> {
    return { items: [], nextCursor: null };
  }

  async listMessages(): Promise<ProviderPage<never>> {
    return { items: [], nextCursor: null };
  }

  async getProfile(): Promise<null> {
    return null;
  }

  async send(): Promise<never> {
    throw new ConnectorError('permanent', NOT_CONNECTED);
  }

  /** Nothing is ever sent through this account, so nothing can be found. */
  async findSent(): Promise<null> {
    return null;
  }

  parseWebhook(): never {
    throw new WebhookSignatureError('Accounts recorded without a connector receive no webhooks.');
  }
}

export const NOT_CONNECTED =
  'This LinkedIn account was recorded without a connector (`sonarly accounts add`, for imported history): nothing can be sent through it. Connect it with `sonarly accounts connect` to send.';
