// Interop tests against real third-party peers installed on the machine (Debian mosquitto and nats-server).
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.interop.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // As in vitest.config.ts: these files mostly wait on their peers (broker and server restarts, leader
    // elections), so two at once fit on the 2-core CI machine; each starts its own peers on free ports.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
