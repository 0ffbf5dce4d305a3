import { describe, expect, it } from 'vitest';
import { ID_PATTERN, isId, newId, randomId } from '../../src/ids.js';

describe('ids', () => {
  it('newId is 24 lower-case hex characters and passes isId', () => {
    for (let i = 0; i < 1000; i++) {
      const id = newId();
      expect(id).toMatch(/^[0-9a-f]{24}$/);
      expect(isId(id)).toBe(true);
      expect(new RegExp(ID_PATTERN).test(id)).toBe(true);
    }
  });

  it('newId is unique over 100k ids created within the same second', () => {
    const now = new Date('2026-04-28T15:30:00.000Z');
    const ids = new Set<string>();
    for (let i = 0; i < 100_000; i++) ids.add(newId(now));
    expect(ids.size).toBe(100_000);
  });

  it('newId starts with the creation time in seconds, so ids sort roughly by creation', () => {
    const earlier = newId(new Date('2026-04-28T15:30:00.000Z'));
    const later = newId(new Date('2026-04-28T15:30:01.000Z'));
    expect(earlier.slice(0, 8)).toBe(Math.floor(Date.parse('2026-04-28T15:30:00.000Z') / 1000).toString(16));
    expect(later > earlier).toBe(true);
  });

  it('randomId is 24 hex characters and unique over 100k', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 100_000; i++) ids.add(randomId());
    expect(ids.size).toBe(100_000);
    for (const id of [...ids].slice(0, 1000)) expect(isId(id)).toBe(true);
  });

  it.each(['', '507f1f77bcf86cd79943901', '507f1f77bcf86cd7994390111', '507F1F77BCF86CD799439011', '507f1f77bcf86cd79943901g', ' 507f1f77bcf86cd799439011', '507f1f77bcf86cd799439011\n'])(
    'isId rejects %j',
    (value) => {
      expect(isId(value)).toBe(false);
    },
  );
});
