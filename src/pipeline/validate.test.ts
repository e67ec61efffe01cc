// validate through the Pipeline: range, enum, required attributes, rate of change against the last accepted
// value, clock skew, string length; bad quality is kept, not quarantined.
import { describe, expect, it } from 'vitest';
import type { SignalSpec } from '../config/kit/signal.js';
import type { RawSample } from '../model/records.js';
import { Pipeline } from './pipeline.js';
import { SpecRegistry } from './specs.js';

const SOURCE = { id: 'line-2', type: 'mqtt' };
const T0 = Date.parse('2026-11-27T10:00:00.000Z');

const SIGNALS: SignalSpec[] = [
  { name: 'lyon.press1.pressure', unit: '[psi]', canonical_unit: 'bar', range: [0, 400] },
  { name: 'lyon.packer3.mode', value_type: 'string', enum: ['RUN', 'STOP', 'SETUP'], max_length: 5 },
  { name: 'lyon.packer3.code', value_type: 'integer', enum: [1, 2, 3] },
  { name: 'lyon.packer3.count', value_type: 'integer', required_attrs: ['work_order', 'lot'] },
  { name: 'lyon.oven.temp', unit: 'Cel', max_rate_of_change: 2 },
  { name: 'lyon.label', value_type: 'string', max_length: 3 },
  // 2^53 is exactly representable as a double, so the range bound is exact.
  { name: 'lyon.big', value_type: 'integer', range: [0, 2 ** 53] },
  { name: 'lyon.big_rate', max_rate_of_change: 1 },
];

function makePipeline(opts: { rateStateSize?: number } = {}): Pipeline {
  const specs = new SpecRegistry([
    {
      source: SOURCE,
      declarations: {
        exact: SIGNALS,
        patterns: [
          {
            pattern: 'lyon.line2.*.temp',
            spec: { unit: '[degF]', canonical_unit: 'Cel', max_rate_of_change: 1 },
          },
        ],
      },
    },
  ]);
  return new Pipeline({
    gatewayId: 'lyon-edge-01',
    timezone: 'Europe/Paris',
    maxFutureSkewMs: 5_000,
    specs,
    ...opts,
  });
}

function run(p: Pipeline, samples: Array<Partial<RawSample> & { signal: string }>, ingest = T0) {
  const out = p.process(
    SOURCE,
    samples.map((s) => ({ address: 'lyon/line2', value: 1, ...s })),
    ingest,
  );
  expect(out.records.length + out.rejects.length).toBe(samples.length);
  return out;
}

/** 'ok' or the reason, per sample, in input order. */
function verdicts(
  p: Pipeline,
  samples: Array<Partial<RawSample> & { signal: string }>,
  ingest = T0,
): string[] {
  const raw: RawSample[] = samples.map((s) => ({ address: 'lyon/line2', value: 1, ...s }));
  const { records, rejects } = p.process(SOURCE, raw, ingest);
  expect(records.length + rejects.length).toBe(raw.length);
  const reasons = new Map(rejects.map((r) => [r.sample, r.reason as string]));
  return raw.map((s) => reasons.get(s) ?? 'ok');
}

describe('validate', () => {
  it('quarantines canonical values outside the range (the range is in the canonical unit)', () => {
    const p = makePipeline();
    // 400 bar is about 5801.5 psi.
    expect(verdicts(p, [{ signal: 'lyon.press1.pressure', value: 5801 }])).toEqual(['ok']);
    expect(verdicts(p, [{ signal: 'lyon.press1.pressure', value: 5802 }])).toEqual(['out_of_range']);
    expect(verdicts(p, [{ signal: 'lyon.press1.pressure', value: -0.001 }])).toEqual(['out_of_range']);
    expect(verdicts(p, [{ signal: 'lyon.press1.pressure', value: 0 }])).toEqual(['ok']);
    const { rejects } = run(p, [{ signal: 'lyon.press1.pressure', value: 6000 }]);
    expect(rejects[0]?.detail).toContain('bar is outside the range [0, 400]');
  });

  it('quarantines values outside the enum', () => {
    const p = makePipeline();
    expect(
      verdicts(p, [
        { signal: 'lyon.packer3.mode', value: 'RUN' },
        { signal: 'lyon.packer3.mode', value: 'run' },
        { signal: 'lyon.packer3.code', value: '2' },
        { signal: 'lyon.packer3.code', value: 4 },
      ]),
    ).toEqual(['ok', 'not_in_enum', 'ok', 'not_in_enum']);
  });

  it('quarantines samples missing a required attribute (absent or empty)', () => {
    const p = makePipeline();
    expect(
      verdicts(p, [
        { signal: 'lyon.packer3.count', value: 5, attrs: { work_order: 'WO-1', lot: 'L1' } },
        { signal: 'lyon.packer3.count', value: 5, attrs: { work_order: 'WO-1' } },
        { signal: 'lyon.packer3.count', value: 5, attrs: { work_order: '', lot: 'L1' } },
        { signal: 'lyon.packer3.count', value: 5 },
      ]),
    ).toEqual(['ok', 'missing_attr', 'missing_attr', 'missing_attr']);
  });

  it('quarantines strings longer than max_length characters (code points, not UTF-16 units)', () => {
    const p = makePipeline();
    expect(
      verdicts(p, [
        { signal: 'lyon.label', value: 'abc' },
        { signal: 'lyon.label', value: 'abcd' },
        { signal: 'lyon.label', value: '😀😀😀' },
        { signal: 'lyon.label', value: '😀😀😀😀' },
        { signal: 'lyon.label', value: 'x'.repeat(1_000_000) },
      ]),
    ).toEqual(['ok', 'too_long', 'ok', 'too_long', 'too_long']);
  });

  it('quarantines timestamps further in the future than the skew tolerance', () => {
    const p = makePipeline();
    expect(
      verdicts(p, [
        { signal: 'lyon.press1.pressure', ts: T0 + 5_000 },
        { signal: 'lyon.press1.pressure', ts: T0 + 5_001 },
        { signal: 'lyon.press1.pressure', ts: T0 - 86_400_000 * 365 },
        { signal: 'lyon.press1.pressure', ts: '2026-11-27T11:00:06+01:00' },
      ]),
    ).toEqual(['ok', 'clock_skew', 'ok', 'clock_skew']);
  });

  it('checks the rate of change against the last ACCEPTED value only, newer samples only', () => {
    const p = makePipeline();
    const s = (value: number, dtS: number, extra: Partial<RawSample> = {}) => ({
      signal: 'lyon.oven.temp',
      value,
      ts: T0 - 100_000 + dtS * 1000,
      ...extra,
    });
    expect(
      verdicts(p, [
        s(100, 0), // first value: nothing to compare with
        s(101, 1), // 1/s
        s(105, 2), // 4/s against 101: rejected
        s(103, 2), // 2/s against 101 (the rejected 105 is not the reference)
        s(50, 1), // older than the reference: not compared
        s(103, 2), // same instant as the reference: not compared
        s(107, 4), // 2/s against 103
        s(110, 5, { status: 'bad' }), // bad quality: kept, neither checked nor the reference
        s(111, 5.5), // 2.7/s against 107: rejected
        s(108, 5.5), // 0.7/s against 107
      ]),
    ).toEqual(['ok', 'ok', 'rate_of_change', 'ok', 'ok', 'ok', 'ok', 'ok', 'rate_of_change', 'ok']);
  });

  it('keeps rate-of-change state across batches and per signal, including pattern-matched names', () => {
    const p = makePipeline();
    expect(verdicts(p, [{ signal: 'lyon.line2.m1.temp', value: 50, ts: T0 - 10_000 }])).toEqual(['ok']);
    expect(verdicts(p, [{ signal: 'lyon.line2.m2.temp', value: 90, ts: T0 - 9_000 }])).toEqual(['ok']);
    // 50 [degF] -> 59 [degF] in 9 s is 5 Cel in 9 s: 0.56 Cel/s, within 1/s.
    expect(verdicts(p, [{ signal: 'lyon.line2.m1.temp', value: 59, ts: T0 - 1_000 }])).toEqual(['ok']);
    // 90 -> 99 [degF] in 1 s is 5 Cel/s.
    const { rejects } = run(p, [{ signal: 'lyon.line2.m2.temp', value: 99, ts: T0 - 8_000 }]);
    expect(rejects.map((r) => r.reason)).toEqual(['rate_of_change']);
    expect(rejects[0]?.detail).toContain('Cel/s');
  });

  it('bounds the rate-of-change state; a forgotten signal is simply not compared', () => {
    const p = makePipeline({ rateStateSize: 4 });
    const at = (m: string, value: number, s: number) => ({
      signal: `lyon.line2.${m}.temp`,
      value,
      ts: T0 - 100_000 + s * 1000,
    });
    expect(verdicts(p, [at('a', 0, 0), at('b', 0, 0)])).toEqual(['ok', 'ok']);
    expect(verdicts(p, [at('a', 100, 1)])).toEqual(['rate_of_change']);
    // Three more signals push a and b (not seen since) out of the bounded state.
    expect(verdicts(p, [at('c', 0, 0), at('d', 0, 0), at('e', 0, 0)])).toEqual(['ok', 'ok', 'ok']);
    expect(verdicts(p, [at('a', 100, 1)])).toEqual(['ok']);
    // e is still remembered.
    expect(verdicts(p, [at('e', 100, 1)])).toEqual(['rate_of_change']);
  });

  it('keeps bad-quality readings with quality "bad" instead of quarantining them', () => {
    const p = makePipeline();
    const { records, rejects } = run(p, [
      { signal: 'lyon.press1.pressure', value: 10, status: 'bad' },
      { signal: 'lyon.press1.pressure', value: 11, status: 'bad' },
    ]);
    expect(rejects).toEqual([]);
    expect(records.map((r) => r.quality)).toEqual(['bad', 'bad']);
  });
});

describe('validate 64-bit integers exactly', () => {
  const T = (s: number) => new Date(T0 + s * 1000).toISOString();
  it('compares a big integer with the range as an integer, never through a float', () => {
    const p = makePipeline();
    expect(
      verdicts(p, [
        { signal: 'lyon.big', value: 2n ** 53n },
        // As a float 2^53+1 is 2^53 and would pass; compared exactly it is above the bound.
        { signal: 'lyon.big', value: 2n ** 53n + 1n },
        { signal: 'lyon.big', value: 2n ** 64n - 1n },
        { signal: 'lyon.big', value: -(2n ** 53n) },
      ]),
    ).toEqual(['ok', 'out_of_range', 'out_of_range', 'out_of_range']);
    const { rejects } = run(p, [{ signal: 'lyon.big', value: 2n ** 53n + 1n }]);
    expect(rejects[0]?.detail).toContain('9007199254740993 is outside the range [0, 9007199254740992]');
  });

  it('takes part in rate_of_change through its nearest double', () => {
    const p = makePipeline();
    expect(
      verdicts(p, [
        { signal: 'lyon.big_rate', value: 2n ** 60n, ts: T(0) },
        { signal: 'lyon.big_rate', value: 2n ** 60n, ts: T(1) },
        { signal: 'lyon.big_rate', value: 2n ** 61n, ts: T(2) },
      ]),
    ).toEqual(['ok', 'ok', 'rate_of_change']);
  });
});
