// "Did you mean" and the signal name fixer: close words are suggested, unrelated ones are not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { patternMatches } from '../checks.js';
import { DEFAULT_SIGNAL_NAMING } from './primitives.js';
import { closest, editDistance, quoteList, suggestSignalName } from './suggest.js';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps', () => {
    expect(editDistance('interval', 'interval')).toBe(0);
    expect(editDistance('intervall', 'interval')).toBe(1);
    expect(editDistance('polling_interval', 'poll_interval')).toBe(3);
    expect(editDistance('recieve', 'receive')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('is symmetric and bounded by the longer word', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
        const d = editDistance(a, b);
        expect(d).toBe(editDistance(b, a));
        expect(d).toBeLessThanOrEqual(Math.max(a.length, b.length));
        expect(d === 0).toBe(a === b);
      }),
    );
  });
});

describe('closest', () => {
  it('finds typos and case slips, not unrelated words', () => {
    expect(closest('polling_interval', ['poll_interval', 'timeout', 'signals'])).toBe('poll_interval');
    expect(closest('europe/paris', ['Europe/Paris', 'Europe/Parix'])).toBe('Europe/Paris');
    expect(closest('id', ['url', 'type'])).toBeUndefined();
    expect(closest('completely_else', ['interval', 'signals'])).toBeUndefined();
  });
});

describe('quoteList', () => {
  it('joins with or/and and cuts long lists', () => {
    expect(quoteList(['a'])).toBe('"a"');
    expect(quoteList(['a', 'b', 'c'])).toBe('"a", "b" or "c"');
    expect(quoteList(['a', 'b'], 12, 'and')).toBe('"a" and "b"');
    expect(quoteList(['a', 'b', 'c', 'd'], 2)).toBe('"a", "b" and 2 more');
  });
});

describe('suggestSignalName', () => {
  const rule = new RegExp(DEFAULT_SIGNAL_NAMING);
  it.each([
    ['Lyon.Press1.HydraulicPressure', 'lyon.press1.hydraulic_pressure'],
    ['lyon/press1/oil-temp', 'lyon.press1.oil_temp'],
    ['Press 1 Temp', 'lyon.press_1_temp'],
    ['line2..speed_', 'line2.speed'],
  ])('%s -> %s', (name, fixed) => {
    expect(suggestSignalName(name, rule, 'lyon')).toBe(fixed);
  });

  it('suggests nothing it cannot make valid', () => {
    expect(suggestSignalName('1.2', rule, 'lyon')).toBeUndefined();
  });
});

describe('patternMatches', () => {
  it('lets * stand for exactly one segment', () => {
    expect(patternMatches('lyon.line2.*.*', 'lyon.line2.filler.temp')).toBe(true);
    expect(patternMatches('lyon.line2.*.*', 'lyon.line2.filler')).toBe(false);
    expect(patternMatches('lyon.line2.*.state', 'lyon.line2.filler.temp')).toBe(false);
  });
});
