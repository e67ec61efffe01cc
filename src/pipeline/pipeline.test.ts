// Pipeline.process as a whole: content-derived ids, every reason code reachable, internal errors contained,
// exactly one outcome per sample, and spec reloads.
import { describe, expect, it } from 'vitest';
import type { SignalSpec } from '../config/kit/signal.js';
import { type RawSample, type Reading, readingId } from '../model/records.js';
import {
  isReasonCode,
  Pipeline,
  REASON_CODES,
  REASONS,
  type ReasonCode,
  type Reject,
  readingTsMs,
} from './pipeline.js';
import { SpecRegistry } from './specs.js';

const SOURCE = { id: 'press-1', type: 'opcua' };
const T0 = Date.parse('2026-11-27T10:00:00.000Z');

const SIGNALS: SignalSpec[] = [
  {
    name: 'lyon.press1.pressure',
    unit: '[psi]',
    canonical_unit: 'bar',
    range: [0, 400],
    max_rate_of_change: 100,
  },
  { name: 'lyon.press1.mode', value_type: 'string', enum: ['RUN', 'STOP'], max_length: 4 },
  { name: 'lyon.press1.count', value_type: 'integer', required_attrs: ['work_order'] },
  { name: 'lyon.press1.running', value_type: 'boolean' },
];

function registry(signals = SIGNALS): SpecRegistry {
  return new SpecRegistry([{ source: SOURCE, declarations: { exact: signals, patterns: [] } }]);
}

function makePipeline(gatewayId = 'lyon-edge-01'): Pipeline {
  return new Pipeline({ gatewayId, timezone: 'Europe/Paris', maxFutureSkewMs: 5_000, specs: registry() });
}

const sample = (s: Partial<RawSample>): RawSample => ({
  signal: 'lyon.press1.pressure',
  value: 100,
  ts: '2026-11-27T09:59:00.000Z',
  address: 'ns=3;s=P',
  ...s,
});

function only(p: Pipeline, s: RawSample): Reading {
  const { records, rejects } = p.process(SOURCE, [s], T0);
  expect(rejects).toEqual([]);
  return records[0] as Reading;
}

describe('reading ids', () => {
  it('are the same for the same content, whenever and however often it is processed', () => {
    const a = only(makePipeline(), sample({}));
    const b = only(makePipeline(), sample({}));
    const p = makePipeline();
    const c = p.process(SOURCE, [sample({}), sample({})], T0 + 60_000).records;
    expect(a.id).toMatch(/^[0-9a-f]{32}$/);
    expect(b.id).toBe(a.id);
    expect(c.map((r) => r.id)).toEqual([a.id, a.id]);
    // The same instant written another way, and another address or status, do not change the id.
    expect(only(makePipeline(), sample({ ts: '2026-11-27T10:59:00+01:00' })).id).toBe(a.id);
    expect(only(makePipeline(), sample({ ts: Date.parse('2026-11-27T09:59:00Z') })).id).toBe(a.id);
    expect(only(makePipeline(), sample({ address: 'other', status: 'uncertain' })).id).toBe(a.id);
    expect(a.id).toBe(readingId('lyon-edge-01', a.signal, a.ts, a.value));
  });

  it('change with the signal, the time, the canonical value and the gateway', () => {
    const base = only(makePipeline(), sample({})).id;
    const ids = [
      only(makePipeline(), sample({ signal: 'lyon.press1.count', value: 100, attrs: { work_order: 'w' } }))
        .id,
      only(makePipeline(), sample({ ts: '2026-11-27T09:59:00.001Z' })).id,
      only(makePipeline(), sample({ value: 100.0001 })).id,
      only(makePipeline('lyon-edge-02'), sample({})).id,
    ];
    for (const id of ids) expect(id).not.toBe(base);
    expect(new Set(ids).size).toBe(ids.length);
    // Value and type both count: "1" and 1 and true are different values.
    expect(readingId('g', 's', 't', 1)).not.toBe(readingId('g', 's', 't', '1'));
    expect(readingId('g', 's', 't', 1)).not.toBe(readingId('g', 's', 't', true));
  });

  it('format each timestamp per sample (the last formatted one is only reused when equal)', () => {
    const p = makePipeline();
    const { records } = p.process(
      SOURCE,
      [sample({ ts: 1000 }), sample({ ts: 1000 }), sample({ ts: 2000 }), sample({ ts: 1000 })],
      T0,
    );
    expect(records.map((r) => r.ts)).toEqual([
      '1970-01-01T00:00:01.000Z',
      '1970-01-01T00:00:01.000Z',
      '1970-01-01T00:00:02.000Z',
      '1970-01-01T00:00:01.000Z',
    ]);
  });
});

describe('reason codes', () => {
  it('have a sentence each and are recognised', () => {
    for (const code of REASON_CODES) {
      expect(REASONS[code]).toMatch(/^[A-Z].+\.$/);
      expect(isReasonCode(code)).toBe(true);
    }
    expect(isReasonCode('toString')).toBe(false);
    expect(isReasonCode('nope')).toBe(false);
  });

  it('are each produced by some sample', () => {
    const p = makePipeline();
    const cases: Array<[ReasonCode, RawSample]> = [
      ['unknown_signal', sample({ signal: 'lyon.nope' })],
      ['bad_type', sample({ value: { v: 1 } })],
      ['not_finite', sample({ value: Number.NaN })],
      ['unparseable', sample({ value: 'abc' })],
      ['not_integer', sample({ signal: 'lyon.press1.count', value: 1.5, attrs: { work_order: 'w' } })],
      ['bad_timestamp', sample({ ts: 'yesterday' })],
      ['bad_status', sample({ status: 'ok' as never })],
      ['out_of_range', sample({ value: 1e6 })],
      ['not_in_enum', sample({ signal: 'lyon.press1.mode', value: 'SET' })],
      ['missing_attr', sample({ signal: 'lyon.press1.count', value: 1 })],
      ['clock_skew', sample({ ts: T0 + 60_000 })],
      ['too_long', sample({ signal: 'lyon.press1.mode', value: 'STOPPED' })],
      ['internal_error', poisoned()],
    ];
    for (const [reason, s] of cases) {
      const { records, rejects } = p.process(SOURCE, [s], T0);
      expect(records, reason).toEqual([]);
      expect(rejects.map((r) => r.reason)).toEqual([reason]);
      expect((rejects[0] as Reject).sample).toBe(s);
    }
    // rate_of_change needs a reference first: 0 -> 300 bar in one second.
    const first = sample({ value: 0, ts: T0 - 2000 });
    const jump = sample({ value: 300 / 0.0689475729317, ts: T0 - 1000 });
    expect(p.process(SOURCE, [first, jump], T0).rejects.map((r) => r.reason)).toEqual(['rate_of_change']);
    const covered = new Set([...cases.map(([r]) => r), 'rate_of_change']);
    expect([...REASON_CODES].filter((c) => !covered.has(c))).toEqual([]);
  });
});

/** A sample whose value getter throws: stands for any bug met while handling one sample. */
function poisoned(): RawSample {
  const s = sample({});
  Object.defineProperty(s, 'value', {
    get() {
      throw new Error('boom');
    },
  });
  return s;
}

describe('robustness', () => {
  it('contains a failure to one sample and carries on with the rest', () => {
    const p = makePipeline();
    const good = sample({});
    const { records, rejects } = p.process(SOURCE, [good, poisoned(), good], T0);
    expect(records).toHaveLength(2);
    expect(rejects.map((r) => [r.reason, r.detail])).toEqual([
      ['internal_error', 'Handling the sample failed unexpectedly (Error: boom).'],
    ]);
  });

  it('survives throwing proxies, unprintable errors and a throwing source', () => {
    const p = makePipeline();
    const hostile = new Proxy(
      {},
      {
        get() {
          throw Object.create(null); // not printable by String()
        },
      },
    ) as RawSample;
    const { records, rejects } = p.process(SOURCE, [hostile, sample({})], T0);
    expect(records).toHaveLength(1);
    expect(rejects.map((r) => r.reason)).toEqual(['internal_error']);
    expect(rejects[0]?.detail).toContain('unprintable');
    const badSource = new Proxy(
      { id: 'x', type: 'y' },
      {
        get() {
          throw new TypeError('no');
        },
      },
    );
    const out = p.process(badSource, [sample({}), sample({ signal: 'lyon.nope' })], T0);
    expect(out.records).toEqual([]);
    expect(out.rejects.map((r) => r.reason)).toEqual(['internal_error', 'unknown_signal']);
  });

  it('sends every sample to quarantine as internal_error when the ingest time itself is invalid', () => {
    const p = makePipeline();
    for (const ingest of [Number.NaN, Number.POSITIVE_INFINITY, 1e17]) {
      const { records, rejects } = p.process(SOURCE, [sample({}), sample({})], ingest);
      expect(records).toEqual([]);
      expect(rejects.map((r) => r.reason)).toEqual(['internal_error', 'internal_error']);
    }
  });

  it('gives each reading its epoch ms, outside its JSON: the record is exactly the canonical one', () => {
    const p = makePipeline();
    const ts = Date.parse('2026-11-27T09:59:00.250Z');
    const r = only(p, sample({ ts: '2026-11-27T10:59:00.250+01:00' }));
    expect(readingTsMs(r)).toBe(ts);
    expect(Object.keys(r)).toEqual([
      'id',
      'kind',
      'signal',
      'value',
      'ts',
      'ingest_ts',
      'quality',
      'source',
      'unit',
    ]);
    expect(JSON.parse(JSON.stringify(r))).toEqual({ ...r });
    expect(JSON.stringify(r)).toBe(JSON.stringify({ ...r }));
    // A reading made elsewhere (a test, a tool, a parsed journal entry) has its `ts` parsed instead.
    expect(readingTsMs({ ...r })).toBe(ts);
    expect(readingTsMs(JSON.parse(JSON.stringify(r)) as Reading)).toBe(ts);
  });

  it('handles an empty batch', () => {
    expect(makePipeline().process(SOURCE, [], T0)).toEqual({ records: [], rejects: [] });
  });

  it('applies reloaded specs and keeps the rate-of-change reference', () => {
    const p = makePipeline();
    expect(p.process(SOURCE, [sample({ signal: 'lyon.new', value: 1 })], T0).rejects[0]?.reason).toBe(
      'unknown_signal',
    );
    p.process(SOURCE, [sample({ value: 0, ts: T0 - 2000 })], T0);
    p.replaceSpecs(registry([...SIGNALS, { name: 'lyon.new' }]));
    expect(p.process(SOURCE, [sample({ signal: 'lyon.new', value: 1 })], T0).records).toHaveLength(1);
    const jump = sample({ value: 300 / 0.0689475729317, ts: T0 - 1000 });
    expect(p.process(SOURCE, [jump], T0).rejects.map((r) => r.reason)).toEqual(['rate_of_change']);
  });

  it('refuses an unknown time zone at construction', () => {
    expect(
      () => new Pipeline({ gatewayId: 'g', timezone: 'Mars/Olympus', maxFutureSkewMs: 0, specs: registry() }),
    ).toThrow(/unknown time zone/);
  });
});
