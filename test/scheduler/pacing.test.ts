import { describe, expect, it } from 'vitest';
import { PacingConfigError, defaultPacing, earliestSendTime, nextSlot, resolvePacing } from '../../src/scheduler/pacing.js';

const at = (iso: string) => new Date(iso);

describe('pacing policy', () => {
  it('gives InMail allowance by seat type and 100 direct messages a day', () => {
    expect(defaultPacing('linkedin').dailyCaps).toEqual({ direct_message: 100, inmail: 0 });
    expect(defaultPacing('sales_navigator').dailyCaps.inmail).toBeGreaterThan(0);
    expect(defaultPacing('recruiter').dailyCaps.inmail).toBeGreaterThan(0);
  });

  it.each([
    [{ minGapSeconds: -1 }, 'minGapSeconds'],
    [{ dailyCaps: { direct_message: Number.NaN } }, 'dailyCaps.direct_message'],
    [{ workingHours: { start: '18:00', end: '09:00', weekdays: [1] } }, 'workingHours'],
    [{ workingHours: { start: '09:00', end: '17:00', weekdays: [] } }, 'weekdays'],
    [{ workingHours: { start: '9am', end: '17:00', weekdays: [1] } }, 'workingHours'],
  ])('rejects %j', (overrides, field) => {
    expect(() => resolvePacing('linkedin', overrides as never)).toThrow(PacingConfigError);
    expect(() => resolvePacing('linkedin', overrides as never)).toThrow(field);
  });

  it('lets a send start now when nothing holds it back', () => {
    const now = at('2026-05-04T10:00:00.000Z');
    expect(earliestSendTime({ now, policy: defaultPacing('linkedin'), timeZone: 'UTC', channel: 'direct_message', sentToday: 0, nextSendAt: null })).toEqual(now);
  });

  it('waits for the gap left by the previous send', () => {
    const now = at('2026-05-04T10:00:00.000Z');
    const next = at('2026-05-04T10:01:30.000Z');
    expect(earliestSendTime({ now, policy: defaultPacing('linkedin'), timeZone: 'UTC', channel: 'direct_message', sentToday: 5, nextSendAt: next })).toEqual(next);
  });

  it('moves a capped send to the next local midnight, across a DST change', () => {
    // 2026-03-08 is the US spring-forward day: New York midnight of the 9th is 04:00Z, not 05:00Z.
    const now = at('2026-03-08T23:00:00.000Z');
    const policy = resolvePacing('linkedin', { dailyCaps: { direct_message: 3 } });
    expect(earliestSendTime({ now, policy, timeZone: 'America/New_York', channel: 'direct_message', sentToday: 3, nextSendAt: null })).toEqual(at('2026-03-09T04:00:00.000Z'));
    expect(earliestSendTime({ now, policy, timeZone: 'America/New_York', channel: 'direct_message', sentToday: 2, nextSendAt: null })).toEqual(now);
  });

  it('caps InMail separately from direct messages', () => {
    const now = at('2026-05-04T10:00:00.000Z');
    const policy = defaultPacing('linkedin');
    expect(earliestSendTime({ now, policy, timeZone: 'UTC', channel: 'inmail', sentToday: 0, nextSendAt: null }).getTime()).toBeGreaterThan(now.getTime());
  });

  it('waits for working hours on the next working day', () => {
    const policy = resolvePacing('linkedin', { workingHours: { start: '09:00', end: '17:00', weekdays: [1, 2, 3, 4, 5] } });
    const friday = at('2026-05-08T16:30:00.000Z'); // 18:30 in Berlin, after hours
    expect(earliestSendTime({ now: friday, policy, timeZone: 'Europe/Berlin', channel: 'direct_message', sentToday: 0, nextSendAt: null })).toEqual(at('2026-05-11T07:00:00.000Z'));
    const inside = at('2026-05-08T10:00:00.000Z');
    expect(earliestSendTime({ now: inside, policy, timeZone: 'Europe/Berlin', channel: 'direct_message', sentToday: 0, nextSendAt: null })).toEqual(inside);
  });

  it('spaces the next slot by the gap plus jitter, and not at all with pacing off', () => {
    const start = at('2026-05-04T10:00:00.000Z');
    const policy = defaultPacing('linkedin');
    expect(nextSlot(start, policy, () => 0).getTime() - start.getTime()).toBe(90_000);
    expect(nextSlot(start, policy, () => 0.999).getTime() - start.getTime()).toBeCloseTo(149_940, -1);
    expect(nextSlot(start, { ...policy, enabled: false }, () => 0.5)).toEqual(start);
  });
});
