// Reconciliation totals on the gateway's side: the digest is the receiver's (an independent BigInt version in the
// receiver simulator) whatever the order; a window's totals ride in the ack's commit and survive a reopen; a
// window closes into one control.totals event, valid against its published schema, that only its sink selects;
// and a close whose append was not known durable is appended again with the same id.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { idDigest } from '../../simulators/receiver/reconcile.js';
import { eventRecordSchema } from '../events/schemas.js';
import { LevelJournal } from '../journal/level-journal.js';
import type { EventRecord } from '../model/records.js';
import { sinkSelector } from './select.js';
import { makeReading } from './test-support.js';
import { addTally, digestHex, emptyTally, TotalsKeeper, tallyOf } from './totals.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function journalIn(dir: string): Promise<LevelJournal> {
  const j = new LevelJournal({
    dir,
    maxBytes: 64 * 1024 * 1024,
    whenFull: 'drop_oldest',
    commitIntervalMs: 2,
  });
  await j.open();
  await j.setSinks([sinkSelector({ id: 'erp' }), sinkSelector({ id: 'central' })]);
  return j;
}

describe('the totals digest', () => {
  it('equals the receiver simulator’s BigInt sum modulo 2^128, in any order and split', () => {
    const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);
    fc.assert(
      fc.property(fc.array(hex32, { maxLength: 300 }), fc.integer({ min: 0, max: 300 }), (ids, cut) => {
        const entries = ids.map((id, i) => ({ record: { ...makeReading(i), id } }));
        const whole = tallyOf(entries);
        expect(digestHex(whole.digest)).toBe(idDigest(ids));
        // Split into two batches and added: the same digest and counts.
        const t = emptyTally();
        addTally(t, tallyOf([...entries.slice(cut)].reverse()));
        addTally(t, tallyOf(entries.slice(0, cut)));
        expect(digestHex(t.digest)).toBe(idDigest(ids));
        expect(t.records).toBe(ids.length);
      }),
    );
    // Carries across every limb, and the wrap at 2^128.
    const max = 'f'.repeat(32);
    expect(
      digestHex(
        tallyOf([
          { record: { ...makeReading(0), id: max } },
          { record: { ...makeReading(1), id: `${'0'.repeat(31)}1` } },
        ]).digest,
      ),
    ).toBe('0'.repeat(32));
  });

  it('counts by kind, type and source, and leaves control records out', () => {
    const control = {
      id: 'c'.repeat(32),
      kind: 'event',
      type: 'control.totals',
      ts: '2026-12-01T10:00:00.000Z',
      subject: 'erp',
      data: {},
    } as EventRecord;
    const event = {
      id: 'e'.repeat(32),
      kind: 'event',
      type: 'production.count',
      ts: '2026-12-01T10:00:00.000Z',
      subject: 'lyon.press1',
      data: {},
    } as EventRecord;
    const t = tallyOf([
      { record: makeReading(1) },
      { record: makeReading(2) },
      { record: event },
      { record: control },
    ]);
    expect(t.records).toBe(3);
    expect(t.by_kind).toEqual({ reading: 2, event: 1 });
    expect(t.by_type).toEqual({ reading: 2, 'production.count': 1 });
    expect(t.by_source).toEqual({ [makeReading(1).source.id]: 2, derived: 1 });
  });
});

describe('TotalsKeeper with the real journal', () => {
  it('persists the window with the ack, closes it into one control.totals event for its sink only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plantgate-totals-'));
    dirs.push(dir);
    let now = Date.parse('2026-12-01T10:00:00.000Z') + 123;
    const j = await journalIn(dir);
    const keeper = () =>
      new TotalsKeeper({
        sinkId: 'erp',
        gatewayId: 'lyon-1',
        windowMs: 60_000,
        journal: j,
        log,
        now: () => now,
      });
    let k = keeper();
    await k.restore(j.cursor('erp'));
    const readings = Array.from({ length: 10 }, (_, i) => makeReading(i));
    await j.append(readings);
    const last = j.stats().last_seq;
    await j.ack('erp', last, 10, { state: k.onAck(last, [tallyOf(readings.map((record) => ({ record })))]) });

    // A new keeper (a restart) reads the window back from the journal: the ack and the totals were one commit.
    k = keeper();
    await k.restore(j.cursor('erp'));
    now = Date.parse('2026-12-01T10:01:00.000Z') + 5;
    k.closeIfDue();
    await k.settle();
    const erp = await j.read('erp', last, 100, 1 << 20);
    expect(erp.map((e) => e.record.kind === 'event' && e.record.type === 'control.totals')).toEqual([true]);
    const rec = (erp[0] as { record: EventRecord }).record;
    expect(eventRecordSchema('control.totals').safeParse(rec).success).toBe(true);
    expect(rec).toMatchObject({
      subject: 'erp',
      ts: '2026-12-01T10:00:00.000Z',
      data: {
        gateway: 'lyon-1',
        sink: 'erp',
        window_start: '2026-12-01T10:00:00.000Z',
        window_end: '2026-12-01T10:01:00.000Z',
        first_seq: 1,
        last_seq: last,
        batches: 1,
        records: 10,
        digest: idDigest(readings.map((r) => r.id)),
        replayed: [],
      },
    });
    // The other sink never sees it, whatever its select says.
    expect(
      (await j.read('central', 0, 100, 1 << 20)).some(
        (e) => e.record.kind === 'event' && e.record.type === 'control.totals',
      ),
    ).toBe(false);
    await j.close();
  });

  it('a close not known durable is appended again after a restart, with the same id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plantgate-totals-'));
    dirs.push(dir);
    let now = Date.parse('2026-12-01T10:00:30.000Z');
    let j = await journalIn(dir);
    const k = new TotalsKeeper({
      sinkId: 'erp',
      gatewayId: 'lyon-1',
      windowMs: 60_000,
      journal: j,
      log,
      now: () => now,
    });
    await k.restore(0);
    // The window closes, and an ack in the next window persists the state with the close still pending...
    now += 60_000;
    k.closeIfDue();
    await j.ack('erp', 0, 0, { state: k.onAck(0, []) });
    await k.settle();
    const first = (await j.read('erp', 0, 10, 1 << 20)).map((e) => e.record.id);
    expect(first).toHaveLength(1);
    // ... and the same state is put back as it was before the pending copy was cleared (a crash in between).
    const state = (await j.getState<{ pending?: unknown }>('totals!erp')) as Record<string, unknown>;
    await j.putState('totals!erp', { ...state, pending: (await j.read('erp', 0, 10, 1 << 20))[0]?.record });
    await j.close();
    j = await journalIn(dir);
    const again = new TotalsKeeper({
      sinkId: 'erp',
      gatewayId: 'lyon-1',
      windowMs: 60_000,
      journal: j,
      log,
      now: () => now,
    });
    await again.restore(j.cursor('erp'));
    await again.settle();
    const ids = (await j.read('erp', 0, 10, 1 << 20)).map((e) => e.record.id);
    expect(ids).toEqual([first[0], first[0]]);
    await j.close();
  });
});
