// Tagged JSON: every value a raw sample can carry survives a round trip through the quarantine encoding.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeTagged, encodeTagged } from './tagged-json.js';

describe('tagged JSON', () => {
  it('round-trips the values JSON loses', () => {
    const sample = {
      signal: 'lyon.press1.hydraulic_pressure',
      value: Number.NaN,
      values: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, undefined, 12345678901234567890n],
      ts: new Date(Date.UTC(2026, 9, 25, 0, 30)),
      bad_ts: new Date(Number.NaN),
      raw: new Uint8Array([0, 1, 254, 255]),
      map: new Map<unknown, unknown>([['a', 1n]]),
      set: new Set([1, 'x']),
      missing: undefined,
    };
    const back = decodeTagged<typeof sample>(encodeTagged(sample));
    expect(back).toStrictEqual(sample);
    expect(Object.is(back.values[2], -0)).toBe(true);
    expect('missing' in back).toBe(true);
  });

  it('keeps ordinary objects that use the tag key, and `__proto__` keys, as data', () => {
    const tricky = JSON.parse('{"$pg":"bigint","v":"1","__proto__":{"x":1}}') as Record<string, unknown>;
    const back = decodeTagged<Record<string, unknown>>(encodeTagged(tricky));
    expect(back.$pg).toBe('bigint');
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });

  it('round-trips arbitrary values (property)', () => {
    const arb = fc.anything({
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: false,
      withNullPrototype: false,
      withBoxedValues: false,
      withObjectString: true,
    });
    fc.assert(
      fc.property(arb, (v) => {
        expect(decodeTagged(encodeTagged(v))).toStrictEqual(v);
      }),
      { numRuns: 300 },
    );
  });
});
