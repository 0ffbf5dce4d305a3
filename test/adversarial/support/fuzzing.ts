import fc from 'fast-check';

/** Run sizes and seeds: fixed in CI, overridable (FUZZ_RUNS, FUZZ_SEED=random) for long runs. */
export function fuzzSettings(defaultRuns: number, runsVariable = 'FUZZ_RUNS'): { runs: number; seed: number } {
  const runs = Number(process.env[runsVariable] ?? defaultRuns);
  const raw = process.env.FUZZ_SEED;
  const seed = raw === 'random' ? (Date.now() ^ (process.pid << 16)) | 0 : raw ? Number(raw) : 20260504;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`${runsVariable} must be a positive integer`);
  if (!Number.isInteger(seed)) throw new Error('FUZZ_SEED must be an integer or "random"');
  return { runs, seed };
}

/** Strings meant to hurt: injections, traversal, encodings, control characters, lookalikes. */
export const HOSTILE_STRINGS = [
  "' OR '1'='1",
  "'; DROP TABLE messages; --",
  '" OR 1=1 --',
  '1; SELECT pg_sleep(5)',
  '$1',
  '\\x00',
  '\u0000',
  '../../../etc/passwd',
  '..%2F..%2Fetc%2Fpasswd',
  '%00',
  '%',
  '%zz',
  '<script>alert(1)</script>',
  '{{7*7}}',
  '${jndi:ldap://x}',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  'NaN',
  '-0',
  '1e309',
  '9'.repeat(400),
  'ⅰ'.repeat(10),
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '\u202e\u202d',
  '\ud800',
  ' ',
  '\t\n',
  '507f1f77bcf86cd79943901',
  '507f1f77bcf86cd7994390111',
  '507F1F77BCF86CD799439011',
  'zzzzzzzzzzzzzzzzzzzzzzzz',
  ' 507f1f77bcf86cd799439011',
];

/** Any string, biased towards the hostile ones and towards lengths around limits. */
export function hostileString(maxLength = 300): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ minLength: maxLength - 2, maxLength: maxLength + 30 }) },
  );
}

/** A value of any JSON type. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  hostileString(40),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);

export const hex24 = fc.stringMatching(/^[0-9a-f]{24}$/);

/** Header values Node will send: printable Latin-1, no CR/LF. */
export const headerValue = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 }),
  fc.string({ unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 20 }),
  fc.constantFrom('', ' ', '""', '"', '"a b"', 'a b', '\t'),
);
