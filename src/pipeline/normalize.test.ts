// normalize through the Pipeline: value coercion per value_type, scaling, UCUM conversion, every timestamp
// form, the DST rule, quality mapping (OPC UA status codes), and the reason code of every kind of failure.
import { describe, expect, it } from 'vitest';
import type { SignalSpec } from '../config/kit/signal.js';
import type { RawSample, Reading } from '../model/records.js';
import { CONVERTED_SIGNIFICANT_DIGITS, qualityOf, roundConverted } from './normalize.js';
import { Pipeline, type Reject } from './pipeline.js';
import { SpecRegistry } from './specs.js';

const SOURCE = { id: 'press-1', type: 'opcua' };
const INGEST = Date.parse('2026-11-27T10:00:00.000Z');

const SIGNALS: SignalSpec[] = [
  { name: 'lyon.press1.pressure', unit: '[psi]', canonical_unit: 'bar' },
  { name: 'lyon.packer3.motor_temp', unit: '[degF]', canonical_unit: 'Cel' },
  { name: 'lyon.dryer.feed', unit: 'kg/h', canonical_unit: 'g/s' },
  { name: 'lyon.plain', value_type: 'number' },
  { name: 'lyon.count', value_type: 'integer' },
  { name: 'lyon.running', value_type: 'boolean' },
  { name: 'lyon.state', value_type: 'string' },
  { name: 'lyon.analog', scale: { raw: [0, 27648], eng: [0, 100] }, unit: '%' },
  { name: 'lyon.linear', scale: { factor: 0.1, offset: -50 } },
  { name: 'lyon.loop', scale: { raw: [4000, 20000], eng: [32, 212] }, unit: '[degF]', canonical_unit: 'Cel' },
  { name: 'lyon.scaled_count', value_type: 'integer', scale: { factor: 0.5 } },
  { name: 'lyon.gain', scale: { factor: 1000 } },
  // No value_type: the type the source declares (OPC UA DataType) decides, number when it declares none.
  { name: 'lyon.auto' },
];

function makePipeline(timezone = 'Europe/Paris'): Pipeline {
  const specs = new SpecRegistry([{ source: SOURCE, declarations: { exact: SIGNALS, patterns: [] } }]);
  return new Pipeline({ gatewayId: 'lyon-edge-01', timezone, maxFutureSkewMs: 5_000, specs });
}

function one(sample: Partial<RawSample> & { signal: string }, p = makePipeline()): Reading {
  const { records, rejects } = p.process(SOURCE, [{ address: 'ns=3;s=X', value: 1, ...sample }], INGEST);
  expect(rejects).toEqual([]);
  expect(records).toHaveLength(1);
  return records[0] as Reading;
}

function rejectOf(sample: Record<string, unknown>, p = makePipeline()): Reject {
  const { records, rejects } = p.process(
    SOURCE,
    [{ address: 'a', ...sample } as unknown as RawSample],
    INGEST,
  );
  expect(records).toEqual([]);
  expect(rejects).toHaveLength(1);
  const r = rejects[0] as Reject;
  expect(r.detail.length).toBeGreaterThan(10);
  expect(r.detail.length).toBeLessThan(400);
  return r;
}

describe('value coercion', () => {
  it.each([
    [42, 42],
    [-0, 0],
    [1.5e-300, 1.5e-300],
    ['12.5', 12.5],
    ['  -3e2 ', -300],
    ['.5', 0.5],
    ['7.', 7],
    [12n, 12],
    [BigInt(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ])('reads %s as the number %s', (raw, want) => {
    const r = one({ signal: 'lyon.plain', value: raw });
    expect(Object.is(r.value, want)).toBe(true);
  });

  it.each([
    [true, true],
    [false, false],
    [1, true],
    [0, false],
    [1n, true],
    [0n, false],
    ['true', true],
    [' FALSE ', false],
    ['1', true],
    ['0', false],
  ])('reads %s as the boolean %s', (raw, want) => {
    expect(one({ signal: 'lyon.running', value: raw }).value).toBe(want);
  });

  it.each([
    ['RUN', 'RUN'],
    ['', ''],
    [3, '3'],
    [true, 'true'],
    [5n, '5'],
  ])('reads %s as the string %s', (raw, want) => {
    expect(one({ signal: 'lyon.state', value: raw }).value).toBe(want);
  });

  it('accepts integers for integer signals and refuses fractions and unsafe magnitudes', () => {
    expect(one({ signal: 'lyon.count', value: '4294967295' }).value).toBe(4294967295);
    expect(one({ signal: 'lyon.count', value: 12.0 }).value).toBe(12);
    expect(one({ signal: 'lyon.scaled_count', value: 10 }).value).toBe(5);
    expect(rejectOf({ signal: 'lyon.count', value: 12.5 }).reason).toBe('not_integer');
    expect(rejectOf({ signal: 'lyon.count', value: 2 ** 60 }).reason).toBe('not_integer');
    expect(rejectOf({ signal: 'lyon.scaled_count', value: 3 }).reason).toBe('not_integer');
  });

  it.each([
    [Number.NaN, 'not_finite'],
    [Number.POSITIVE_INFINITY, 'not_finite'],
    [Number.NEGATIVE_INFINITY, 'not_finite'],
    ['NaN', 'not_finite'],
    ['-Infinity', 'not_finite'],
    ['1e999', 'not_finite'],
    ['abc', 'unparseable'],
    ['', 'unparseable'],
    ['12,5', 'unparseable'],
    ['0x1F', 'unparseable'],
    ['1.2.3', 'unparseable'],
    ['9'.repeat(300), 'unparseable'],
    [{}, 'bad_type'],
    [[1], 'bad_type'],
    [null, 'bad_type'],
    [undefined, 'bad_type'],
    [true, 'bad_type'],
    [new Date(), 'bad_type'],
    [Symbol('x'), 'bad_type'],
    [() => 1, 'bad_type'],
  ])('rejects %s for a number signal as %s', (value, reason) => {
    expect(rejectOf({ signal: 'lyon.plain', value }).reason).toBe(reason);
  });

  it.each([
    [2, 'unparseable'],
    [-1, 'unparseable'],
    [Number.NaN, 'not_finite'],
    [2n, 'unparseable'],
    ['yes', 'unparseable'],
    ['x'.repeat(1000), 'unparseable'],
    [{ v: true }, 'bad_type'],
    [null, 'bad_type'],
  ])('rejects %s for a boolean signal as %s', (value, reason) => {
    expect(rejectOf({ signal: 'lyon.running', value }).reason).toBe(reason);
  });

  it.each([
    [Number.NaN, 'not_finite'],
    [{}, 'bad_type'],
    [['a'], 'bad_type'],
    [null, 'bad_type'],
  ])('rejects %s for a string signal as %s', (value, reason) => {
    expect(rejectOf({ signal: 'lyon.state', value }).reason).toBe(reason);
  });

  it('rejects unknown signals, samples that are not objects and non-string addresses', () => {
    expect(rejectOf({ signal: 'lyon.nope', value: 1 }).reason).toBe('unknown_signal');
    expect(rejectOf({ signal: 42, value: 1 }).reason).toBe('unknown_signal');
    expect(rejectOf({ signal: 'lyon.plain', value: 1, address: 7 }).reason).toBe('bad_type');
    const p = makePipeline();
    const { rejects } = p.process(SOURCE, [null, 7, 'x'] as unknown as RawSample[], INGEST);
    expect(rejects.map((r) => r.reason)).toEqual(['bad_type', 'bad_type', 'bad_type']);
  });

  it('rejects attributes that are not an object of strings and drops empty ones', () => {
    expect(rejectOf({ signal: 'lyon.plain', value: 1, attrs: { lot: 5 } }).reason).toBe('bad_type');
    expect(rejectOf({ signal: 'lyon.plain', value: 1, attrs: ['a'] }).reason).toBe('bad_type');
    expect(rejectOf({ signal: 'lyon.plain', value: 1, attrs: 'lot=5' }).reason).toBe('bad_type');
    expect(rejectOf({ signal: 'lyon.plain', value: 1, attrs: new Map() }).reason).toBe('bad_type');
    expect(one({ signal: 'lyon.plain', attrs: {} })).not.toHaveProperty('attrs');
    expect(one({ signal: 'lyon.plain', attrs: { lot: 'L7' } }).attrs).toEqual({ lot: 'L7' });
  });
});

describe('scaling and unit conversion', () => {
  it.each([
    ['lyon.press1.pressure', 100, 6.89475729317, 'bar'],
    ['lyon.press1.pressure', 14.5038, 1.00000180829, 'bar'],
    ['lyon.press1.pressure', 0, 0, 'bar'],
    ['lyon.packer3.motor_temp', 212, 100, 'Cel'],
    ['lyon.packer3.motor_temp', 32, 0, 'Cel'],
    ['lyon.packer3.motor_temp', 98.6, 37, 'Cel'],
    ['lyon.packer3.motor_temp', -40, -40, 'Cel'],
    ['lyon.packer3.motor_temp', 32.0018, 0.001, 'Cel'],
    ['lyon.dryer.feed', 3.6, 1, 'g/s'],
    ['lyon.dryer.feed', 36, 10, 'g/s'],
    ['lyon.dryer.feed', 1, 0.277777777778, 'g/s'],
    ['lyon.analog', 13824, 50, '%'],
    ['lyon.analog', 27648, 100, '%'],
    ['lyon.analog', 1, 0.00361689814815, '%'],
    ['lyon.linear', 1234, 73.4, undefined],
    ['lyon.linear', -3, -50.3, undefined],
    ['lyon.loop', 12000, 50, 'Cel'],
    ['lyon.loop', 4000, 0, 'Cel'],
  ] as const)('%s: %d becomes %d %s', (signal, raw, want, unit) => {
    const r = one({ signal, value: raw });
    expect(r.value).toBe(want);
    if (unit === undefined) expect(r).not.toHaveProperty('unit');
    else expect(r.unit).toBe(unit);
  });

  it('rounds to 12 significant digits against the larger of the value and the conversion intercept', () => {
    expect(CONVERTED_SIGNIFICANT_DIGITS).toBe(12);
    expect(roundConverted(100.00000000000338, 17.7)).toBe(100);
    expect(roundConverted(5.400124791776761e-13, 17.77)).toBe(0);
    expect(roundConverted(-40.0000000000006, 17.77)).toBe(-40);
    expect(roundConverted(0.2777777777777778, 0)).toBe(0.277777777778);
    expect(roundConverted(-0.2777777777777778, 0)).toBe(-0.277777777778);
    expect(roundConverted(1.23456789012345e-15, 0)).toBe(1.23456789012e-15);
    expect(roundConverted(123456789012345.6, 0)).toBe(123456789012000);
    expect(roundConverted(1.2345678901234e300, 0)).toBe(1.23456789012e300);
  });

  it('rejects a value that overflows when scaled', () => {
    expect(rejectOf({ signal: 'lyon.gain', value: Number.MAX_VALUE / 10 }).reason).toBe('not_finite');
    expect(one({ signal: 'lyon.gain', value: 1.5 }).value).toBe(1500);
  });
});

describe('timestamps', () => {
  const at = (ts: unknown, extra: Record<string, unknown> = {}, p?: Pipeline) =>
    one({ signal: 'lyon.plain', ts: ts as RawSample['ts'], ...extra }, p).ts;

  it('reads every accepted form', () => {
    expect(at(1774747800123)).toBe('2026-03-29T01:30:00.123Z');
    expect(at(1774747800123.9)).toBe('2026-03-29T01:30:00.123Z');
    expect(at(1774747800, { ts_unit: 's' })).toBe('2026-03-29T01:30:00.000Z');
    expect(at(1774747800.25, { ts_unit: 's' })).toBe('2026-03-29T01:30:00.250Z');
    expect(at(1774747800123, { ts_unit: 'ms' })).toBe('2026-03-29T01:30:00.123Z');
    expect(at(1774747800123n)).toBe('2026-03-29T01:30:00.123Z');
    expect(at(new Date('2026-03-29T01:30:00.123Z'))).toBe('2026-03-29T01:30:00.123Z');
    expect(at('2026-03-29T01:30:00.123Z')).toBe('2026-03-29T01:30:00.123Z');
    expect(at('2026-03-29T03:30:00.123+02:00')).toBe('2026-03-29T01:30:00.123Z');
    expect(at('2026-03-29T03:30:00.123+02:00', { ts_local: true })).toBe('2026-03-29T01:30:00.123Z');
    expect(at('2026-07-01T12:00:00')).toBe('2026-07-01T12:00:00.000Z');
    expect(at('2026-07-01T12:00:00', { ts_local: false })).toBe('2026-07-01T12:00:00.000Z');
    expect(at(undefined)).toBe('2026-11-27T10:00:00.000Z');
    expect(at(0)).toBe('1970-01-01T00:00:00.000Z');
  });

  it('parses a timestamp text shared by the samples of one message once, and never mixes up local and UTC', () => {
    const p = makePipeline();
    const text = '2026-07-01T12:00:00';
    const samples: RawSample[] = [
      { signal: 'lyon.plain', value: 1, ts: text, address: 'a' },
      { signal: 'lyon.plain', value: 2, ts: text, ts_local: true, address: 'a' },
      { signal: 'lyon.plain', value: 3, ts: text, address: 'a' },
      { signal: 'lyon.plain', value: 4, ts: '2026-07-01T12:00:01', address: 'a' },
      { signal: 'lyon.plain', value: 5, ts: 'not a time', address: 'a' },
      { signal: 'lyon.plain', value: 6, ts: text, ts_local: true, address: 'a' },
    ];
    const { records, rejects } = p.process(SOURCE, samples, INGEST);
    expect(records.map((r) => [r.value, r.ts])).toEqual([
      [1, '2026-07-01T12:00:00.000Z'],
      [2, '2026-07-01T10:00:00.000Z'],
      [3, '2026-07-01T12:00:00.000Z'],
      [4, '2026-07-01T12:00:01.000Z'],
      [6, '2026-07-01T10:00:00.000Z'],
    ]);
    expect(rejects.map((r) => r.reason)).toEqual(['bad_timestamp']);
  });

  it('reads local time in the site zone: a normal time, the DST gap and the DST overlap', () => {
    expect(at('2026-07-01T12:00:00', { ts_local: true })).toBe('2026-07-01T10:00:00.000Z');
    expect(at('2026-01-15T12:00:00', { ts_local: true })).toBe('2026-01-15T11:00:00.000Z');
    // Gap: 02:30 does not exist; shifted forward by the gap length to 03:30 CEST.
    expect(at('2026-03-29T02:30:00', { ts_local: true })).toBe('2026-03-29T01:30:00.000Z');
    // Overlap: 02:30 happens twice; the earlier instant (still CEST) is taken.
    expect(at('2026-10-25T02:30:00', { ts_local: true })).toBe('2026-10-25T00:30:00.000Z');
    const tokyo = makePipeline('Asia/Tokyo');
    expect(at('2026-03-29T02:30:00', { ts_local: true }, tokyo)).toBe('2026-03-28T17:30:00.000Z');
    expect(at('2026-10-25T02:30:00', { ts_local: true }, tokyo)).toBe('2026-10-24T17:30:00.000Z');
  });

  it.each([
    ['garbage'],
    [''],
    ['2026-02-30T00:00:00Z'],
    ['2026-03-29'],
    ['1774747800123'],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [1e20],
    [-1e16],
    [2n ** 64n],
    [new Date(Number.NaN)],
    [null],
    [true],
    [{ seconds: 1 }],
    [[2026, 3, 29]],
  ])('rejects the timestamp %s as bad_timestamp', (ts) => {
    expect(rejectOf({ signal: 'lyon.plain', value: 1, ts }).reason).toBe('bad_timestamp');
  });

  it('rejects a bad ts_unit or ts_local, and years beyond 9999 or before 0000', () => {
    expect(rejectOf({ signal: 'lyon.plain', value: 1, ts: 1, ts_unit: 'us' }).reason).toBe('bad_timestamp');
    expect(rejectOf({ signal: 'lyon.plain', value: 1, ts: 'x', ts_local: 'yes' }).reason).toBe(
      'bad_timestamp',
    );
    expect(rejectOf({ signal: 'lyon.plain', value: 1, ts: 253402300800000 }).reason).toBe('bad_timestamp');
    expect(rejectOf({ signal: 'lyon.plain', value: 1, ts: '0000-01-01T00:30:00+01:00' }).reason).toBe(
      'bad_timestamp',
    );
  });
});

describe('quality', () => {
  // OPC UA status codes are decoded by the OPC UA adapter (adapters/opcua/values.test.ts): a raw code is no status.
  it.each([
    [undefined, 'good'],
    ['good', 'good'],
    ['uncertain', 'uncertain'],
    ['bad', 'bad'],
  ] as const)('maps status %s to %s', (status, quality) => {
    expect(qualityOf(status)).toBe(quality);
    expect(one({ signal: 'lyon.plain', status: status as RawSample['status'] }).quality).toBe(quality);
  });

  it.each([
    [0],
    [0x80310000],
    [0x80000000n],
    [-1],
    [0x100000000],
    [1.5],
    [Number.NaN],
    ['Good'],
    ['ok'],
    [''],
    [null],
    [{ value: 0 }],
    [true],
  ])('rejects the status %s as bad_status', (status) => {
    expect(qualityOf(status)).toBeUndefined();
    expect(rejectOf({ signal: 'lyon.plain', value: 1, status }).reason).toBe('bad_status');
  });
});

describe('records', () => {
  it('carries source, address, canonical unit, ingest time and attributes', () => {
    const r = one({
      signal: 'lyon.press1.pressure',
      value: 100,
      ts: '2026-03-29T01:30:00.123Z',
      address: 'ns=3;s=Press1.Hydraulic.Pressure',
      attrs: { work_order: 'WO-1001' },
    });
    expect(r).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
      kind: 'reading',
      signal: 'lyon.press1.pressure',
      value: 6.89475729317,
      unit: 'bar',
      ts: '2026-03-29T01:30:00.123Z',
      ingest_ts: '2026-11-27T10:00:00.000Z',
      quality: 'good',
      source: { id: 'press-1', type: 'opcua', address: 'ns=3;s=Press1.Hydraulic.Pressure' },
      attrs: { work_order: 'WO-1001' },
    });
  });
});

// The shared rule for 64-bit integers (OPC UA Int64/UInt64, Modbus int64/uint64): exact on both sides of 2^53.
describe('64-bit integers', () => {
  const TWO53 = 2n ** 53n;
  it.each([
    [TWO53 - 1n, Number.MAX_SAFE_INTEGER],
    [-(TWO53 - 1n), -Number.MAX_SAFE_INTEGER],
    [0n, 0],
  ])('a bigint within ±(2^53-1) (%s) is a plain number', (raw, want) => {
    for (const signal of ['lyon.plain', 'lyon.count', 'lyon.auto']) {
      const r = one({ signal, value: raw });
      expect(r.value).toBe(want);
      expect(r.value_type).toBeUndefined();
    }
  });

  it.each([
    [TWO53, '9007199254740992'],
    [TWO53 + 1n, '9007199254740993'],
    [-TWO53, '-9007199254740992'],
    [2n ** 63n - 1n, '9223372036854775807'],
    [-(2n ** 63n), '-9223372036854775808'],
    [2n ** 64n - 1n, '18446744073709551615'],
    [2n ** 70n, '1180591620717411303424'],
  ])('a bigint beyond ±(2^53-1) (%s) is its exact decimal text with value_type integer', (raw, want) => {
    for (const signal of ['lyon.plain', 'lyon.count', 'lyon.auto']) {
      const r = one({ signal, value: raw });
      expect(r.value).toBe(want);
      expect(r.value_type).toBe('integer');
    }
  });

  it('keeps neighbours apart: 2^53 and 2^53+1 are two readings with two ids', () => {
    const a = one({ signal: 'lyon.count', value: TWO53 });
    const b = one({ signal: 'lyon.count', value: TWO53 + 1n });
    expect(a.value).not.toBe(b.value);
    expect(a.id).not.toBe(b.id);
    // Number() would make both 9007199254740992.
    expect(Number(TWO53)).toBe(Number(TWO53 + 1n));
  });

  it('keeps integer text beyond 2^53 exact for integer signals (MQTT, replays)', () => {
    const r = one({ signal: 'lyon.count', value: '18446744073709551615' });
    expect(r).toMatchObject({ value: '18446744073709551615', value_type: 'integer' });
    expect(one({ signal: 'lyon.count', value: ' 9007199254740991 ' }).value).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('scales a big integer through a float: the result is a number', () => {
    const r = one({ signal: 'lyon.linear', value: 2n ** 60n });
    expect(typeof r.value).toBe('number');
    expect(r.value).toBe(Number(2n ** 60n) * 0.1 - 50);
    expect(r.value_type).toBeUndefined();
  });
});

describe('types declared by the source (RawSample.value_type)', () => {
  it('reads a value as the type the source declares when the signal has no value_type', () => {
    expect(one({ signal: 'lyon.auto', value: true, value_type: 'boolean' }).value).toBe(true);
    expect(one({ signal: 'lyon.auto', value: 'LOT-0042', value_type: 'string' }).value).toBe('LOT-0042');
    expect(one({ signal: 'lyon.auto', value: '2026-11-27T09:59:58.500Z', value_type: 'string' }).value).toBe(
      '2026-11-27T09:59:58.500Z',
    );
    expect(one({ signal: 'lyon.auto', value: 7, value_type: 'integer' }).value).toBe(7);
    expect(rejectOf({ signal: 'lyon.auto', value: 7.5, value_type: 'integer' }).reason).toBe('not_integer');
    // Without a declared type, a text that is no number is still unparseable for an undeclared signal.
    expect(rejectOf({ signal: 'lyon.auto', value: 'LOT-0042' }).reason).toBe('unparseable');
    expect(rejectOf({ signal: 'lyon.auto', value: true }).reason).toBe('bad_type');
  });

  it('lets an explicit value_type override the declared type', () => {
    expect(one({ signal: 'lyon.state', value: 3, value_type: 'integer' }).value).toBe('3');
    expect(one({ signal: 'lyon.count', value: '12', value_type: 'string' }).value).toBe(12);
    expect(rejectOf({ signal: 'lyon.count', value: true, value_type: 'boolean' }).reason).toBe('bad_type');
  });

  it('ignores a declared type that is not one of the four', () => {
    expect(one({ signal: 'lyon.auto', value: 5, value_type: 'weird' as never }).value).toBe(5);
  });
});
