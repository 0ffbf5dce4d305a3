import { ConnectorError } from '../types.js';
import type { UnipileSettings } from './settings.js';

/**
 * A small client of Unipile's v1 REST API (https://developer.unipile.com/reference): `X-API-KEY`
 * authentication, JSON answers, multipart bodies for sending. Every failure becomes a
 * ConnectorError whose message names the status and Unipile's error `type` only: never the body,
 * the URL's query, or the key.
 *
 * Unipile's error body is `{ status, type, title, detail }` with `type` such as
 * `errors/disconnected_account` (developer.unipile.com/docs/…/errors; the 401 list includes
 * missing/invalid/expired credentials and disconnected account); throttling is a 429 of type
 * `api/too_many_requests` (developer.unipile.com/v2.0/docs/rate-limits).
 */
export interface RequestOptions {
  query?: Record<string, string | number | undefined | null>;
  form?: FormData;
  signal?: AbortSignal;
}

const SAFE_TYPE = /^[a-z_]+\/[a-z_]+$/;
const NETWORK_REFUSED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

function retryAfterMs(header: string | null): number {
  if (!header) return 60_000;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 3_600_000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? 60_000 : Math.max(0, Math.min(at - Date.now(), 3_600_000));
}

export class UnipileClient {
  constructor(private readonly settings: UnipileSettings) {}

  async request<T>(method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(`${this.settings.baseUrl}/api/v1${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const what = `Unipile ${method} ${path.split('/').slice(0, 2).join('/')}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { 'X-API-KEY': this.settings.apiKey, accept: 'application/json' },
        ...(options.form ? { body: options.form } : {}),
        signal,
      });
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      if (code && NETWORK_REFUSED.has(code)) throw new ConnectorError('transient', `${what}: Unipile could not be reached (${code}).`);
      // Aborted, or the connection broke after the request left: the outcome is unknown.
      throw new ConnectorError('timeout', `${what}: no answer within ${this.settings.timeoutMs} ms or the connection broke.`);
    }
    let body: unknown;
    try {
      const text = await response.text();
      body = text === '' ? null : JSON.parse(text);
    } catch {
      if (response.ok) throw new ConnectorError('transient', `${what}: Unipile answered ${response.status} with a body that is not JSON.`);
      body = null;
    }
    if (response.ok) return body as T;
    const rawType = (body as { type?: unknown } | null)?.type;
    const type = typeof rawType === 'string' && SAFE_TYPE.test(rawType) ? ` (${rawType})` : '';
    const message = `${what}: Unipile answered ${response.status}${type}.`;
    const status = response.status;
    if (status === 401) throw new ConnectorError('auth_expired', message);
    if (status === 429) throw new ConnectorError('rate_limited', message, retryAfterMs(response.headers.get('retry-after')));
    // A send that failed on the server side may still have reached LinkedIn: the scheduler must ask first.
    if (status === 504 || (status >= 500 && method === 'POST')) throw new ConnectorError('timeout', message);
    if (status >= 500 || status === 408) throw new ConnectorError('transient', message);
    throw new ConnectorError('permanent', message);
  }
}
