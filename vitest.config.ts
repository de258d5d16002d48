import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The end-to-end suites against the real Tryton and Request Tracker run with `npm run test:peers`.
    exclude: ['test/peers/**', 'node_modules/**'],
    // Suites share real PostgreSQL and NATS servers; files run in parallel workers but each test
    // file uses its own schema or stream names.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
