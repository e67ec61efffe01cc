// sleep: waits, ends at once on abort (a stop never waits out a reconnect delay), and never rejects.
import { describe, expect, it } from 'vitest';
import { sleep } from './sleep.js';

describe('sleep', () => {
  it('waits at least the delay', async () => {
    const t0 = performance.now();
    await sleep(30);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(29);
  });

  it('resolves at once for a zero or negative delay and for an already aborted signal', async () => {
    const ac = new AbortController();
    ac.abort();
    const t0 = performance.now();
    await Promise.all([sleep(0), sleep(-5), sleep(Number.NaN), sleep(3_600_000, ac.signal)]);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('ends a long wait as soon as the signal aborts', async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    const waiting = sleep(3_600_000, ac.signal);
    setImmediate(() => ac.abort());
    await expect(waiting).resolves.toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
