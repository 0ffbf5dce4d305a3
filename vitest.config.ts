import { defineConfig } from 'vitest/config';

/**
 * The whole suite runs on the embedded database (PGlite) always, and again on PostgreSQL when
 * SONARLY_TEST_DATABASE_URL is set (CI sets it). Each test file gets its own database or schema.
 */
const backends = ['pglite', ...(process.env.SONARLY_TEST_DATABASE_URL ? ['postgres'] : [])];

export default defineConfig({
  test: {
    projects: backends.map((backend) => ({
      extends: true,
      test: {
        name: backend,
        env: { SONARLY_TEST_BACKEND: backend },
      },
    })),
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
