// Backoff: the full-jitter bounds, the cap, Retry-After as a floor, and the attempt counter.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from './backoff.js';

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
