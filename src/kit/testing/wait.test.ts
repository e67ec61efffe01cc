// The shared condition wait: what it returns, how it times out and what the timeout says.
import { describe, expect, it } from 'vitest';
import { waitFor } from './wait.js';

/** The error a wait that must time out rejects with (fails the test if it resolves). */
async function failureOf(wait: Promise<unknown>): Promise<Error> {
  const outcome = await wait.then(
    (v) => ({ resolved: v }),
    (e: unknown) => ({ rejected: e }),
  );
  if (!('rejected' in outcome)) throw new Error(`the wait resolved with ${String(outcome.resolved)}`);
  expect(outcome.rejected).toBeInstanceOf(Error);
  return outcome.rejected as Error;
}

describe('waitFor', () => {
  it('returns the first truthy value of a sync check', async () => {
    let n = 0;
    const v = await waitFor('the third call', () => {
      n += 1;
      return n >= 3 ? { calls: n } : false;
    });
    expect(v).toEqual({ calls: 3 });
  });

  it('awaits an async check', async () => {
    let n = 0;
    const v = await waitFor(
      'an async count of 2',
      async () => {
        await new Promise((r) => setImmediate(r));
        n += 1;
        return n === 2 ? 'two' : undefined;
      },
      { intervalMs: 1 },
    );
    expect(v).toBe('two');
    expect(n).toBe(2);
  });

  it('times out naming what it waited for and the last value the check gave', async () => {
    let n = 0;
    const started = Date.now();
    const err = await failureOf(
      waitFor(
        'the queue to drain',
        () => {
          n += 1;
          return n > 1_000_000 ? 'never' : 0;
        },
        { timeoutMs: 50, intervalMs: 5, detail: () => ({ queued: 7 }) },
      ),
    );
    expect(err.message).toBe(
      'timed out after 50 ms waiting for the queue to drain; last value: 0; state: {"queued":7}',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
    // It kept checking until the deadline, not once.
    expect(n).toBeGreaterThan(1);
  });

  it('keeps polling a check that throws, and reports the last error at the deadline', async () => {
    let n = 0;
    const v = await waitFor(
      'the listener',
      () => {
        n += 1;
        if (n < 3) throw new Error(`ECONNREFUSED #${n}`);
        return n;
      },
      { intervalMs: 1 },
    );
    expect(v).toBe(3);

    let m = 0;
    const err = await failureOf(
      waitFor(
        'a port that never opens',
        () => {
          m += 1;
          throw new Error(`ECONNREFUSED #${m}`);
        },
        { timeoutMs: 30, intervalMs: 5 },
      ),
    );
    expect(m).toBeGreaterThan(1);
    expect(err.message).toBe(
      `timed out after 30 ms waiting for a port that never opens; last error: Error: ECONNREFUSED #${m}`,
    );
    expect((err.cause as Error).message).toBe(`ECONNREFUSED #${m}`);
  });

  it('says when the state itself cannot be read at the deadline', async () => {
    const err = await failureOf(
      waitFor('nothing', () => false, {
        timeoutMs: 0,
        detail: () => {
          throw new Error('receiver closed');
        },
      }),
    );
    expect(err.message).toBe(
      'timed out after 0 ms waiting for nothing; last value: false; state unavailable: Error: receiver closed',
    );
  });
});
