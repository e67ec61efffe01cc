// SpecRegistry: exact names before patterns, pattern precedence, the bounded lookup cache, and the
// problems a declaration can have (reported all at once as a ConfigError).
import { describe, expect, it } from 'vitest';
import type { SignalDeclarations } from '../config/kit/signal.js';
import { ConfigError } from '../kit/errors.js';
import { LruCache } from './lru.js';
import { compilePattern, MAX_SIGNAL_NAME_LENGTH, type SpecEntry, SpecRegistry } from './specs.js';

const mqtt = { id: 'line-2', type: 'mqtt' };
const opcua = { id: 'press-1', type: 'opcua' };

function entry(source: { id: string; type: string }, d: Partial<SignalDeclarations>): SpecEntry {
  return { source, declarations: { exact: [], patterns: [], ...d } };
}

describe('SpecRegistry.lookup', () => {
  const registry = new SpecRegistry([
    entry(opcua, {
      exact: [{ name: 'lyon.line2.m1.temp', unit: 'Cel' }],
      expected_interval_ms: 1000,
    }),
    entry(mqtt, {
      patterns: [
        { pattern: 'lyon.line2.**', spec: { value_type: 'string' } },
        { pattern: 'lyon.line2.*.temp', spec: { unit: '[degF]', canonical_unit: 'Cel' } },
        { pattern: 'lyon.line2.*.*', spec: { value_type: 'integer' } },
        { pattern: 'lyon.line2.m*.temp', spec: { unit: 'K', canonical_unit: 'Cel' } },
        { pattern: 'lyon.*.m1.temp', spec: { value_type: 'boolean' } },
        { pattern: 'lyon.line2.**.state', spec: { value_type: 'string', max_length: 8 } },
      ],
    }),
  ]);
  const name = (signal: string) => registry.lookup(signal)?.name;

  it('finds exact names before any pattern', () => {
    const spec = registry.lookup('lyon.line2.m1.temp');
    expect(spec?.name).toBe('lyon.line2.m1.temp');
    expect(spec?.isPattern).toBe(false);
    expect(spec?.source).toEqual(opcua);
    expect(spec?.unit).toBe('Cel');
    expect(spec?.expectedIntervalMs).toBe(1000);
  });

  it('picks the most specific pattern, segment by segment from the left', () => {
    expect(name('lyon.line2.m2.temp')).toBe('lyon.line2.m*.temp'); // partial glob beats `*`
    expect(name('lyon.line2.x2.temp')).toBe('lyon.line2.*.temp'); // literal `temp` beats `*`
    expect(name('lyon.line2.x2.speed')).toBe('lyon.line2.*.*');
    expect(name('lyon.line2.a.b.state')).toBe('lyon.line2.**.state'); // longer beats its prefix
    expect(name('lyon.line2.a.b.c')).toBe('lyon.line2.**');
    expect(name('lyon.line2.a')).toBe('lyon.line2.**'); // `**` is one or more segments
    expect(name('lyon.line3.m1.temp')).toBe('lyon.*.m1.temp');
  });

  it('matches `*` to exactly one non-empty segment and `**` to one or more', () => {
    expect(name('lyon.line2')).toBeUndefined();
    expect(name('lyon.line2.')).toBeUndefined();
    expect(name('lyon.line2..temp')).toBeUndefined();
    expect(name('lyon.line3.m1.x.temp')).toBeUndefined();
    expect(name('xlyon.line2.a')).toBeUndefined();
    expect(name('lyon.line2.a\n')).toBeUndefined();
    expect(name('lyon.line2.a b')).toBeUndefined();
    expect(name('lyon_line2.a')).toBeUndefined(); // the dot is literal, not "any character"
  });

  it('treats names longer than the limit as unknown without caching them', () => {
    const before = registry.cacheStats().size;
    expect(registry.lookup(`lyon.line2.${'a'.repeat(MAX_SIGNAL_NAME_LENGTH)}`)).toBeUndefined();
    expect(registry.cacheStats().size).toBe(before);
  });

  it('compiles a pattern spec with its converter once and shares it', () => {
    const a = registry.lookup('lyon.line2.x1.temp');
    const b = registry.lookup('lyon.line2.x2.temp');
    expect(a).toBe(b);
    expect(a?.convert?.(212)).toBeCloseTo(100, 9);
    expect(a?.noiseRef).toBeCloseTo(17.7778, 3);
  });

  it('keeps the cache bounded and still answers correctly after evictions', () => {
    const small = new SpecRegistry([entry(mqtt, { patterns: [{ pattern: 'a.*.c', spec: {} }] })], {
      cacheSize: 100,
    });
    for (let i = 0; i < 1000; i++) {
      expect(small.lookup(`a.x${i}.c`)?.name).toBe('a.*.c');
      expect(small.lookup(`a.x${i}.d`)).toBeUndefined();
    }
    const stats = small.cacheStats();
    expect(stats.size).toBe(100);
    expect(stats.evictions).toBe(1900);
    expect(small.lookup('a.x1.c')?.name).toBe('a.*.c');
  });

  it('looks up a pattern-matched name quickly once cached', () => {
    const names = Array.from({ length: 5000 }, (_, i) => `lyon.line2.m${i}.temp`);
    for (const n of names) registry.lookup(n);
    const t0 = performance.now();
    let hits = 0;
    for (let round = 0; round < 40; round++) for (const n of names) if (registry.lookup(n)) hits += 1;
    const perLookupUs = ((performance.now() - t0) * 1000) / (40 * names.length);
    expect(hits).toBe(200_000);
    // A cached lookup is a couple of Map operations; allow a wide margin for a busy shared machine.
    expect(perLookupUs).toBeLessThan(5);
  });

  it('treats a pattern without wildcards as an exact name', () => {
    const r = new SpecRegistry([
      entry(mqtt, { patterns: [{ pattern: 'lyon.line2.temp', spec: { unit: 'Cel' } }] }),
    ]);
    expect(r.lookup('lyon.line2.temp')?.isPattern).toBe(false);
    expect(r.size).toEqual({ exact: 1, patterns: 0 });
  });

  it('accepts the same pattern twice in one source when the rules are identical', () => {
    const r = new SpecRegistry([
      entry(mqtt, {
        patterns: [
          { pattern: 'lyon.*.temp', spec: { unit: 'Cel' } },
          { pattern: 'lyon.*.temp', spec: { unit: 'Cel' } },
        ],
      }),
    ]);
    expect(r.size).toEqual({ exact: 0, patterns: 1 });
  });
});

describe('SpecRegistry problems', () => {
  it.each([
    [entry(mqtt, { exact: [{ name: 'a.b', scale: { factor: 2, raw: [0, 1], eng: [0, 10] } }] }), 'not both'],
    [entry(mqtt, { exact: [{ name: 'a.b', scale: { raw: [0, 1] } }] }), 'both "raw" and "eng"'],
    [entry(mqtt, { exact: [{ name: 'a.b', scale: { raw: [5, 5], eng: [0, 1] } }] }), 'must not be empty'],
    [entry(mqtt, { exact: [{ name: 'a.b', unit: 'bar', canonical_unit: 'Cel' }] }), 'cannot be converted'],
    [
      entry(mqtt, { exact: [{ name: 'a.b', value_type: 'boolean', unit: 'bar' }] }),
      'only to number or integer',
    ],
    [
      entry(mqtt, { exact: [{ name: 'a.b', value_type: 'string', range: [0, 1] }] }),
      'only to number or integer',
    ],
    [entry(mqtt, { exact: [{ name: 'a.b', max_length: 3 }] }), 'only to string signals'],
    [entry(mqtt, { exact: [{ name: 'a.b', enum: ['RUN'] }] }), 'is not a number'],
    [entry(mqtt, { exact: [{ name: 'a.b', range: [5, 1] }] }), 'min <= max'],
    [entry(mqtt, { exact: [{ name: 'a.b', max_rate_of_change: -1 }] }), 'positive'],
    [entry(mqtt, { patterns: [{ pattern: 'a..*', spec: {} }] }), 'empty segment'],
    [entry(mqtt, { patterns: [{ pattern: 'a.x**.c', spec: {} }] }), 'whole segment'],
  ])('reports %#', (e, text) => {
    const problems = SpecRegistry.check([e]);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toContain(text);
    expect(() => new SpecRegistry([e])).toThrow(ConfigError);
  });

  it('reports duplicates across sources and conflicting duplicates within one, all at once', () => {
    const problems = SpecRegistry.check([
      entry(opcua, { exact: [{ name: 'a.b' }], patterns: [{ pattern: 'p.*', spec: {} }] }),
      entry(mqtt, {
        exact: [{ name: 'a.b' }],
        patterns: [
          { pattern: 'p.*', spec: {} },
          { pattern: 'q.*', spec: { unit: 'Cel' } },
          { pattern: 'q.*', spec: { unit: 'K' } },
        ],
      }),
    ]);
    expect(problems.map((p) => [p.source, p.signal])).toEqual([
      ['line-2', 'a.b'],
      ['line-2', 'p.*'],
      ['line-2', 'q.*'],
    ]);
    expect(
      () =>
        new SpecRegistry([
          entry(opcua, { exact: [{ name: 'a.b' }] }),
          entry(mqtt, { exact: [{ name: 'a.b' }] }),
        ]),
    ).toThrow(/source "line-2", signal "a\.b": is already declared by source "press-1"/);
  });

  it('compiles patterns to anchored expressions with regex characters taken literally', () => {
    const p = compilePattern('a+b.*.(c)');
    if (typeof p === 'string') throw new Error(p);
    expect(p.re.test('a+b.x.(c)')).toBe(true);
    expect(p.re.test('aab.x.(c)')).toBe(false);
    expect(compilePattern('a.b')).toMatch(/exact/);
  });
});

describe('LruCache', () => {
  it('keeps recently used entries, drops the least recently used, and never exceeds its bound', () => {
    const c = new LruCache<string, number>(4);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3);
    expect(c.get('a')).toBe(1); // used again: survives the next generation change
    c.set('d', 4);
    c.set('e', 5);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    expect(c.size).toBeLessThanOrEqual(4);
    for (let i = 0; i < 1000; i++) {
      c.set(`k${i}`, i);
      expect(c.size).toBeLessThanOrEqual(4);
    }
    expect(c.evictions).toBeGreaterThan(990);
    expect(c.get('k999')).toBe(999);
    expect(() => new LruCache(1)).toThrow(RangeError);
  });
});
