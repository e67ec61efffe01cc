// Unit tests of each event type's derivation on its own: its persisted state fits its state schema and comes back
// as it was, a state of another type or version is refused (the deriver then starts it afresh), and what a restore
// or the derivation itself resets. The golden cases (golden.test.ts) cover the events the types emit.
import { describe, expect, it } from 'vitest';
import { type EventRecord, isoUtc, type Reading, readingId } from '../model/records.js';
import {
  eventConfigSchema,
  type MachineStateConfig,
  type ProductionCountConfig,
  type QualityExceptionConfig,
} from './config.js';
import { type Derivation, type DeriveEnv, emptyStats } from './derive-base.js';
import { MachineStateDerivation, machineStateState } from './machine-state.js';
import { ProductionCountDerivation, productionCountState } from './production-count.js';
import { QualityExceptionDerivation, qualityExceptionState } from './quality-exception.js';

const GW = 'lyon-edge-01';
const T0 = Date.parse('2026-11-27T10:00:00.000Z');
const LATENESS = 1000;

const env = (): DeriveEnv => ({ gatewayId: GW, stats: emptyStats() });

function reading(signal: string, t: number, value: Reading['value'], unit?: string): Reading {
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
    ...(unit !== undefined ? { unit } : {}),
  };
}

/** Feeds readings and lets the clock run to `nowMs`; returns the events. */
function feed(d: Derivation, readings: Reading[], nowMs: number): EventRecord[] {
  for (const r of readings) d.accept(r);
  const out: EventRecord[] = [];
  d.advance(nowMs, out);
  return out;
}

/** The state as the journal stores it: through JSON. */
const stored = (d: Derivation): unknown => JSON.parse(JSON.stringify(d.toState()));

describe('production.count', () => {
  const config = (extra: Record<string, unknown> = {}) =>
    eventConfigSchema.parse({
      type: 'production.count',
      counter: 'lyon.m1.count',
      window: '1m',
      work_order: { signal: 'lyon.m1.wo' },
      ...extra,
    }) as ProductionCountConfig;
  const make = (cfg = config()) => new ProductionCountDerivation(env(), cfg, LATENESS);

  it('keeps its state in productionCountState: counts, windows and held samples come back as they were', () => {
    const d = make();
    expect(productionCountState.safeParse(stored(d)).success).toBe(true);
    feed(
      d,
      [
        reading('lyon.m1.wo', T0, 'WO-1'),
        reading('lyon.m1.count', T0 + 1000, 100),
        reading('lyon.m1.count', T0 + 2000, 130),
        reading('lyon.m1.count', T0 + 9000, 7),
      ],
      T0 + 5000,
    );
    const state = stored(d);
    expect(productionCountState.parse(state)).toMatchObject({
      pending: [{ s: 'lyon.m1.count', t: T0 + 9000, v: 7 }],
      good: { v: 130, t: T0 + 2000 },
      work_order: 'WO-1',
      windows: [{ start: T0, good: 30, samples: 2, work_order: 'WO-1' }],
    });
    const back = make();
    expect(back.fromState(state)).toBe(true);
    expect(back.toState()).toEqual(d.toState());
    // After the restore the held sample counts as a reset (130 -> 7), as it would have without the restart.
    const events = feed(back, [], T0 + 70_000);
    expect(events.map((e) => [e.data.good, e.data.resets])).toEqual([[37, 1]]);
  });

  it('refuses a state of another version or type', () => {
    const state = stored(make()) as Record<string, unknown>;
    expect(make().fromState({ ...state, v: 2 })).toBe(false);
    expect(make().fromState({ ...state, type: 'machine.state' })).toBe(false);
    expect(make().fromState('damaged')).toBe(false);
  });

  it('starts a new baseline for a renamed counter and drops held samples of signals it no longer reads', () => {
    const d = make();
    feed(d, [reading('lyon.m1.count', T0, 100), reading('lyon.m1.wo', T0 + 5000, 'WO-2')], T0 + 2000);
    const renamed = make(config({ counter: 'lyon.m1.parts', work_order: undefined }));
    expect(renamed.fromState(stored(d))).toBe(true);
    expect(renamed.toState()).toMatchObject({ counter: 'lyon.m1.parts', good: null, pending: [], seen: {} });
    const same = make();
    expect(same.fromState(stored(d))).toBe(true);
    expect(same.toState()).toMatchObject({ good: { v: 100, t: T0 }, pending: [{ s: 'lyon.m1.wo' }] });
  });
});

describe('machine.state', () => {
  const config = () =>
    eventConfigSchema.parse({
      type: 'machine.state',
      state: 'lyon.m1.state',
      reason: 'lyon.m1.reason',
      states: { 0: 'stopped', 1: 'running', 2: 'fault' },
      running: ['running'],
    }) as MachineStateConfig;
  const make = () => new MachineStateDerivation(env(), config(), LATENESS);

  it('keeps its state in machineStateState, an open downtime included, and ends that downtime after a restore', () => {
    const d = make();
    expect(machineStateState.safeParse(stored(d)).success).toBe(true);
    feed(
      d,
      [
        reading('lyon.m1.state', T0, 1),
        reading('lyon.m1.reason', T0 + 1000, 42),
        reading('lyon.m1.state', T0 + 2000, 2),
      ],
      T0 + 5000,
    );
    const state = stored(d);
    expect(machineStateState.parse(state)).toMatchObject({
      state: 'fault',
      reason: 42,
      downtime: { start: T0 + 2000, state: 'fault', reason: 42 },
    });
    const back = make();
    expect(back.fromState(state)).toBe(true);
    expect(back.toState()).toEqual(d.toState());
    expect(back.openDowntimes()).toBe(1);
    const events = feed(back, [reading('lyon.m1.state', T0 + 62_000, 1)], T0 + 70_000);
    expect(events.map((e) => [e.type, e.data.duration_ms ?? e.data.state])).toEqual([
      ['machine.state', 'running'],
      ['machine.downtime', 60_000],
    ]);
    expect(back.openDowntimes()).toBe(0);
  });

  it('refuses a state of another type or version', () => {
    const state = stored(make()) as Record<string, unknown>;
    expect(make().fromState({ ...state, type: 'quality.exception' })).toBe(false);
    expect(make().fromState({ ...state, v: 0 })).toBe(false);
  });
});

describe('quality.exception', () => {
  const config = (signal = 'lyon.m1.diameter') =>
    eventConfigSchema.parse({
      type: 'quality.exception',
      signal,
      lsl: 9.9,
      usl: 10.1,
      consecutive: 2,
    }) as QualityExceptionConfig;
  const make = (signal?: string) => new QualityExceptionDerivation(env(), config(signal), LATENESS);

  it('keeps its state in qualityExceptionState: a run in progress comes back and completes', () => {
    const d = make();
    expect(qualityExceptionState.safeParse(stored(d)).success).toBe(true);
    feed(d, [reading('lyon.m1.diameter', T0, 10.3, 'mm')], T0 + 5000);
    const state = stored(d);
    expect(qualityExceptionState.parse(state)).toMatchObject({
      armed: true,
      run: [{ t: T0, v: 10.3 }],
      unit: 'mm',
    });
    const back = make();
    expect(back.fromState(state)).toBe(true);
    expect(back.toState()).toEqual(d.toState());
    const events = feed(back, [reading('lyon.m1.diameter', T0 + 1000, 10.4, 'mm')], T0 + 5000);
    expect(events.map((e) => e.data.evidence)).toEqual([
      [
        { ts: isoUtc(T0), value: 10.3 },
        { ts: isoUtc(T0 + 1000), value: 10.4 },
      ],
    ]);
  });

  it('raises one exception per run and re-arms once a value is back within limits', () => {
    const d = make();
    const values = [10.3, 10.4, 10.5, 10.0, 9.5, 9.6];
    const events = feed(
      d,
      values.map((v, i) => reading('lyon.m1.diameter', T0 + i * 1000, v)),
      T0 + 60_000,
    );
    expect(events.map((e) => e.ts)).toEqual([isoUtc(T0), isoUtc(T0 + 4000)]);
    expect(d.toState()).toMatchObject({ armed: false, run: [] });
  });

  it('starts the run afresh when the state was kept for another signal, and refuses another type', () => {
    const d = make();
    feed(d, [reading('lyon.m1.diameter', T0, 10.3, 'mm')], T0 + 5000);
    const other = make('lyon.m1.width');
    expect(other.fromState(stored(d))).toBe(true);
    expect(other.toState()).toMatchObject({ signal: 'lyon.m1.width', armed: true, run: [], unit: null });
    expect(make().fromState({ ...(stored(d) as object), type: 'production.count' })).toBe(false);
  });
});
