import { pick, seededRandom } from '../../random.js';
import type { ProviderAttachment, ProviderConversation, ProviderMessage, ProviderPerson } from '../types.js';

/**
 * The simulated LinkedIn network of one sandbox account, computed from a seed: the same settings
 * give the same people, conversations and messages on every machine and every call, without
 * storing any of it. Only what happens later is stored (sends, in `sandbox_sends`).
 *
 * - History: `conversations` 1:1 conversations, each with a number of messages drawn from
 *   `messagesPerConversation`, all sent before `historyEndsAt`, some with attachments, some
 *   replying to an earlier message (threads).
 * - Live replies: after `historyEndsAt`, a share of the prospects keep replying, so that across
 *   the account one reply arrives every `replyEveryMs` on average (0: nobody replies).
 * - Replies to sends: a prospect answers a message we sent with probability `replyToSendsRate`,
 *   `replyDelayMs` later.
 */
export interface SandboxNetworkSettings {
  seed: number;
  conversations: number;
  messagesPerConversation: { min: number; max: number };
  historyDays: number;
  /** ISO 8601; fixed when the account is connected so the history never moves. */
  historyEndsAt: string;
  replyEveryMs: number;
  replyingShare: number;
  replyToSendsRate: number;
  replyDelayMs: { min: number; max: number };
  attachmentRate: number;
  threadRate: number;
  /** Items per page of conversations and of messages. */
  pageSize: number;
}

export const DEFAULT_NETWORK: SandboxNetworkSettings = {
  seed: 1,
  conversations: 50,
  messagesPerConversation: { min: 3, max: 20 },
  historyDays: 90,
  historyEndsAt: '2026-01-01T00:00:00.000Z',
  replyEveryMs: 0,
  replyingShare: 0.25,
  replyToSendsRate: 0,
  replyDelayMs: { min: 2_000, max: 20_000 },
  attachmentRate: 0.05,
  threadRate: 0.3,
  pageSize: 50,
};

export class SandboxSettingsError extends Error {
  override name = 'SandboxSettingsError';
}

/** Reads `settings.network` of a sandbox account: defaults for what is missing, an error for what makes no sense. */
export function parseNetworkSettings(raw: unknown): SandboxNetworkSettings {
  const value = (raw ?? {}) as Partial<SandboxNetworkSettings>;
  if (typeof value !== 'object' || Array.isArray(value)) throw new SandboxSettingsError('Sandbox network settings must be an object.');
  const settings: SandboxNetworkSettings = {
    ...DEFAULT_NETWORK,
    ...value,
    messagesPerConversation: { ...DEFAULT_NETWORK.messagesPerConversation, ...value.messagesPerConversation },
    replyDelayMs: { ...DEFAULT_NETWORK.replyDelayMs, ...value.replyDelayMs },
  };
  const integer = (name: string, n: number, min: number) => {
    if (!Number.isInteger(n) || n < min) throw new SandboxSettingsError(`Sandbox ${name} must be an integer of at least ${min}; got ${n}.`);
  };
  const share = (name: string, n: number) => {
    if (typeof n !== 'number' || !(n >= 0 && n <= 1)) throw new SandboxSettingsError(`Sandbox ${name} must be a number from 0 to 1; got ${n}.`);
  };
  integer('seed', settings.seed, 0);
  integer('conversations', settings.conversations, 0);
  integer('messagesPerConversation.min', settings.messagesPerConversation.min, 1);
  integer('messagesPerConversation.max', settings.messagesPerConversation.max, settings.messagesPerConversation.min);
  integer('historyDays', settings.historyDays, 1);
  integer('replyEveryMs', settings.replyEveryMs, 0);
  integer('replyDelayMs.min', settings.replyDelayMs.min, 0);
  integer('replyDelayMs.max', settings.replyDelayMs.max, settings.replyDelayMs.min);
  integer('pageSize', settings.pageSize, 1);
  share('replyingShare', settings.replyingShare);
  share('replyToSendsRate', settings.replyToSendsRate);
  share('attachmentRate', settings.attachmentRate);
  share('threadRate', settings.threadRate);
  if (Number.isNaN(Date.parse(settings.historyEndsAt))) throw new SandboxSettingsError(`Sandbox historyEndsAt must be an ISO 8601 instant; got '${settings.historyEndsAt}'.`);
  return settings;
}

const FIRST = ['Avery', 'Jordan', 'Riley', 'Morgan', 'Casey', 'Quinn', 'Harper', 'Rowan', 'Sage', 'Elliot', 'Noa', 'Imani', 'Kai', 'Lena', 'Mateo', 'Priya', 'Tomás', 'Yuki', 'Amara', 'Felix'];
const LAST = ['Stone', 'Lee', 'Patel', 'Garcia', 'Nguyen', 'Okafor', 'Schmidt', 'Rossi', 'Kowalski', 'Tanaka', 'Silva', 'Dubois', 'Haddad', 'Larsen'];
const OUTBOUND = [
  'Thanks for connecting! Curious how your team handles outbound today.',
  'Following up on my last note: would a 15-minute call next week work?',
  'Happy to share the case study we discussed.',
  'Thanks for the context. I can send over details this afternoon.',
  'Great to meet you at the conference last week.',
];
const INBOUND = [
  'Sounds interesting, tell me more.',
  'We are evaluating tools this quarter, send me a deck.',
  'Not the right time, maybe in Q3.',
  'Can you loop in my colleague?',
  'Sure, Tuesday works.',
  'Thanks! Who else in my industry uses this?',
  'What does pricing look like for a team of 20?',
];
const FILES = [
  { fileName: 'proposal.pdf', mimeType: 'application/pdf', type: 'file' },
  { fileName: 'deck.pdf', mimeType: 'application/pdf', type: 'file' },
  { fileName: 'screenshot.png', mimeType: 'image/png', type: 'img' },
] as const;

/** A 32-bit hash of a few integers (murmur-style finaliser): independent random streams per item. */
export function mix(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const value of values) {
    h = Math.imul(h ^ (value >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** A uniform number in [0, 1) from integers. */
export const unit = (...values: number[]) => mix(...values) / 4294967296;

// Independent streams for the different facts of a conversation.
const STREAM = { last: 1, count: 2, replying: 3, offset: 4, unread: 5, person: 6, history: 7, reply: 8, sendReply: 9 } as const;

export interface Position {
  /** Epoch milliseconds of `sentAt` (or of last activity, for conversations). */
  t: number;
  id: string;
}

/** Newest first by (time, id): the order of every list the sandbox returns. */
export function newerFirst(a: Position, b: Position): number {
  return b.t - a.t || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

export function isBefore(item: Position, cursor: Position): boolean {
  return item.t < cursor.t || (item.t === cursor.t && item.id < cursor.id);
}

export function encodeCursor(position: Position): string {
  return Buffer.from(`${position.t}|${position.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): Position | null {
  const text = Buffer.from(cursor, 'base64url').toString();
  const bar = text.indexOf('|');
  const t = Number(text.slice(0, bar));
  return bar > 0 && Number.isInteger(t) ? { t, id: text.slice(bar + 1) } : null;
}

export interface TimedMessage extends ProviderMessage {
  t: number;
}

export class SandboxNetwork {
  private readonly endsAt: number;
  private readonly tag: string;
  private staticOrder: Int32Array | null = null;

  constructor(
    readonly settings: SandboxNetworkSettings,
    /** The connected account's own provider id: the sender of its messages. */
    readonly selfProviderId: string,
  ) {
    this.endsAt = Date.parse(settings.historyEndsAt);
    this.tag = settings.seed.toString(36);
  }

  get size(): number {
    return this.settings.conversations;
  }

  conversationProviderId(index: number): string {
    return `sbx-${this.tag}-c${index}`;
  }

  /** The index of one of this network's conversations, or null for any other id. */
  conversationIndex(providerId: string): number | null {
    const prefix = `sbx-${this.tag}-c`;
    if (!providerId.startsWith(prefix)) return null;
    const index = Number(providerId.slice(prefix.length));
    return Number.isInteger(index) && index >= 0 && index < this.size && providerId === this.conversationProviderId(index) ? index : null;
  }

  /** The prospect of conversation `index`. */
  person(index: number): ProviderPerson {
    const random = seededRandom(mix(this.settings.seed, STREAM.person, index));
    const name = `${pick(random, FIRST)} ${pick(random, LAST)}`;
    const publicIdentifier = `${name.toLowerCase().normalize('NFD').replace(/[^a-z ]/g, '').replace(/ /g, '-')}-${this.tag}${index.toString(36)}`;
    return { providerId: `ACoAASbx${this.tag}Z${index.toString(36)}`, name, publicIdentifier, linkedinUrl: `https://www.linkedin.com/in/${publicIdentifier}` };
  }

  personIndex(providerId: string): number | null {
    const match = /^ACoAASbx([0-9a-z]+)Z([0-9a-z]+)$/.exec(providerId);
    if (!match || match[1] !== this.tag) return null;
    const index = parseInt(match[2]!, 36);
    return index < this.size && this.person(index).providerId === providerId ? index : null;
  }

  /** When the history of a conversation ends (its last message), as epoch ms. */
  private lastHistoryAt(index: number): number {
    const span = this.settings.historyDays * 86_400_000;
    // Whole seconds: conversations (and messages) share instants, so ordering must break ties.
    return Math.floor((this.endsAt - 60_000 - unit(this.settings.seed, STREAM.last, index) * (span - 60_000)) / 1000) * 1000;
  }

  /** The stored history of a conversation, newest first. */
  history(index: number): TimedMessage[] {
    const { seed, messagesPerConversation: range, attachmentRate, threadRate } = this.settings;
    const count = range.min + Math.floor(unit(seed, STREAM.count, index) * (range.max - range.min + 1));
    const random = seededRandom(mix(seed, STREAM.history, index));
    const conversationId = this.conversationProviderId(index);
    const person = this.person(index).providerId;
    const messages: TimedMessage[] = new Array(count);
    let t = this.lastHistoryAt(index);
    // Generated newest first; the oldest message (j = 0) is always ours: outreach starts the thread.
    for (let j = count - 1; j >= 0; j--) {
      const isSender = j === 0 ? true : random() < 0.5;
      const id = `${conversationId}-m${j.toString().padStart(5, '0')}`;
      const attachments: ProviderAttachment[] = [];
      if (random() < attachmentRate) {
        const file = pick(random, FILES);
        attachments.push({ type: file.type, id: `${id}-a0`, url: `https://files.sandbox.example/${id}/${file.fileName}`, fileName: file.fileName, mimeType: file.mimeType });
      }
      const replies = j > 0 && random() < threadRate;
      messages[count - 1 - j] = {
        t,
        providerMessageId: id,
        conversationProviderId: conversationId,
        senderProviderId: isSender ? this.selfProviderId : person,
        isSender,
        text: pick(random, isSender ? OUTBOUND : INBOUND),
        sentAt: new Date(t).toISOString(),
        parentProviderMessageId: replies ? `${conversationId}-m${(j - 1).toString().padStart(5, '0')}` : null,
        attachments,
      };
      t -= 60_000 * (1 + Math.floor(random() * 600));
    }
    return messages;
  }

  /** Live replies of conversation `index`: reply k is sent at `start + k * period`. */
  private replySchedule(index: number): { start: number; period: number } | null {
    const { seed, replyEveryMs, replyingShare } = this.settings;
    if (replyEveryMs === 0 || unit(seed, STREAM.replying, index) >= replyingShare) return null;
    const period = replyEveryMs * this.replyingCount();
    return { start: this.endsAt + Math.floor(unit(seed, STREAM.offset, index) * period), period };
  }

  private replying: number | null = null;

  /** How many prospects keep replying: each replies every `replyEveryMs * count`, so the account gets one reply per `replyEveryMs`. */
  private replyingCount(): number {
    if (this.replying === null) {
      let count = 0;
      for (let index = 0; index < this.size; index++) if (unit(this.settings.seed, STREAM.replying, index) < this.settings.replyingShare) count++;
      this.replying = Math.max(1, count);
    }
    return this.replying;
  }

  /** How many live replies conversation `index` has received by `now`. */
  liveReplyCount(index: number, now: number): number {
    const schedule = this.replySchedule(index);
    if (!schedule || now < schedule.start) return 0;
    return Math.floor((now - schedule.start) / schedule.period) + 1;
  }

  liveReply(index: number, k: number): TimedMessage {
    const schedule = this.replySchedule(index)!;
    const t = schedule.start + k * schedule.period;
    const conversationId = this.conversationProviderId(index);
    const random = seededRandom(mix(this.settings.seed, STREAM.reply, index, k));
    return {
      t,
      providerMessageId: `${conversationId}-r${k.toString().padStart(6, '0')}`,
      conversationProviderId: conversationId,
      senderProviderId: this.person(index).providerId,
      isSender: false,
      text: pick(random, INBOUND),
      sentAt: new Date(t).toISOString(),
      parentProviderMessageId: null,
      attachments: [],
    };
  }

  /** Live replies of a conversation sent by `now`, newest first. */
  liveReplies(index: number, now: number): TimedMessage[] {
    const count = this.liveReplyCount(index, now);
    const replies: TimedMessage[] = [];
    for (let k = count - 1; k >= 0; k--) replies.push(this.liveReply(index, k));
    return replies;
  }

  /** The prospect's answer to a message we sent, if this prospect answers it. */
  replyToSend(send: { id: string; providerMessageId: string; conversationProviderId: string; recipientProviderId: string; sentAt: number }): TimedMessage | null {
    const { seed, replyToSendsRate, replyDelayMs } = this.settings;
    const key = [...send.id].reduce((h, ch) => mix(h, ch.charCodeAt(0)), seed);
    if (unit(key, STREAM.sendReply, 0) >= replyToSendsRate) return null;
    const t = send.sentAt + replyDelayMs.min + Math.floor(unit(key, STREAM.sendReply, 1) * (replyDelayMs.max - replyDelayMs.min));
    return {
      t,
      providerMessageId: `${send.providerMessageId}-reply`,
      conversationProviderId: send.conversationProviderId,
      senderProviderId: send.recipientProviderId,
      isSender: false,
      text: pick(seededRandom(mix(key, STREAM.sendReply, 2)), INBOUND),
      sentAt: new Date(t).toISOString(),
      parentProviderMessageId: send.providerMessageId,
      attachments: [],
    };
  }

  /** Last activity of a conversation from its history and live replies (sends are added by the connector). */
  lastActivity(index: number, now: number): number {
    const count = this.liveReplyCount(index, now);
    return count > 0 ? this.liveReply(index, count - 1).t : this.lastHistoryAt(index);
  }

  /** Conversation indexes by history alone, most recent first; computed once per network. */
  historyOrder(): Int32Array {
    if (!this.staticOrder) {
      const order = new Int32Array(this.size);
      const last = new Float64Array(this.size);
      for (let i = 0; i < this.size; i++) {
        order[i] = i;
        last[i] = this.lastHistoryAt(i);
      }
      order.sort((a, b) => newerFirst({ t: last[a]!, id: this.conversationProviderId(a) }, { t: last[b]!, id: this.conversationProviderId(b) }));
      this.staticOrder = order;
    }
    return this.staticOrder;
  }

  isLive(index: number): boolean {
    return this.replySchedule(index) !== null;
  }

  historyPosition(index: number): Position {
    return { t: this.lastHistoryAt(index), id: this.conversationProviderId(index) };
  }

  /** Unread messages as LinkedIn would count them: the inbound messages since our last one. */
  static unread(messagesNewestFirst: readonly ProviderMessage[]): number {
    let unread = 0;
    for (const message of messagesNewestFirst) {
      if (message.isSender) break;
      unread++;
    }
    return unread;
  }

  conversation(index: number, lastActivity: number, unreadCount: number): ProviderConversation {
    const person = this.person(index);
    return {
      providerId: this.conversationProviderId(index),
      name: person.name,
      participant: person,
      unreadCount,
      lastMessageAt: new Date(lastActivity).toISOString(),
    };
  }
}
