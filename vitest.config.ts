import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['cli/**/*.test.ts', 'core/**/*.test.ts', 'loadtest/**/*.test.ts', 'nightly/**/*.test.ts', 'dashboards/**/*.test.ts', 'flags/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real servers and processes; two cores do not profit from more parallelism.
    maxWorkers: 2,
    pool: 'forks',
  },
});
