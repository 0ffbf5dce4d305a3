import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../../clock.js';
import type { Queryable } from '../../storage/db.js';
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
import { type SandboxFaults, parseFaults, rollReadFault } from './faults.js';
import { type Position, SandboxNetwork, type TimedMessage, decodeCursor, encodeCursor, isBefore, newerFirst, parseNetworkSettings } from './network.js';
import { SandboxSends } from './sends.js';
import { parseSandboxWebhook } from './webhooks.js';

interface SendRow {
  id: string;
  providerMessageId: string;
  conversationProviderId: string;
  recipientProviderId: string;
  text: string;
  sentAt: number;
}

/** Networks are pure functions of their settings; keeping a few avoids re-sorting big ones per call. */
const networks = new Map<string, SandboxNetwork>();

function networkFor(account: ConnectorAccount): SandboxNetwork {
  const key = `${account.id}|${account.providerAccountId}|${JSON.stringify(account.settings.network ?? {})}`;
  let network = networks.get(key);
  if (!network) {
    network = new SandboxNetwork(parseNetworkSettings(account.settings.network), account.providerAccountId);
    if (networks.size >= 32) networks.delete(networks.keys().next().value!);
    networks.set(key, network);
  }
  return network;
}

/**
 * A simulated LinkedIn for the demo and the tests. History and live replies come from the seeded
 * network (`network.ts`); sending is backed by `sandbox_sends`, and what was sent shows up in the
 * conversations afterwards, with the prospect's answer when the network says they answer. Faults
 * (`faults.ts`) apply to every call.
 */
export class SandboxConnector implements Connector {
  private readonly sends: SandboxSends;
  private readonly network: SandboxNetwork;

  constructor(
    private readonly db: Queryable,
    private readonly account: ConnectorAccount,
    private readonly clock: Clock,
    private readonly faults: SandboxFaults,
    private readonly random: () => number = Math.random,
  ) {
    this.sends = new SandboxSends(db, account.id, clock, faults, random);
    this.network = networkFor(account);
  }

  private async misbehave(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new ConnectorError('timeout', 'Sandbox: the call was abandoned.');
    if (this.faults.latencyMs > 0) {
      try {
        await delay(this.faults.latencyMs, undefined, signal ? { signal } : {});
      } catch {
        throw new ConnectorError('timeout', 'Sandbox: the call was abandoned.');
      }
    }
    switch (rollReadFault(this.faults, this.random)) {
      case 'transient':
        throw new ConnectorError('transient', 'Sandbox: LinkedIn answered 503.');
      case 'timeout':
        throw new ConnectorError('timeout', 'Sandbox: the call timed out.');
      case 'rate_limited':
        throw new ConnectorError('rate_limited', 'Sandbox: LinkedIn answered 429.', 60_000);
      case 'auth_expired':
        throw new ConnectorError('auth_expired', 'Sandbox: the LinkedIn session expired.');
      case null:
        return;
    }
  }

  /**
   * What the account sent, read once per connector instance: a sync run (one backfill slice, one
   * poll, one read-through) sees LinkedIn as it was when the run began; sends made meanwhile are
   * in our history already (the scheduler records them) and the next run lists them.
   */
  private sendsSnapshot: Promise<SendRow[]> | null = null;

  private async loadSends(conversationProviderId?: string): Promise<SendRow[]> {
    this.sendsSnapshot ??= this.readSends();
    const sends = await this.sendsSnapshot;
    return conversationProviderId === undefined ? sends : sends.filter((send) => send.conversationProviderId === conversationProviderId);
  }

  private async readSends(): Promise<SendRow[]> {
    const rows = await this.db.query<{ id: string; provider_message_id: string; conversation_provider_id: string; recipient_provider_id: string; text: string; sent_at: Date | string }>(
      'SELECT id, provider_message_id, conversation_provider_id, recipient_provider_id, text, sent_at FROM sandbox_sends WHERE account_id = $1',
      [this.account.id],
    );
    return rows.map((r) => ({
      id: r.id,
      providerMessageId: r.provider_message_id,
      conversationProviderId: r.conversation_provider_id,
      recipientProviderId: r.recipient_provider_id,
      text: r.text,
      sentAt: new Date(r.sent_at).getTime(),
    }));
  }

  /** Our sends in a conversation, and the answers already given to them, as messages. */
  private sendMessages(sends: readonly SendRow[], now: number): TimedMessage[] {
    const messages: TimedMessage[] = [];
    for (const send of sends) {
      messages.push({
        t: send.sentAt,
        providerMessageId: send.providerMessageId,
        conversationProviderId: send.conversationProviderId,
        senderProviderId: this.account.providerAccountId,
        isSender: true,
        text: send.text,
        sentAt: new Date(send.sentAt).toISOString(),
        parentProviderMessageId: null,
        attachments: [],
      });
      const reply = this.network.replyToSend(send);
      if (reply && reply.t <= now) messages.push(reply);
    }
    return messages;
  }

  /** Every message of a conversation as of `now`, newest first. */
  private allMessages(providerId: string, sends: readonly SendRow[], now: number): TimedMessage[] {
    const index = this.network.conversationIndex(providerId);
    const messages = index === null ? [] : [...this.network.history(index), ...this.network.liveReplies(index, now)];
    messages.push(...this.sendMessages(sends, now));
    return messages.sort((a, b) => newerFirst({ t: a.t, id: a.providerMessageId }, { t: b.t, id: b.providerMessageId }));
  }

  async listConversations(cursor: string | null, options: ListOptions = {}): Promise<ProviderPage<ProviderConversation>> {
    await this.misbehave(options.signal);
    const now = this.clock.now().getTime();
    const after = options.after ? Date.parse(options.after) : null;
    const from = cursor ? decodeCursor(cursor) : null;
    const network = this.network;
    const { pageSize } = network.settings;

    // Conversations whose activity moved since their history ended: live replies and sends.
    const sendsByConversation = new Map<string, SendRow[]>();
    for (const send of await this.loadSends()) {
      const list = sendsByConversation.get(send.conversationProviderId) ?? [];
      list.push(send);
      sendsByConversation.set(send.conversationProviderId, list);
    }
    const moved = new Map<string, Position & { index: number | null }>();
    for (let index = 0; index < network.size; index++) {
      if (!network.isLive(index) || network.liveReplyCount(index, now) === 0) continue;
      moved.set(network.conversationProviderId(index), { t: network.lastActivity(index, now), id: network.conversationProviderId(index), index });
    }
    for (const [providerId, sends] of sendsByConversation) {
      const index = network.conversationIndex(providerId);
      let t = index === null ? 0 : network.lastActivity(index, now);
      for (const message of this.sendMessages(sends, now)) t = Math.max(t, message.t);
      moved.set(providerId, { t, id: providerId, index });
    }
    const movedList = [...moved.values()].sort(newerFirst);

    // Merge the moved conversations with the rest, which are ordered by history once and for all.
    const order = network.historyOrder();
    let s = 0;
    if (from) {
      let lo = 0;
      let hi = order.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (isBefore(network.historyPosition(order[mid]!), from)) hi = mid;
        else lo = mid + 1;
      }
      s = lo;
    }
    let m = from ? movedList.findIndex((p) => isBefore(p, from)) : 0;
    if (m < 0) m = movedList.length;
    const picked: (Position & { index: number | null })[] = [];
    while (picked.length <= pageSize) {
      while (s < order.length && moved.has(network.conversationProviderId(order[s]!))) s++;
      const staticNext = s < order.length ? { ...network.historyPosition(order[s]!), index: order[s]! } : null;
      const movedNext = m < movedList.length ? movedList[m]! : null;
      const next = staticNext && (!movedNext || newerFirst(staticNext, movedNext) < 0) ? staticNext : movedNext;
      if (!next || (after !== null && next.t <= after)) break;
      picked.push(next);
      if (next === staticNext) s++;
      else m++;
    }
    const hasMore = picked.length > pageSize;
    const page = picked.slice(0, pageSize);
    const items = page.map((position) => this.describe(position, sendsByConversation.get(position.id) ?? [], now));
    return { items, nextCursor: hasMore ? encodeCursor(page.at(-1)!) : null };
  }

  private describe(position: Position & { index: number | null }, sends: readonly SendRow[], now: number): ProviderConversation {
    const unread = SandboxNetwork.unread(this.allMessages(position.id, sends, now));
    if (position.index !== null) return this.network.conversation(position.index, position.t, unread);
    // A thread our InMail opened with someone outside the simulated history.
    const recipient = sends[0]?.recipientProviderId ?? null;
    const index = recipient ? this.network.personIndex(recipient) : null;
    const participant: ProviderPerson | null = index !== null ? this.network.person(index) : recipient ? { providerId: recipient, name: null, publicIdentifier: null, linkedinUrl: null } : null;
    return { providerId: position.id, name: participant?.name ?? null, participant, unreadCount: unread, lastMessageAt: new Date(position.t).toISOString() };
  }

  async listMessages(conversationProviderId: string, cursor: string | null, options: ListOptions = {}): Promise<ProviderPage<ProviderMessage>> {
    await this.misbehave(options.signal);
    const now = this.clock.now().getTime();
    const from = cursor ? decodeCursor(cursor) : null;
    const after = options.after ? Date.parse(options.after) : null;
    const { pageSize } = this.network.settings;
    const all = this.allMessages(conversationProviderId, await this.loadSends(conversationProviderId), now);
    const page: ProviderMessage[] = [];
    let last: Position | null = null;
    let hasMore = false;
    for (const message of all) {
      const position = { t: message.t, id: message.providerMessageId };
      if (from && !isBefore(position, from)) continue;
      if (after !== null && message.t <= after) break;
      if (page.length === pageSize) {
        hasMore = true;
        break;
      }
      const { t: _t, ...plain } = message;
      page.push(plain);
      last = position;
    }
    return { items: page, nextCursor: hasMore && last ? encodeCursor(last) : null };
  }

  async getProfile(providerId: string): Promise<ProviderPerson | null> {
    await this.misbehave();
    const index = this.network.personIndex(providerId);
    return index === null ? null : this.network.person(index);
  }

  send(request: SendRequest, signal?: AbortSignal): Promise<SendResult> {
    return this.sends.send(request, signal);
  }

  findSent(request: SendRequest): Promise<SendResult | null> {
    return this.sends.findSent(request);
  }

  parseWebhook(input: WebhookInput): ProviderEvent[] {
    const secret = this.account.settings.webhookSecret;
    return parseSandboxWebhook(input, typeof secret === 'string' ? secret : undefined);
  }

  /** The simulated network behind this account (demo seeding, tests). */
  get simulation(): SandboxNetwork {
    return this.network;
  }
}

/** Faults for one account: its own settings win over the process-wide SONARLY_SANDBOX_FAULTS. */
export function sandboxFaultsFor(account: ConnectorAccount, env: NodeJS.ProcessEnv = process.env): SandboxFaults {
  return parseFaults(account.settings.faults ?? env.SONARLY_SANDBOX_FAULTS);
}

/** The network a sandbox account simulates, without a database (demo seeding, benchmarks, tests). */
export function sandboxNetworkOf(account: Pick<ConnectorAccount, 'id' | 'providerAccountId' | 'settings'>): SandboxNetwork {
  return networkFor({ ...account, accountGroupId: '', connector: 'sandbox', accountType: 'linkedin' });
}
