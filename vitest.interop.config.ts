// Interop tests against real third-party peers installed on the machine (Debian mosquitto).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.interop.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
