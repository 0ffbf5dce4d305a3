import { defineConfig } from 'vitest/config';

/**
 * `npm run test:chaos`: tests that disturb shared infrastructure (they restart PostgreSQL), so
 * they run on their own, after `npm test`, never beside other tests. PostgreSQL only.
 */
export default defineConfig({
  test: {
    include: ['test/adversarial/chaos/**/*.chaos.ts'],
    env: { SONARLY_TEST_BACKEND: 'postgres' },
    testTimeout: 600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
