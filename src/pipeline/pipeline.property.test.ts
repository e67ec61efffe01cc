// Property tests: arbitrary raw samples (every JS type as value, every timestamp form, garbage included)
// never make process() throw, each sample ends in exactly one output, and the outputs are well formed.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { SignalSpec } from '../config/kit/signal.js';
import { type RawSample, readingId } from '../model/records.js';
import { isReasonCode, Pipeline, type ReasonCode } from './pipeline.js';
import { SpecRegistry } from './specs.js';

const SOURCE = { id: 'line-2', type: 'mqtt' };
const GATEWAY = 'lyon-edge-01';
const T0 = Date.parse('2026-11-27T10:00:00.000Z');
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const EXACT: SignalSpec[] = [
  {
    name: 'lyon.press1.pressure',
    unit: '[psi]',
    canonical_unit: 'bar',
    range: [0, 400],
    max_rate_of_change: 50,
  },
  { name: 'lyon.packer3.motor_temp', unit: '[degF]', canonical_unit: 'Cel' },
  { name: 'lyon.dryer.feed', unit: 'kg/h', canonical_unit: 'g/s', scale: { factor: 0.1 } },
  { name: 'lyon.plain' },
  { name: 'lyon.count', value_type: 'integer', required_attrs: ['work_order'] },
  { name: 'lyon.running', value_type: 'boolean' },
  { name: 'lyon.state', value_type: 'string', enum: ['RUN', 'STOP'], max_length: 4 },
  { name: 'lyon.label', value_type: 'string' },
  { name: 'lyon.analog', scale: { raw: [0, 27648], eng: [0, 100] }, range: [0, 100] },
];

// Compiled once (unit converters cost milliseconds to build); each run gets a fresh Pipeline around it.
// A small pattern cache makes evictions happen during the runs.
const SPECS = new SpecRegistry(
  [
    {
      source: SOURCE,
      declarations: {
        exact: EXACT,
        patterns: [
          {
            pattern: 'lyon.line2.*.temp',
            spec: { unit: '[degF]', canonical_unit: 'Cel', max_rate_of_change: 5 },
          },
          { pattern: 'lyon.line2.**', spec: { value_type: 'string', max_length: 20 } },
        ],
      },
    },
  ],
  { cacheSize: 64 },
);

function makePipeline(): Pipeline {
  return new Pipeline({ gatewayId: GATEWAY, timezone: 'Europe/Paris', maxFutureSkewMs: 5_000, specs: SPECS });
}

// Every kind of JS value (boxed, null-prototype, Map, Set, typed and sparse arrays, bigint, Date), kept shallow
// so generating ten thousand samples stays fast.
const junk = fc.anything({
  maxDepth: 2,
  maxKeys: 4,
  withBigInt: true,
  withDate: true,
  withNullPrototype: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withSparseArray: true,
  withBoxedValues: true,
});
const HUGE = 'x'.repeat(1_000_000);
const HUGE_NUMERIC = '9'.repeat(100_000);
const segment = fc.stringMatching(/^[a-z0-9_]{1,8}$/);

const signalArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...EXACT.map((s) => s.name)) },
  { weight: 3, arbitrary: segment.map((s) => `lyon.line2.${s}.temp`) },
  {
    weight: 2,
    arbitrary: fc.array(segment, { minLength: 1, maxLength: 4 }).map((a) => `lyon.line2.${a.join('.')}`),
  },
  { weight: 2, arbitrary: fc.string() },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 50 }) },
  { weight: 1, arbitrary: fc.constantFrom(HUGE, '', '.', 'lyon.line2.', '__proto__', 'constructor') },
  { weight: 1, arbitrary: junk },
);

const valueArb = fc.oneof(
  { weight: 5, arbitrary: fc.double() },
  { weight: 3, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 5000, noNaN: true }) },
  { weight: 2, arbitrary: fc.bigInt() },
  { weight: 2, arbitrary: fc.boolean() },
  { weight: 3, arbitrary: fc.string() },
  { weight: 2, arbitrary: fc.double().map(String) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('RUN', 'STOP', 'true', 'false', '0', '1', 'NaN', '-Infinity', '1e999'),
  },
  { weight: 1, arbitrary: fc.constantFrom(HUGE, HUGE_NUMERIC, null, undefined, Number.NaN, -0) },
  { weight: 1, arbitrary: fc.object({ maxDepth: 2, maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.array(junk, { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.date({ noInvalidDate: false }) },
  { weight: 1, arbitrary: junk },
);

const isoDate = fc.date({
  min: new Date('1990-01-01T00:00:00Z'),
  max: new Date('2030-01-01T00:00:00Z'),
  noInvalidDate: true,
});
const pastDate = fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date(T0), noInvalidDate: true });
const tsArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.integer({ min: T0 - 86_400_000 * 30, max: T0 + 20_000 }) },
  { weight: 2, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.bigInt() },
  { weight: 2, arbitrary: fc.date({ noInvalidDate: false }) },
  { weight: 3, arbitrary: isoDate.map((d) => d.toISOString()) },
  { weight: 2, arbitrary: isoDate.map((d) => d.toISOString().slice(0, 19)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(isoDate, fc.integer({ min: -14, max: 14 }), fc.constantFrom(':00', ':30', '00', ''))
      .map(
        ([d, h, m]) =>
          `${d.toISOString().slice(0, 23)}${h < 0 ? '-' : '+'}${String(Math.abs(h)).padStart(2, '0')}${m}`,
      ),
  },
  { weight: 2, arbitrary: fc.string() },
  {
    weight: 1,
    arbitrary: fc.constantFrom('2026-03-29T02:30:00', '2026-10-25T02:30:00', '2026-02-30T00:00:00Z', HUGE),
  },
  { weight: 1, arbitrary: junk },
);

const sampleArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.record(
      {
        signal: signalArb,
        value: valueArb,
        ts: tsArb,
        ts_unit: fc.oneof(fc.constant(undefined), fc.constantFrom('s', 'ms'), junk),
        ts_local: fc.oneof(fc.constant(undefined), fc.boolean(), junk),
        status: fc.oneof(
          fc.constant(undefined),
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.constantFrom('good', 'uncertain', 'bad', 0x80310000, 0x40000000),
          junk,
        ),
        address: fc.oneof({ weight: 9, arbitrary: fc.string() }, { weight: 1, arbitrary: junk }),
        attrs: fc.oneof(
          { weight: 4, arbitrary: fc.constant(undefined) },
          { weight: 3, arbitrary: fc.dictionary(fc.constantFrom('work_order', 'lot', 'x'), fc.string()) },
          { weight: 1, arbitrary: junk },
        ),
      },
      { requiredKeys: ['signal', 'address'] },
    ),
  },
  { weight: 1, arbitrary: junk },
);

let fed = 0;

describe('Pipeline.process on arbitrary input', () => {
  afterAll(() => {
    // The properties below must have pushed at least 10,000 arbitrary samples through.
    expect(fed).toBeGreaterThanOrEqual(10_000);
  });

  it('never throws, accounts for every sample exactly once and emits well-formed records', () => {
    fc.assert(
      fc.property(
        // At least 200 runs x 2 batches x 25 samples = 10,000 samples.
        fc.array(fc.array(sampleArb, { minLength: 25, maxLength: 50 }), { minLength: 2, maxLength: 3 }),
        fc.integer({ min: T0 - 1000, max: T0 + 1000 }),
        (batches, ingest) => {
          const p = makePipeline();
          const ingestIso = new Date(ingest).toISOString();
          let inTotal = 0;
          let recordTotal = 0;
          const byReason = new Map<ReasonCode, number>();
          for (const raw of batches) {
            const batch = raw as RawSample[];
            const { records, rejects } = p.process(SOURCE, batch, ingest);
            inTotal += batch.length;
            recordTotal += records.length;
            expect(records.length + rejects.length).toBe(batch.length);
            for (const j of rejects) {
              expect(isReasonCode(j.reason)).toBe(true);
              expect(typeof j.detail).toBe('string');
              expect(j.detail.length).toBeGreaterThan(0);
              expect(j.detail.length).toBeLessThan(500);
              expect(batch.includes(j.sample)).toBe(true);
              byReason.set(j.reason, (byReason.get(j.reason) ?? 0) + 1);
            }
            for (const r of records) {
              expect(r.kind).toBe('reading');
              expect(r.ts).toMatch(ISO_MS);
              expect(new Date(r.ts).toISOString()).toBe(r.ts);
              expect(r.ingest_ts).toBe(ingestIso);
              expect(Date.parse(r.ts) - ingest).toBeLessThanOrEqual(5_000);
              if (typeof r.value === 'number') expect(Number.isFinite(r.value)).toBe(true);
              else expect(['string', 'boolean']).toContain(typeof r.value);
              expect(['good', 'uncertain', 'bad']).toContain(r.quality);
              expect(r.id).toBe(readingId(GATEWAY, r.signal, r.ts, r.value));
              expect(r.source.id).toBe(SOURCE.id);
              expect(typeof r.source.address).toBe('string');
              if (r.attrs) for (const v of Object.values(r.attrs)) expect(typeof v).toBe('string');
            }
          }
          const rejectTotal = [...byReason.values()].reduce((a, b) => a + b, 0);
          expect(recordTotal + rejectTotal).toBe(inTotal);
          fed += inTotal;
        },
      ),
      { numRuns: 200 },
    );
  });

  it('is deterministic: the same batches give the same ids and the same reasons in a fresh pipeline', () => {
    fc.assert(
      fc.property(fc.array(sampleArb, { minLength: 20, maxLength: 60 }), (raw) => {
        const batch = raw as RawSample[];
        const a = makePipeline().process(SOURCE, batch, T0);
        const b = makePipeline().process(SOURCE, batch, T0);
        expect(b.records.map((r) => r.id)).toEqual(a.records.map((r) => r.id));
        expect(b.rejects.map((r) => r.reason)).toEqual(a.rejects.map((r) => r.reason));
        fed += batch.length;
      }),
      { numRuns: 50 },
    );
  });

  it('accepts every finite number with a valid time for an unconstrained signal, unchanged', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), pastDate, (value, date) => {
        const { records, rejects } = makePipeline().process(
          SOURCE,
          [{ signal: 'lyon.plain', value, ts: date.toISOString(), address: 'a' }],
          T0,
        );
        expect(rejects).toEqual([]);
        expect(records[0]?.value).toBe(value === 0 ? 0 : value);
        expect(records[0]?.ts).toBe(date.toISOString());
      }),
      { numRuns: 500 },
    );
  });
});
