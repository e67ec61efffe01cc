// Test runner configuration: unit tests next to the code, edge tests against the built daemon.
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'src/**/*.test.ts',
      'adapters/**/*.test.ts',
      'simulators/**/*.test.ts',
      'edge-tests/**/*.test.ts',
    ],
    // edge-tests/systemd boots a container as root: `npm run test:systemd` (vitest.systemd.config.ts).
    exclude: ['**/*.interop.test.ts', 'edge-tests/systemd/**', 'node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker less than the CPUs: on the 2-core CI machine that ran every file one after
    // the other. Most of the suite's time is waiting (real timeouts, keepalives, outages, child daemons), so two
    // files at once fit on 2 cores; larger machines keep the default.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Fails the run when a test wrote into the home folder (e.g. node-opcua's default PKI).
    globalSetup: ['edge-tests/lib/home-guard.ts'],
  },
});
