import { randomBytes } from 'node:crypto';

/**
 * 24-hex identifiers in the shape of the docs' examples (MongoDB ObjectId): 4 bytes of seconds,
 * 5 random bytes, a 3-byte counter. They sort roughly by creation and are unguessable enough that
 * enumeration finds nothing; access checks never rely on that.
 */
const processRandom = randomBytes(5).toString('hex');
let counter = randomBytes(3).readUIntBE(0, 3);

export function newId(now: Date = new Date()): string {
  counter = (counter + 1) % 0x1000000;
  const seconds = Math.floor(now.getTime() / 1000).toString(16).padStart(8, '0');
  return seconds + processRandom + counter.toString(16).padStart(6, '0');
}

export const ID_PATTERN = '^[0-9a-f]{24}$';
const ID_REGEX = new RegExp(ID_PATTERN);

export function isId(value: string): boolean {
  return ID_REGEX.test(value);
}

/** A random id, not tied to time: trace ids. */
export function randomId(): string {
  return randomBytes(12).toString('hex');
}
