// Backoff (the neutral copy every component uses): the full-jitter bounds, the cap, Retry-After as a floor, the
// attempt counter, and the doubling step of the adapters.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, doubled, exponentialCap, MAX_TIMER_MS, retryDelay } from './backoff.js';

describe('backoffDelay', () => {
  const opts = (r: number) => ({ initialMs: 500, maxMs: 60_000, random: () => r });

  it('spans [0, initial * 2^n] with full jitter', () => {
    expect(backoffDelay(0, opts(0))).toBe(0);
    expect(backoffDelay(0, opts(0.999999))).toBe(500);
    expect(backoffDelay(3, opts(0.999999))).toBe(4000);
    expect(backoffDelay(3, opts(0.5))).toBe(2000);
  });

  it('never exceeds max, even for huge attempt numbers', () => {
    expect(backoffDelay(10, opts(0.999999))).toBe(60_000);
    expect(backoffDelay(5000, opts(0.999999))).toBe(60_000);
  });

  it('takes Retry-After as a floor, even above max', () => {
    expect(backoffDelay(0, opts(0), 3000)).toBe(3000);
    expect(backoffDelay(0, opts(0), 120_000)).toBe(120_000);
    expect(backoffDelay(8, opts(0.999999), 10)).toBe(60_000);
  });

  it('stays within bounds for any attempt, random value and Retry-After', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        fc.option(fc.integer({ min: 0, max: 300_000 }), { nil: undefined }),
        (n, r, ra) => {
          const d = backoffDelay(n, { initialMs: 100, maxMs: 10_000, random: () => r }, ra);
          const cap = Math.min(10_000, 100 * 2 ** n);
          expect(d).toBeGreaterThanOrEqual(ra ?? 0);
          expect(d).toBeLessThanOrEqual(Math.max(cap, ra ?? 0));
        },
      ),
    );
  });
});

describe('retryDelay', () => {
  const opts = { initialMs: 500, probeMs: 1000, maxMs: 60_000 };

  it('starts at initial, stops growing at the probe interval, jittered in [1, 1.5)', () => {
    expect(retryDelay(1, opts, undefined, () => 0)).toBe(500);
    expect(retryDelay(1, opts, undefined, () => 0.999)).toBe(749);
    expect(retryDelay(2, opts, undefined, () => 0)).toBe(1000);
    expect(retryDelay(50, opts, undefined, () => 0.999)).toBe(1499);
    expect(retryDelay(100_000, opts, undefined, () => 0.5)).toBe(1250);
  });

  it('honours Retry-After as a floor up to max, in the seconds form, the date form and overflowing values', () => {
    expect(retryDelay(1, opts, 7000, () => 0)).toBe(7000);
    // 99999999 s, a far-future date and a value past Number range all wait retry.max, never an overflowed timer.
    expect(retryDelay(1, opts, 99_999_999_000, () => 0)).toBe(60_000);
    expect(retryDelay(1, opts, Date.parse('9999-12-31T23:59:59Z') - Date.now(), () => 0)).toBe(60_000);
    expect(retryDelay(1, opts, Number.POSITIVE_INFINITY, () => 0)).toBe(60_000);
    // Garbage and negative values never reach here as numbers (parseRetryAfter gives undefined); still harmless.
    expect(retryDelay(1, opts, Number.NaN, () => 0)).toBe(500);
    expect(retryDelay(1, opts, -5000, () => 0)).toBe(500);
  });

  it('never hands a timer more than 2^31-1 ms, whatever max says', () => {
    expect(retryDelay(1, { ...opts, maxMs: 10 ** 12 }, 10 ** 12, () => 0)).toBe(MAX_TIMER_MS);
  });

  it('stays within [min(probe, initial*2^(n-1)), max(Retry-After up to max, 1.5x that)] for any input', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        fc.option(fc.integer({ min: 0, max: 10 ** 9 }), { nil: undefined }),
        (n, r, ra) => {
          const d = retryDelay(n, opts, ra, () => r);
          const base = Math.min(1000, 500 * 2 ** (n - 1));
          expect(d).toBeGreaterThanOrEqual(Math.min(base, 60_000));
          expect(d).toBeLessThanOrEqual(Math.max(1.5 * base, Math.min(ra ?? 0, 60_000)));
        },
      ),
    );
  });
});

describe('Backoff', () => {
  it('doubles its ceiling per failure and starts over after reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999999 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000]);
    expect(b.attempts).toBe(5);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(100);
  });
});

describe('exponentialCap and doubled (the adapters’ un-jittered backoff)', () => {
  it('doubles from initial up to max, and stays finite for any attempt', () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => exponentialCap(n, 500, 10_000))).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000,
    ]);
    expect(exponentialCap(-3, 500, 10_000)).toBe(500);
    expect(exponentialCap(5000, 500, 10_000)).toBe(10_000);
    expect(exponentialCap(5000, 0, 10_000)).toBe(0);
  });

  it('doubled walks the same sequence from a current delay, restarting at initial after a reset to 0', () => {
    const opts = { initialMs: 500, maxMs: 10_000 };
    const seen: number[] = [];
    let d = 0;
    for (let i = 0; i < 7; i++) {
      d = doubled(d, opts);
      seen.push(d);
    }
    expect(seen).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    fc.assert(
      fc.property(fc.nat(20), fc.integer({ min: 1, max: 100_000 }), fc.nat(1e7), (n, i, extra) => {
        const m = i + extra;
        let cur = i;
        for (let k = 0; k < n; k++) cur = doubled(cur, { initialMs: i, maxMs: m });
        return cur === exponentialCap(n, i, m);
      }),
    );
  });
});
