// Test runner configuration: unit tests next to the code, edge tests against the built daemon.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'src/**/*.test.ts',
      'adapters/**/*.test.ts',
      'simulators/**/*.test.ts',
      'edge-tests/**/*.test.ts',
    ],
    exclude: ['**/*.interop.test.ts', 'node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Fails the run when a test wrote into the home folder (e.g. node-opcua's default PKI).
    globalSetup: ['edge-tests/lib/home-guard.ts'],
  },
});
