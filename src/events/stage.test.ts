// The derive stage with the one ingest path (issue #12 item 2), on a real LevelJournal: a replay whose commit
// fails leaves the derive state equal to what the journal holds (rollback), and events derived during a replay
// are counted. The failed commit is a wrapper over the real journal that rejects every write while armed, as a
// full disk does (records and derive state share one synced write, so neither is kept).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DuplicateFilter, ingest, replaySample } from '../ingest/ingest.js';
import { LevelJournal } from '../journal/level-journal.js';
import type { Journal } from '../journal/types.js';
import type { RawSample } from '../model/records.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { SpecRegistry } from '../pipeline/specs.js';
import { eventConfigSchema } from './config.js';
import { DERIVE_STATE_KEY, DeriveStage } from './stage.js';

const GW = 'lyon-edge-01';
const SOURCE = { id: 'press-1', type: 'opcua' };
const COUNTER = 'lyon.m1.count';
const T0 = Date.parse('2026-11-27T10:00:00.000Z');
const log = pino({ level: 'silent' });

const roots: string[] = [];
const journals: LevelJournal[] = [];
afterEach(async () => {
  for (const j of journals.splice(0)) await j.close();
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

async function openJournal(): Promise<LevelJournal> {
  const root = mkdtempSync(join(tmpdir(), 'derive-stage-'));
  roots.push(root);
  const j = new LevelJournal({
    dir: join(root, 'journal'),
    maxBytes: 1024 ** 3,
    whenFull: 'block',
    commitIntervalMs: 0,
    log,
  });
  journals.push(j);
  await j.open();
  await j.setSinks([{ id: 'central', select: () => true }]);
  return j;
}

/** The real journal, except that while `failing` every write (append, state) is rejected and nothing is kept. */
function failingWrites(inner: Journal): Journal & { failing: boolean } {
  const fail = () => Promise.reject(new Error('simulated failed commit (disk full)'));
  const wrapper = Object.create(inner) as Journal & { failing: boolean };
  wrapper.failing = false;
  wrapper.append = (records, signal) => (wrapper.failing ? fail() : inner.append(records, signal));
  wrapper.putState = (key, value) => (wrapper.failing ? fail() : inner.putState(key, value));
  wrapper.getState = (key) => inner.getState(key);
  return wrapper;
}

function pipeline(): Pipeline {
  return new Pipeline({
    gatewayId: GW,
    timezone: 'UTC',
    maxFutureSkewMs: 60_000,
    specs: new SpecRegistry([
      { source: SOURCE, declarations: { exact: [], patterns: [{ pattern: 'lyon.m1.*', spec: {} }] } },
    ]),
  });
}

function counter(t: number, value: number): RawSample {
  return { signal: COUNTER, value, ts: t, ts_unit: 'ms', address: 'ns=2;s=Count' };
}

async function stageOn(journal: Journal): Promise<DeriveStage> {
  const stage = new DeriveStage({ journal, log });
  await stage.configure(GW, [
    eventConfigSchema.parse({ type: 'production.count', counter: COUNTER, window: '1m' }),
  ]);
  return stage;
}

/** The derive state as the journal's commit would store it (JSON both ways). */
function inMemory(stage: DeriveStage): unknown {
  return JSON.parse(JSON.stringify(stage.deriver?.snapshot()));
}

async function events(journal: LevelJournal): Promise<number> {
  const all = await journal.read('central', 0, 10_000, 1024 ** 3);
  return all.filter((e) => e.record.kind === 'event').length;
}

describe('derive stage with quarantine replay', () => {
  it('rolls the derive state back to the journal when a replay commit fails, and counts replayed events', async () => {
    const real = await openJournal();
    const journal = failingWrites(real);
    const stage = await stageOn(journal);
    const path = {
      source: SOURCE,
      pipeline: pipeline(),
      journal,
      ...stage.hooks,
      dedupe: new DuplicateFilter(),
    };

    expect(await replaySample(path, counter(T0, 100))).toEqual({ ok: true });
    const committed = await real.getState(DERIVE_STATE_KEY);
    expect(committed).toBeDefined();
    expect(inMemory(stage)).toEqual(committed);
    // Its window (long past) closed at once: the event is journaled with the reading and counted.
    const first = await events(real);
    expect(stage.derived).toBe(first);

    // The commit of the next replay fails: the deriver has taken the reading, the journal has not.
    journal.failing = true;
    await expect(replaySample(path, counter(T0 + 61_000, 130))).rejects.toThrow('simulated failed commit');
    journal.failing = false;
    expect(await real.getState(DERIVE_STATE_KEY)).toEqual(committed);
    expect(inMemory(stage)).toEqual(committed);
    expect(await events(real)).toBe(first);

    // The operator replays it again: it is journaled once, with the event it completes, and that is counted.
    expect(await replaySample(path, counter(T0 + 61_000, 130))).toEqual({ ok: true });
    expect(inMemory(stage)).toEqual(await real.getState(DERIVE_STATE_KEY));
    const journaled = (await events(real)) - first;
    expect(journaled).toBeGreaterThan(0);
    // The failed attempt derived the same events once before (a derivation is counted each time it happens).
    expect(stage.derived).toBe(first + 2 * journaled);
    const readings = (await real.read('central', 0, 10_000, 1024 ** 3)).filter(
      (e) => e.record.kind === 'reading',
    );
    expect(readings.length).toBe(2);
  });

  it('keeps the committed state when the tick commit fails, and reports nothing configured as no state', async () => {
    const real = await openJournal();
    const journal = failingWrites(real);
    const stage = await stageOn(journal);
    const path = { source: SOURCE, pipeline: pipeline(), journal, ...stage.hooks };
    // A window's readings arrive before it ends: the event is completed by the tick, later.
    const now = Date.now();
    const start = now - (now % 60_000);
    expect(await replaySample(path, counter(start + 1, 100))).toEqual({ ok: true });
    expect(await replaySample(path, counter(start + 2, 105))).toEqual({ ok: true });
    const committed = await real.getState(DERIVE_STATE_KEY);
    expect(inMemory(stage)).toEqual(committed);
    journal.failing = true;
    await stage.tick(start + 10 * 60_000);
    journal.failing = false;
    expect(stage.derived).toBeGreaterThan(0);
    expect(inMemory(stage)).toEqual(committed);
    expect(await events(real)).toBe(0);
    await stage.tick(start + 10 * 60_000);
    expect(await events(real)).toBe(stage.derived / 2);
    expect(inMemory(stage)).toEqual(await real.getState(DERIVE_STATE_KEY));

    await stage.configure(GW, []);
    expect(stage.deriver).toBeUndefined();
    expect(stage.hook([], Date.now())).toEqual({ events: [] });
  });
});

/** The real journal, noting each putState and whether an append was issued in the same tick before it. */
function notingWrites(
  inner: Journal,
): Journal & { failing: boolean; states: Array<{ withAppend: boolean }> } {
  const wrapper = failingWrites(inner) as Journal & {
    failing: boolean;
    states: Array<{ withAppend: boolean }>;
  };
  wrapper.states = [];
  let appendedThisTick = false;
  const append = wrapper.append;
  const putState = wrapper.putState;
  wrapper.append = (records, signal) => {
    appendedThisTick = true;
    setImmediate(() => {
      appendedThisTick = false;
    });
    return append(records, signal);
  };
  wrapper.putState = (key, value) => {
    wrapper.states.push({ withAppend: appendedThisTick });
    return putState(key, value);
  };
  return wrapper;
}

describe('derive stage commit groups', () => {
  it('takes one snapshot per commit: emits that arrive while a commit is in the journal share the next', async () => {
    const real = await openJournal();
    const journal = notingWrites(real);
    const stage = await stageOn(journal);
    const path = {
      source: SOURCE,
      pipeline: pipeline(),
      journal,
      ...stage.hooks,
      dedupe: new DuplicateFilter(),
    };
    // Twenty emits in one tick: the first goes to the journal at once, the other nineteen wait for it together.
    const emits = Array.from({ length: 20 }, (_, i) => ingest(path, [counter(T0 + i * 1000, 100 + i)]));
    const results = await Promise.all(emits);
    expect(results.map((r) => r.accepted)).toEqual(new Array(20).fill(1));
    expect(journal.states).toEqual([{ withAppend: true }, { withAppend: true }]);
    // The committed state is the deriver's, and every reading it took is in the journal.
    expect(inMemory(stage)).toEqual(await real.getState(DERIVE_STATE_KEY));
    const readings = (await real.read('central', 0, 10_000, 1024 ** 3)).filter(
      (e) => e.record.kind === 'reading',
    );
    expect(readings.length).toBe(20);
  });

  it('keeps emit order: readings the deriver does not read wait behind a waiting commit group', async () => {
    const real = await openJournal();
    const stage = await stageOn(real);
    const path = { source: SOURCE, pipeline: pipeline(), journal: real, ...stage.hooks };
    const speed = (t: number): RawSample => ({
      signal: 'lyon.m1.speed',
      value: 7,
      ts: t,
      address: 'ns=2;s=S',
    });
    // The first counter emit goes to the journal; the second waits for it; the speed emit must not pass it.
    const emits = [
      ingest(path, [counter(T0, 100)]),
      ingest(path, [counter(T0 + 1000, 110)]),
      ingest(path, [speed(T0 + 1500)]),
    ];
    await Promise.all(emits);
    // With nothing waiting, a speed emit is appended at once.
    await ingest(path, [speed(T0 + 2500)]);
    const readings = (await real.read('central', 0, 10_000, 1024 ** 3))
      .map((e) => e.record)
      .filter((r) => r.kind === 'reading');
    expect(readings.map((r) => [r.signal, r.value])).toEqual([
      [COUNTER, 100],
      [COUNTER, 110],
      ['lyon.m1.speed', 7],
      ['lyon.m1.speed', 7],
    ]);
  });

  it('refuses the emits waiting behind a failed commit, and goes back to the committed state', async () => {
    const real = await openJournal();
    const journal = failingWrites(real);
    const stage = await stageOn(journal);
    const path = {
      source: SOURCE,
      pipeline: pipeline(),
      journal,
      ...stage.hooks,
      dedupe: new DuplicateFilter(),
    };
    expect((await ingest(path, [counter(T0, 100)])).accepted).toBe(1);
    const committed = await real.getState(DERIVE_STATE_KEY);
    journal.failing = true;
    const first = ingest(path, [counter(T0 + 1000, 110)]);
    const waiting = ingest(path, [counter(T0 + 2000, 120)]);
    await expect(first).rejects.toThrow('simulated failed commit');
    await expect(waiting).rejects.toThrow('failed before this one');
    journal.failing = false;
    expect(inMemory(stage)).toEqual(committed);
    // Sent again, both are taken: nothing was lost with the rollback, and nothing is counted twice.
    expect((await ingest(path, [counter(T0 + 1000, 110)])).accepted).toBe(1);
    expect((await ingest(path, [counter(T0 + 2000, 120)])).accepted).toBe(1);
    expect(inMemory(stage)).toEqual(await real.getState(DERIVE_STATE_KEY));
    const readings = (await real.read('central', 0, 10_000, 1024 ** 3)).filter(
      (e) => e.record.kind === 'reading',
    );
    expect(readings.map((e) => (e.record as { value: number }).value)).toEqual([100, 110, 120]);
  });

  it('lets a stopping source stop waiting for a commit the journal holds back (full, blocking)', async () => {
    const real = await openJournal();
    const held = Object.create(real) as Journal;
    held.append = () => new Promise<void>(() => {});
    held.putState = () => new Promise<void>(() => {});
    held.getState = (key) => real.getState(key);
    const stage = await stageOn(held);
    const stop = new AbortController();
    const path = { source: SOURCE, pipeline: pipeline(), journal: held, ...stage.hooks, signal: stop.signal };
    const emit = ingest(path, [counter(T0, 100)]);
    stop.abort();
    await expect(emit).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
