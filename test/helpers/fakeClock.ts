import type { Clock } from '../../src/clock.js';

/** Time that moves only when a test says so. */
export class FakeClock implements Clock {
  private current: number;

  constructor(start: string | number = '2026-05-04T09:00:00.000Z') {
    this.current = typeof start === 'number' ? start : Date.parse(start);
  }

  now(): Date {
    return new Date(this.current);
  }

  advance(ms: number): void {
    this.current += ms;
  }

  set(instant: string | Date): void {
    this.current = new Date(instant).getTime();
  }
}
