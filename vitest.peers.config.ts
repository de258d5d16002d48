// End-to-end connector tests against the real peers (Tryton 6.0, Request Tracker 5), run by
// `npm run test:peers` (scripts/test-peers.sh starts the peers on fresh databases first). One file at a
// time: the suites share the two servers, and RT answers each request in ~250 ms.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/peers/**/*.test.ts'],
    env: { CROSSDOCK_PEER_TESTS: '1' },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
