/**
 * How one connected account reaches Unipile (`connected_accounts.settings` of a `unipile`
 * account). The API key and the webhook secret are credentials: they are never logged, never
 * returned by the API, and never part of an error message.
 */
export interface UnipileSettings {
  /** Base URL of the account's Unipile API: the DSN from the dashboard (`api8.unipile.com:13851`, https implied) or a full URL. */
  baseUrl: string;
  apiKey: string;
  /** Unipile's id of the connected LinkedIn account (not the LinkedIn provider id). */
  accountId: string;
  /** Sent back by Unipile in the `X-Sonarly-Webhook-Secret` header of every webhook call we register. */
  webhookSecret: string | null;
  /** Per-call timeout in milliseconds. */
  timeoutMs: number;
  /** Page size for chats and messages (Unipile accepts 1 to 250; 100 keeps answers small). */
  pageSize: number;
}

export class UnipileSettingsError extends Error {
  override name = 'UnipileSettingsError';
}

export function unipileBaseUrl(dsn: string): string {
  const trimmed = dsn.trim().replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return /^https?:\/\//.test(trimmed) ? trimmed : `https://${trimmed}`;
}

export function parseUnipileSettings(raw: Record<string, unknown>): UnipileSettings {
  const text = (name: string) => {
    const value = raw[name];
    if (typeof value !== 'string' || value.trim() === '') throw new UnipileSettingsError(`Unipile setting '${name}' is missing.`);
    return value.trim();
  };
  const number = (name: string, fallback: number, min: number, max: number) => {
    const value = raw[name] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new UnipileSettingsError(`Unipile setting '${name}' must be an integer from ${min} to ${max}.`);
    return value;
  };
  const secret = raw.webhookSecret;
  return {
    baseUrl: unipileBaseUrl(text('dsn')),
    apiKey: text('apiKey'),
    accountId: text('accountId'),
    webhookSecret: typeof secret === 'string' && secret !== '' ? secret : null,
    timeoutMs: number('timeoutMs', 30_000, 100, 300_000),
    pageSize: number('pageSize', 100, 1, 250),
  };
}
