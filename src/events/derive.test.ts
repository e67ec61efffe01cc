// Unit tests of the derive transform's building blocks and edge cases that golden sequences do not show well:
// the counter arithmetic, window alignment, configuration conflicts, persisted state that cannot be read back,
// a window length changed across a restart, and the bound on samples held for reordering.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { type EventRecord, isoUtc, type Reading, readingId } from '../model/records.js';
import { type EventConfig, eventConfigSchema } from './config.js';
import { alignedWindowStart, counterDelta, DERIVE_STATE_KEY, Deriver, MAX_PENDING } from './derive.js';
import { MemoryStateStore } from './test-support.js';

const GW = 'lyon-edge-01';
const T0 = Date.parse('2026-11-27T10:00:00.000Z');

function reading(signal: string, t: number, value: Reading['value'], extra: Partial<Reading> = {}): Reading {
  const ts = isoUtc(t);
  return {
    id: readingId(GW, signal, ts, value),
    kind: 'reading',
    signal,
    value,
    ts,
    ingest_ts: ts,
    quality: 'good',
    source: { id: 'unit', type: 'test', address: signal },
    ...extra,
  };
}

const count = (extra: Record<string, unknown> = {}): EventConfig =>
  eventConfigSchema.parse({ type: 'production.count', counter: 'lyon.m1.count', window: '1m', ...extra });

async function deriver(
  events: EventConfig[],
  store = new MemoryStateStore(),
  latenessMs = 5000,
): Promise<Deriver> {
  const d = new Deriver({ gatewayId: GW, events, state: store, latenessMs });
  await d.load();
  return d;
}

describe('counterDelta', () => {
  it.each([
    ['an increase counts as is', 100, 130, 1000, { delta: 30, kind: 'count' }],
    ['no change counts nothing', 100, 100, 1000, { delta: 0, kind: 'count' }],
    ['a decrease is a reset counted from 0', 500, 7, 1000, { delta: 7, kind: 'reset' }],
    ['a reset to 0 counts nothing', 500, 0, 1000, { delta: 0, kind: 'reset' }],
    ['top 10 % to bottom 10 % is a wrap', 995, 3, 999, { delta: 8, kind: 'wrap' }],
    ['a wrap from exactly counter_max', 999, 0, 999, { delta: 1, kind: 'wrap' }],
    ['a 32-bit wrap', 4294967290, 10, 4294967295, { delta: 16, kind: 'wrap' }],
    ['a previous value at exactly 90 % is not in the band', 900, 5, 1000, { delta: 5, kind: 'reset' }],
    ['a drop from the top band into the middle is a reset', 990, 500, 999, { delta: 500, kind: 'reset' }],
    ['a small counter under the 32-bit default max resets', 9999, 0, 4294967295, { delta: 0, kind: 'reset' }],
  ])('%s', (_name, prev, next, max, expected) => {
    expect(counterDelta(prev, next, max)).toEqual(expected);
  });
});

describe('alignedWindowStart', () => {
  it('aligns to UTC epoch multiples of the window length', () => {
    const t = Date.parse('2026-11-27T10:37:12.345Z');
    expect(isoUtc(alignedWindowStart(t, 60_000))).toBe('2026-11-27T10:37:00.000Z');
    expect(isoUtc(alignedWindowStart(t, 15 * 60_000))).toBe('2026-11-27T10:30:00.000Z');
    expect(isoUtc(alignedWindowStart(t, 3_600_000))).toBe('2026-11-27T10:00:00.000Z');
    expect(isoUtc(alignedWindowStart(t, 86_400_000))).toBe('2026-11-27T00:00:00.000Z');
    expect(alignedWindowStart(T0, 60_000)).toBe(T0);
  });
});

describe('Deriver', () => {
  it('gets no colliding definitions: the config check refuses them before a Deriver is built', async () => {
    // The Deriver keys its state by definition id and event ids by type and subject; src/config/checks.ts owns
    // both rules (the Deriver no longer repeats them), and a default id "<type>:<subject>" cannot be written
    // as an explicit one, so explicit and default ids never meet.
    const dir = mkdtempSync(join(tmpdir(), 'plantgate-derive-'));
    try {
      const yaml = (events: string) =>
        [
          'gateway: { id: lyon-edge-01, site: lyon, timezone: Europe/Paris }',
          'storage: { dir: ./data }',
          'sources:',
          '  - id: gen-1',
          '    type: generator',
          '    signals:',
          '      - { name: lyon.m1.count, shape: counter }',
          '      - { name: lyon.m1.other, shape: counter }',
          'events:',
          events,
          'sinks:',
          '  - { id: central, type: http, url: http://127.0.0.1:9/batches }',
          '',
        ].join('\n');
      const problems = async (events: string) => {
        const res = await parseConfig(yaml(events), { file: 'plant.yaml', baseDir: dir, skipSecrets: true });
        return res.ok ? [] : res.issues.map((i) => `${i.path}: ${i.message}`);
      };
      const sameSubject = [
        '  - { type: production.count, id: a, subject: lyon.m1, counter: lyon.m1.count }',
        '  - { type: production.count, id: b, subject: lyon.m1, counter: lyon.m1.other }',
      ].join('\n');
      expect(await problems(sameSubject)).toEqual([
        expect.stringMatching(/^events\.1: .*same subject "lyon\.m1" .*same ids/),
      ]);
      const sameId = [
        '  - { type: production.count, id: a, subject: lyon.m1, counter: lyon.m1.count }',
        '  - { type: production.count, id: a, subject: lyon.m2, counter: lyon.m1.other }',
      ].join('\n');
      expect(await problems(sameId)).toEqual([
        expect.stringMatching(/^events\.1\.id: event id "a" is already used/),
      ]);
      const defaultShaped =
        '  - { type: production.count, id: "production.count:lyon.m1", counter: lyon.m1.count }';
      expect(await problems(defaultShaped)).toEqual([
        expect.stringMatching(/^events\.0\.id: expected an id of/),
      ]);
      expect(await problems('  - { type: production.count, counter: lyon.m1.count }')).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists the signals it reads and ignores every other reading', async () => {
    const d = await deriver([count({ work_order: { signal: 'lyon.m1.wo' } })]);
    expect(d.signals().sort()).toEqual(['lyon.m1.count', 'lyon.m1.wo']);
    expect(d.process([reading('lyon.m1.temp', T0, 5)], T0 + 1000)).toEqual([]);
    expect(d.stats().accepted).toBe(0);
  });

  it('lets two definitions read the same counter', async () => {
    const d = await deriver([
      count({ subject: 'lyon.m1' }),
      count({ subject: 'lyon.m1.hourly', window: '1h' }),
    ]);
    d.process([reading('lyon.m1.count', T0 + 1000, 10), reading('lyon.m1.count', T0 + 2000, 14)], T0 + 3000);
    const events = d.tick(T0 + 3_700_000);
    expect(events.map((e) => [e.subject, e.data.good])).toEqual([
      ['lyon.m1', 4],
      ['lyon.m1.hourly', 4],
    ]);
  });

  it('starts afresh, and counts it, when the persisted state cannot be read back', async () => {
    const store = new MemoryStateStore();
    const def = count();
    await store.commit({ [def.id]: { v: 99, something: 'else' } });
    const d = await deriver([def], store);
    expect(d.stats().state_discarded).toBe(1);
    d.process([reading('lyon.m1.count', T0 + 1000, 10), reading('lyon.m1.count', T0 + 2000, 13)], T0 + 3000);
    expect(d.tick(T0 + 70_000).map((e) => e.data.good)).toEqual([3]);
  });

  it('keeps the persisted state of each definition apart and ignores state of removed definitions', async () => {
    const store = new MemoryStateStore();
    const a = count({ subject: 'lyon.m1' });
    const q = eventConfigSchema.parse({
      type: 'quality.exception',
      signal: 'lyon.m1.temp',
      usl: 10,
      consecutive: 2,
    });
    const first = await deriver([a, q], store);
    first.process(
      [reading('lyon.m1.count', T0 + 1000, 10), reading('lyon.m1.temp', T0 + 1000, 11)],
      T0 + 7000,
    );
    await first.persist();
    expect(Object.keys((await store.get<Record<string, unknown>>(DERIVE_STATE_KEY)) ?? {}).sort()).toEqual(
      [a.id, q.id].sort(),
    );
    const second = await deriver([q], store);
    expect(second.stats().state_discarded).toBe(0);
    const events = second.process([reading('lyon.m1.temp', T0 + 2000, 12)], T0 + 8000);
    expect(events.map((e) => e.type)).toEqual(['quality.exception']);
    expect(Object.keys(second.snapshot())).toEqual([q.id]);
  });

  it('takes a new baseline when the counter signal of a definition was changed', async () => {
    const store = new MemoryStateStore();
    const first = await deriver([count({ subject: 'lyon.m1' })], store);
    first.process([reading('lyon.m1.count', T0 + 1000, 500)], T0 + 7000);
    await first.persist();
    const second = await deriver([count({ subject: 'lyon.m1', counter: 'lyon.m1.count2' })], store);
    second.process(
      [reading('lyon.m1.count2', T0 + 2000, 20), reading('lyon.m1.count2', T0 + 3000, 25)],
      T0 + 9000,
    );
    const events = second.tick(T0 + 70_000);
    // 500 -> 20 would have been a reset counting 20; the new counter's first sample is its baseline instead.
    expect(events.map((e) => [e.data.good, e.data.samples])).toEqual([[5, 3]]);
  });

  it('keeps an open window as it was when the window length changes across a restart', async () => {
    const store = new MemoryStateStore();
    const first = await deriver([count({ subject: 'lyon.m1', window: '1h' })], store);
    first.process(
      [reading('lyon.m1.count', T0 + 1000, 0), reading('lyon.m1.count', T0 + 600_000, 40)],
      T0 + 610_000,
    );
    await first.persist();
    const second = await deriver([count({ subject: 'lyon.m1', window: '15m' })], store);
    second.process([reading('lyon.m1.count', T0 + 1_200_000, 50)], T0 + 1_210_000);
    const events = second.tick(T0 + 3_700_000);
    expect(events.map((e) => [e.data.window_start, e.data.window_end, e.data.good])).toEqual([
      ['2026-11-27T10:00:00.000Z', '2026-11-27T11:00:00.000Z', 50],
    ]);
  });

  it('opens a downtime at the first observation when the machine is already stopped', async () => {
    const def = eventConfigSchema.parse({
      type: 'machine.state',
      subject: 'lyon.m1',
      state: 'lyon.m1.state',
      states: { 0: 'stopped', 1: 'running' },
      running: ['running'],
    });
    const d = await deriver([def]);
    const first = d.process([reading('lyon.m1.state', T0, 0)], T0 + 6000);
    expect(first.map((e) => [e.type, e.data.state, e.data.previous_state])).toEqual([
      ['machine.state', 'stopped', null],
    ]);
    expect(d.stats().open_downtimes).toBe(1);
    const second = d.process([reading('lyon.m1.state', T0 + 90_000, 1)], T0 + 96_000);
    const downtime = second.find((e) => e.type === 'machine.downtime') as EventRecord;
    expect(downtime.data).toMatchObject({
      start: isoUtc(T0),
      duration_ms: 90_000,
      state: 'stopped',
      reason_code: null,
    });
  });

  it('processes the oldest held samples early rather than holding more than MAX_PENDING', async () => {
    // A lateness of a day keeps everything waiting, so only the bound releases samples.
    const d = await deriver([count()], new MemoryStateStore(), 86_400_000);
    const readings: Reading[] = [];
    for (let i = 0; i <= MAX_PENDING + 10; i++) readings.push(reading('lyon.m1.count', T0 + i * 10, i));
    d.process(readings, T0 + 200_000);
    const stats = d.stats();
    expect(stats.pending).toBe(MAX_PENDING);
    expect(stats.forced).toBe(11);
    const events = d.tick(T0 + 2 * 86_400_000);
    expect(events.reduce((sum, e) => sum + (e.data.good as number), 0)).toBe(MAX_PENDING + 10);
  });

  it('returns a snapshot that later processing does not change', async () => {
    const d = await deriver([count()]);
    d.process([reading('lyon.m1.count', T0 + 1000, 10)], T0 + 7000);
    const snap = d.snapshot();
    const text = JSON.stringify(snap);
    d.process([reading('lyon.m1.count', T0 + 2000, 20)], T0 + 8000);
    expect(JSON.stringify(snap)).toBe(text);
  });

  it('rolls back to the last committed state when load() is called again', async () => {
    const store = new MemoryStateStore();
    const d = await deriver([count()], store);
    d.process([reading('lyon.m1.count', T0 + 1000, 10)], T0 + 7000);
    await store.commit(d.snapshot());
    // This output is "lost" (its commit failed): reloading makes the same events come out again.
    d.process([reading('lyon.m1.count', T0 + 2000, 20)], T0 + 8000);
    const lost = d.tick(T0 + 70_000);
    await d.load();
    const again = d.process([reading('lyon.m1.count', T0 + 2000, 20)], T0 + 8000);
    expect([...again, ...d.tick(T0 + 70_000)]).toEqual(lost);
    expect(lost.map((e) => e.data.good)).toEqual([10]);
  });
});

describe('samples a definition could not use', () => {
  it('are told with the definition (and its owner) and the reason; duplicates are not', async () => {
    const told: string[] = [];
    const d = new Deriver({
      gatewayId: GW,
      events: [count({ owner: 'quality' })],
      state: new MemoryStateStore(),
      latenessMs: 0,
      onIgnored: (def, reason, r) => told.push(`${def.owner}/${reason}/${r.signal}`),
    });
    await d.load();
    d.process([reading('lyon.m1.count', T0 + 1000, 10)], T0 + 1000);
    d.process(
      [
        reading('lyon.m1.count', T0 + 1000, 10), // a redelivery: counted, not told
        reading('lyon.m1.count', T0 + 500, 9), // older than one already taken
        reading('lyon.m1.count', T0 + 2000, 11, { quality: 'bad' }),
        reading('lyon.m1.count', T0 + 3000, 'x'),
      ],
      T0 + 4000,
    );
    expect(told).toEqual([
      'quality/out_of_order/lyon.m1.count',
      'quality/bad_quality/lyon.m1.count',
      'quality/invalid_value/lyon.m1.count',
    ]);
    expect(d.stats().ignored).toMatchObject({
      duplicate: 1,
      out_of_order: 1,
      bad_quality: 1,
      invalid_value: 1,
    });
  });
});
