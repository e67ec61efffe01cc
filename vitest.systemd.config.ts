// The .deb under a real systemd (`npm run test:systemd`): boots a Debian 12 container, so it needs root and
// several minutes; `npm test` leaves it out.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['edge-tests/systemd/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 180_000,
    hookTimeout: 480_000,
    pool: 'forks',
  },
});
