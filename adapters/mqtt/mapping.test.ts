// Payload mapping of the MQTT source: every payload form, topic segments in names, timestamps, attributes,
// and every kind of bad payload with its reason; a fast-check fuzz proves it never throws.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mqttSubscriptionSchema } from './config.js';
import {
  type MapResult,
  SubscriptionMapper,
  sanitizeSegment,
  templatePattern,
  topicMatches,
} from './mapping.js';

const MAX = 256 * 1024;

function mapper(sub: Record<string, unknown>): SubscriptionMapper {
  return new SubscriptionMapper(mqttSubscriptionSchema.parse(sub));
}

function run(m: SubscriptionMapper, topic: string, payload: string | Uint8Array, max = MAX): MapResult {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return m.map(topic, topic.split('/'), bytes, max);
}

function ok(r: MapResult) {
  if (!r.ok) throw new Error(`expected samples, got ${r.reason}: ${r.detail}`);
  return r.samples;
}

const line = mapper({
  topic: 'lyon/line2/+/telemetry',
  signal: 'lyon.line2.{topic[2]}.{key}',
  timestamp: { field: 'ts' },
});

describe('JSON payloads', () => {
  it('names every sample right past the bounds of the remembered names (topics and keys)', () => {
    const m = mapper({ topic: 'lyon/+/+/telemetry', signal: 'lyon.{topic[1]}.{topic[2]}.{key}' });
    const keys = Array.from({ length: 70 }, (_, k) => `K-${k}`);
    const payload = JSON.stringify(Object.fromEntries(keys.map((k, i) => [k, i])));
    for (let round = 0; round < 2; round++) {
      for (let t = 0; t < 1100; t++) {
        const topic = `lyon/Line${t % 13}/M.${t}/telemetry`;
        const s = ok(run(m, topic, payload));
        expect(s.map((x) => x.signal)).toEqual(keys.map((k) => `lyon.line${t % 13}.m_${t}.k_${k.slice(2)}`));
      }
    }
    // A topic too short for the template is refused every time, remembered or not.
    const short = mapper({ topic: 'lyon/#', signal: 'lyon.{topic[3]}.{key}' });
    for (let i = 0; i < 2; i++)
      expect(run(short, 'lyon/x', '{"a": 1}')).toMatchObject({ reason: 'missing_field' });
  });

  it('maps an object of many values, one sample per key, named from topic level and key', () => {
    const s = ok(
      run(
        line,
        'lyon/line2/press1/telemetry',
        '{"ts": 1700000000123, "speed": 12.3, "temp": 45.6, "count": 1234}',
      ),
    );
    expect(s.map((x) => [x.signal, x.value])).toEqual([
      ['lyon.line2.press1.speed', 12.3],
      ['lyon.line2.press1.temp', 45.6],
      ['lyon.line2.press1.count', 1234],
    ]);
    for (const x of s) {
      expect(x.ts).toBe(1700000000123);
      expect(x.ts_unit).toBe('ms');
      expect(x.address).toBe('lyon/line2/press1/telemetry');
      expect(x.raw).toContain('"speed": 12.3');
      expect(x.ts_local).toBeUndefined();
    }
  });

  it('sanitizes topic levels and keys to one lowercase segment each', () => {
    const s = ok(run(line, 'lyon/line2/Press-1.A/telemetry', '{"ts": 1700000000, "Motor Temp.°C": 1}'));
    expect(s[0]?.signal).toBe('lyon.line2.press_1_a.motor_temp__c');
    expect(sanitizeSegment('')).toBe('_');
  });

  it('maps a single JSON value and a value_field', () => {
    const single = mapper({ topic: 'a/+/v', signal: 'site.{topic[1]}.value' });
    expect(ok(run(single, 'a/m1/v', '42.5'))[0]).toMatchObject({ signal: 'site.m1.value', value: 42.5 });
    expect(ok(run(single, 'a/m1/v', 'true'))[0]?.value).toBe(true);
    expect(ok(run(single, 'a/m1/v', '"RUNNING"'))[0]?.value).toBe('RUNNING');

    const vf = mapper({
      topic: 'a/+/v',
      signal: 'site.{topic[1]}.{key}',
      value_field: 'data.v',
      timestamp: { field: 'data.t' },
    });
    const s = ok(run(vf, 'a/m2/v', '{"data": {"v": 7, "t": "2026-03-29T02:30:00"}, "other": 1}'));
    expect(s).toHaveLength(1);
    expect(s[0]).toMatchObject({ signal: 'site.m2.v', value: 7, ts: '2026-03-29T02:30:00' });
  });

  it('maps arrays of samples, each with its own timestamp', () => {
    const s = ok(
      run(
        line,
        'lyon/line2/filler2/telemetry',
        '[{"ts": 1700000000000, "speed": 1}, {"ts": 1700000001000, "speed": 2, "temp": 3}]',
      ),
    );
    expect(s.map((x) => [x.signal, x.value, x.ts])).toEqual([
      ['lyon.line2.filler2.speed', 1, 1700000000000],
      ['lyon.line2.filler2.speed', 2, 1700000001000],
      ['lyon.line2.filler2.temp', 3, 1700000001000],
    ]);
    const bare = mapper({ topic: 'x/y', signal: 'x.y.{key}' });
    expect(ok(run(bare, 'x/y', '[1, 2, 3]')).map((x) => [x.signal, x.value])).toEqual([
      ['x.y.value', 1],
      ['x.y.value', 2],
      ['x.y.value', 3],
    ]);
  });

  it('reads timestamps as epoch s or ms (auto by magnitude or forced), numeric strings, and ISO with or without offset', () => {
    const t = (ts: unknown, unit?: string, local?: boolean) => {
      const m = mapper({
        topic: 'x/y',
        signal: 'x.y.{key}',
        timestamp: {
          field: 'ts',
          ...(unit ? { unit } : {}),
          ...(local !== undefined ? { local_time: local } : {}),
        },
      });
      return ok(run(m, 'x/y', JSON.stringify({ ts, v: 1 })))[0];
    };
    expect(t(1700000000)).toMatchObject({ ts: 1700000000, ts_unit: 's' });
    expect(t(1700000000.5)).toMatchObject({ ts: 1700000000.5, ts_unit: 's' });
    expect(t(1700000000000)).toMatchObject({ ts: 1700000000000, ts_unit: 'ms' });
    expect(t(1700000000, 'ms')).toMatchObject({ ts: 1700000000, ts_unit: 'ms' });
    expect(t(1700000000000, 's')).toMatchObject({ ts_unit: 's' });
    expect(t('1700000000123')).toMatchObject({ ts: 1700000000123, ts_unit: 'ms' });
    expect(t('2026-11-27T10:00:00.123Z')).toMatchObject({ ts: '2026-11-27T10:00:00.123Z' });
    expect(t('2026-11-27T10:00:00+01:00')).toMatchObject({ ts: '2026-11-27T10:00:00+01:00' });
    const local = t('2026-10-25 02:30:00', undefined, true);
    expect(local).toMatchObject({ ts: '2026-10-25 02:30:00', ts_local: true });
    expect(local?.ts_unit).toBeUndefined();
  });

  it('takes attributes from payload fields and topic levels, and leaves them out of the values', () => {
    const m = mapper({
      topic: 'lyon/+/+/data',
      signal: 'lyon.{topic[1]}.{key}',
      attrs_from: { work_order: 'meta.wo', machine: 'topic[2]', lot: 'lot' },
      ignore_fields: ['seq'],
    });
    const s = ok(
      run(m, 'lyon/line2/press1/data', '{"meta": {"wo": "WO-1001"}, "lot": 77, "seq": 9, "pressure": 3.2}'),
    );
    expect(s).toEqual([
      expect.objectContaining({
        signal: 'lyon.line2.pressure',
        value: 3.2,
        attrs: { machine: 'press1', work_order: 'WO-1001', lot: '77' },
      }),
    ]);
  });
});

describe('number and text payloads', () => {
  it('reads plain numbers', () => {
    const m = mapper({
      topic: 'p/+/temp',
      signal: 'lyon.{topic[1]}.temp',
      payload: 'number',
      attrs_from: { m: 'topic[1]' },
    });
    expect(ok(run(m, 'p/oven1/temp', ' 215.5\n'))[0]).toMatchObject({
      signal: 'lyon.oven1.temp',
      value: 215.5,
      attrs: { m: 'oven1' },
    });
    expect(ok(run(m, 'p/oven1/temp', '-1e3'))[0]?.value).toBe(-1000);
    expect(run(m, 'p/oven1/temp', 'hot')).toMatchObject({ ok: false, reason: 'unparseable' });
    expect(run(m, 'p/oven1/temp', '')).toMatchObject({ ok: false, reason: 'unparseable' });
  });

  it('reads text as is', () => {
    const m = mapper({ topic: 'p/+/state', signal: 'lyon.{topic[1]}.state', payload: 'text' });
    expect(ok(run(m, 'p/oven1/state', 'RUNNING'))[0]).toMatchObject({ value: 'RUNNING', raw: 'RUNNING' });
  });
});

describe('bad payloads', () => {
  const cases: Array<[string, string, string]> = [
    ['truncated JSON', '{"ts": 17000, "spe', 'unparseable'],
    ['not JSON at all', 'hello', 'unparseable'],
    ['missing timestamp', '{"speed": 1}', 'missing_field'],
    ['bare value where a timestamp field is expected', '12', 'missing_field'],
    ['empty object', '{"ts": 1700000000}', 'missing_field'],
    ['empty array', '[]', 'missing_field'],
    ['nested object value', '{"ts": 1700000000, "speed": {"v": 1}}', 'bad_type'],
    ['null value', '{"ts": 1700000000, "speed": null}', 'bad_type'],
    ['array value', '{"ts": 1700000000, "speed": [1]}', 'bad_type'],
    ['timestamp of the wrong type', '{"ts": true, "speed": 1}', 'bad_type'],
    ['timestamp text that is no time', '{"ts": "yesterday", "speed": 1}', 'bad_type'],
    ['negative timestamp', '{"ts": -5, "speed": 1}', 'bad_type'],
    ['nested arrays', '[[1]]', 'bad_type'],
    ['JSON null', 'null', 'bad_type'],
  ];
  for (const [what, payload, reason] of cases) {
    it(`quarantines ${what} as ${reason}`, () => {
      const r = run(line, 'lyon/line2/press1/telemetry', payload);
      expect(r).toMatchObject({ ok: false, reason });
      if (!r.ok) expect(r.detail.length).toBeGreaterThan(5);
    });
  }

  it('quarantines a payload above max_payload as too_large without parsing it', () => {
    expect(
      run(line, 'lyon/line2/press1/telemetry', `{"ts": 1, "x": "${'y'.repeat(2000)}"}`, 1000),
    ).toMatchObject({
      ok: false,
      reason: 'too_large',
    });
  });

  it('quarantines invalid UTF-8 as unparseable', () => {
    expect(run(line, 'lyon/line2/press1/telemetry', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))).toMatchObject({
      ok: false,
      reason: 'unparseable',
    });
  });

  it('quarantines a missing value_field and a topic too short for the template as missing_field', () => {
    const vf = mapper({ topic: 'a/#', signal: 'a.{topic[3]}.{key}', value_field: 'v' });
    expect(run(vf, 'a/b/c/d', '{"w": 1}')).toMatchObject({ ok: false, reason: 'missing_field' });
    expect(run(vf, 'a/b', '{"v": 1}')).toMatchObject({ ok: false, reason: 'missing_field' });
  });
});

describe('topics and templates', () => {
  it('matches MQTT topic filters', () => {
    const f = (filter: string, topic: string) => topicMatches(filter.split('/'), topic.split('/'));
    expect(f('a/+/c', 'a/b/c')).toBe(true);
    expect(f('a/+/c', 'a/b/d')).toBe(false);
    expect(f('a/#', 'a')).toBe(true);
    expect(f('a/#', 'a/b/c')).toBe(true);
    expect(f('#', '$SYS/x')).toBe(false);
    expect(f('a/b', 'a/b/c')).toBe(false);
  });

  it('turns a template into a pattern with one * per placeholder', () => {
    expect(templatePattern('lyon.line2.{topic[2]}.{key}')).toBe('lyon.line2.*.*');
  });
});

describe('fuzz', () => {
  const reasons = new Set(['unparseable', 'too_large', 'missing_field', 'bad_type']);
  const nameRe = /^lyon\.line2\.[a-z0-9_]+\.[a-z0-9_]+$/;
  const jsonish = fc.oneof(
    fc.json(),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc
      .record({ ts: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)), v: fc.jsonValue() })
      .map((o) => JSON.stringify(o)),
    fc.string(),
    fc.json().map((s) => s.slice(0, Math.max(0, s.length - 1))),
  );

  it('never throws; every payload gives named samples or a reason with a detail', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          jsonish.map((s) => Buffer.from(s)),
          fc.uint8Array({ maxLength: 300 }),
        ),
        fc.stringMatching(/^[A-Za-z0-9 ._-]{0,12}$/),
        (payload, machine) => {
          const topic = `lyon/line2/${machine}/telemetry`;
          const r = line.map(topic, topic.split('/'), payload, 200);
          if (r.ok) {
            expect(r.samples.length).toBeGreaterThan(0);
            for (const s of r.samples) {
              expect(s.signal).toMatch(nameRe);
              expect(['number', 'string', 'boolean']).toContain(typeof s.value);
              expect((s.raw ?? '').length).toBeLessThanOrEqual(1025);
            }
          } else {
            expect(reasons.has(r.reason)).toBe(true);
            expect(r.detail).not.toBe('');
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
