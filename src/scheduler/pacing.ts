import { DateTime } from 'luxon';
import type { SendChannel } from '../connectors/types.js';

/**
 * How fast one connected LinkedIn account may send. LinkedIn restricts accounts that message in
 * bursts or in volumes no person would; the defaults below sit inside what outreach tools treat as
 * safe (about 100 direct messages a day, minutes apart). Every value can be overridden per account
 * (`connected_accounts.pacing`, `sonarly accounts pacing`).
 */
export interface PacingPolicy {
  /** false turns pacing off (benchmarks, tests of throughput). */
  enabled: boolean;
  /** Minimum seconds between two sends of the account. */
  minGapSeconds: number;
  /** Up to this many random seconds are added to each gap, so sends do not fall on a grid. */
  jitterSeconds: number;
  /** Sends per local calendar day, per channel. */
  dailyCaps: Record<SendChannel, number>;
  /** Sends only start inside these local hours ("09:00"–"18:00"); null: any time. */
  workingHours: { start: string; end: string; weekdays: number[] } | null;
}

/**
 * InMail is limited by the account's plan: a classic account has none by default; Sales Navigator
 * and Recruiter seats get monthly credits, spread here as a daily allowance.
 */
const INMAIL_DAILY_ALLOWANCE: Record<string, number> = { linkedin: 0, sales_navigator: 10, recruiter: 20 };

export function defaultPacing(accountType: string): PacingPolicy {
  return {
    enabled: true,
    minGapSeconds: 90,
    jitterSeconds: 60,
    dailyCaps: { direct_message: 100, inmail: INMAIL_DAILY_ALLOWANCE[accountType] ?? 0 },
    workingHours: null,
  };
}

export class PacingConfigError extends Error {
  override name = 'PacingConfigError';
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Merges an account's stored overrides onto the defaults, rejecting values that make no sense. */
export type PacingOverrides = Omit<Partial<PacingPolicy>, 'dailyCaps'> & { dailyCaps?: Partial<Record<SendChannel, number>> };

export function resolvePacing(accountType: string, overrides: PacingOverrides): PacingPolicy {
  const base = defaultPacing(accountType);
  const policy: PacingPolicy = {
    ...base,
    ...overrides,
    dailyCaps: { ...base.dailyCaps, ...overrides.dailyCaps },
    workingHours: overrides.workingHours === undefined ? base.workingHours : overrides.workingHours,
  };
  const nonNegative = (name: string, value: number) => {
    if (!Number.isFinite(value) || value < 0) throw new PacingConfigError(`${name} must be a number of at least 0; got ${value}.`);
  };
  nonNegative('minGapSeconds', policy.minGapSeconds);
  nonNegative('jitterSeconds', policy.jitterSeconds);
  nonNegative('dailyCaps.direct_message', policy.dailyCaps.direct_message);
  nonNegative('dailyCaps.inmail', policy.dailyCaps.inmail);
  if (policy.workingHours) {
    const { start, end, weekdays } = policy.workingHours;
    if (!HHMM.test(start) || !HHMM.test(end) || start >= end) throw new PacingConfigError(`workingHours must be "HH:MM" start before end; got ${start}–${end}.`);
    if (!Array.isArray(weekdays) || weekdays.length === 0 || weekdays.some((d) => !Number.isInteger(d) || d < 1 || d > 7)) {
      throw new PacingConfigError('workingHours.weekdays must list ISO weekdays 1 (Monday) to 7 (Sunday).');
    }
  }
  return policy;
}

export function isValidTimeZone(zone: string): boolean {
  return DateTime.now().setZone(zone).isValid;
}

/** The instant the account's current local day began. */
export function startOfLocalDay(now: Date, timeZone: string): Date {
  return DateTime.fromJSDate(now).setZone(timeZone).startOf('day').toJSDate();
}

export interface PacingState {
  now: Date;
  policy: PacingPolicy;
  timeZone: string;
  channel: SendChannel;
  /** Sends of this channel since the start of the local day. */
  sentToday: number;
  /** The earliest start the previous send allowed (its gap), if any. */
  nextSendAt: Date | null;
}

/** When the next send may start: `now` if it may start at once. */
export function earliestSendTime(state: PacingState): Date {
  const { now, policy, timeZone, channel } = state;
  if (!policy.enabled) return now;
  let candidate: DateTime = DateTime.fromJSDate(state.nextSendAt && state.nextSendAt > now ? state.nextSendAt : now).setZone(timeZone);
  const cap = policy.dailyCaps[channel];
  if (state.sentToday >= cap) {
    // The cap is spent for today; the count starts again at local midnight.
    candidate = DateTime.max(candidate, DateTime.fromJSDate(now).setZone(timeZone).startOf('day').plus({ days: 1 }));
  }
  if (policy.workingHours) candidate = nextWorkingInstant(candidate, policy.workingHours);
  return candidate.toJSDate();
}

function nextWorkingInstant(from: DateTime, hours: NonNullable<PacingPolicy['workingHours']>): DateTime {
  const [startHour, startMinute] = hours.start.split(':').map(Number) as [number, number];
  const [endHour, endMinute] = hours.end.split(':').map(Number) as [number, number];
  for (let day = 0; day < 8; day++) {
    const date = from.startOf('day').plus({ days: day });
    if (!hours.weekdays.includes(date.weekday)) continue;
    const opens = date.set({ hour: startHour, minute: startMinute });
    const closes = date.set({ hour: endHour, minute: endMinute });
    if (from < closes) return from > opens ? from : opens;
  }
  throw new PacingConfigError('workingHours.weekdays is empty: the account could never send.');
}

/** When the send after one starting at `sendStart` may start: the gap plus random jitter. */
export function nextSlot(sendStart: Date, policy: PacingPolicy, random: () => number): Date {
  if (!policy.enabled) return sendStart;
  return new Date(sendStart.getTime() + (policy.minGapSeconds + random() * policy.jitterSeconds) * 1000);
}
