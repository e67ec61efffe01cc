// The ingest path's duplicate filter (issue #11 item 12): the bounded id set against a reference model, exact
// repeats dropped before the journal (real pipeline, real LevelJournal), a repeat of an append still in flight
// acknowledged only with it, and the ids recovered from the journal's tail after a restart. And the quarantine
// replay on the same path (issue #12 item 2): a crash between its append and the removal of its quarantine entry
// does not journal (nor count in the ledger) the record twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelJournal } from '../journal/level-journal.js';
import { pollUntil, track } from '../journal/test-support.js';
import { digest128, type RawSample } from '../model/records.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { SpecRegistry } from '../pipeline/specs.js';
import {
  createAdapterContext,
  DuplicateFilter,
  type IngestObserver,
  RecentIdSet,
  replaySample,
} from './ingest.js';

const SOURCE = { id: 'line-2', type: 'mqtt' };
const T0 = Date.parse('2026-11-27T10:00:00.000Z');
const log = pino({ level: 'silent' });

function pipeline(): Pipeline {
  const specs = new SpecRegistry([
    {
      source: SOURCE,
      declarations: { exact: [], patterns: [{ pattern: 'lyon.line2.*.*', spec: {} }] },
    },
    {
      source: { id: 'press-1', type: 'opcua' },
      declarations: { exact: [], patterns: [{ pattern: 'lyon.press1.*', spec: {} }] },
    },
  ]);
  return new Pipeline({
    gatewayId: 'lyon-edge-01',
    timezone: 'Europe/Paris',
    maxFutureSkewMs: 60_000,
    specs,
  });
}

/** One telemetry message's samples (3), as the MQTT adapter emits them; `n` makes the content unique. */
function message(n: number): RawSample[] {
  return ['speed', 'temp', 'count'].map((key, i) => ({
    signal: `lyon.line2.press1.${key}`,
    value: n * 10 + i,
    ts: T0 + n,
    ts_unit: 'ms' as const,
    address: 'lyon/line2/press1/telemetry',
  }));
}

const roots: string[] = [];
const journals: LevelJournal[] = [];
afterEach(async () => {
  for (const j of journals.splice(0)) await j.close();
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function journalDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'ingest-'));
  roots.push(root);
  return join(root, 'journal');
}

async function openJournal(dir: string, maxBytes = 1024 ** 3): Promise<LevelJournal> {
  const j = new LevelJournal({ dir, maxBytes, whenFull: 'block', commitIntervalMs: 0, log });
  journals.push(j);
  await j.open();
  await j.setSinks([{ id: 'central', select: () => true }]);
  return j;
}

function context(journal: LevelJournal, dedupe: DuplicateFilter, signal = new AbortController().signal) {
  const seen = { received: 0, ingested: 0 };
  const observer: IngestObserver = {
    onProcessed: (samples, records) => {
      seen.received += samples.length;
      seen.ingested += records.length;
    },
  };
  const ctx = createAdapterContext({
    source: SOURCE,
    log,
    signal,
    pipeline: pipeline(),
    journal,
    observer,
    dedupe,
  });
  return { ctx, seen };
}

async function journaledIds(journal: LevelJournal): Promise<string[]> {
  return (await journal.read('central', 0, 100_000, 1024 ** 3)).map((e) => e.record.id);
}

describe('RecentIdSet', () => {
  it('answers like a ring of the last `capacity` ids (model check, with evictions, removals and probe runs)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.tuple(fc.constantFrom('add', 'has', 'remove'), fc.integer({ min: 0, max: 200 })), {
          maxLength: 600,
        }),
        (capacity, ops) => {
          const set = new RecentIdSet(capacity);
          // The model: what each ring slot holds (undefined once removed), and the next slot to write.
          const slots: Array<string | undefined> = new Array(capacity).fill(undefined);
          let next = 0;
          // Ids whose first word collides often (small index), so probe runs and backward shifts are exercised.
          const idOf = (n: number) =>
            `${(n % 7).toString(16).padStart(8, '0')}${digest128(String(n)).slice(8)}`;
          for (const [op, n] of ops) {
            const id = idOf(n);
            const at = slots.indexOf(id);
            if (op === 'add') {
              expect(set.add(id)).toBe(at < 0);
              if (at >= 0) expect(set.hitSlot).toBe(at);
              else {
                slots[next] = id;
                next = (next + 1) % capacity;
              }
            } else if (op === 'remove') {
              set.removeSlot(n % capacity);
              slots[n % capacity] = undefined;
            } else expect(set.has(id)).toBe(at >= 0);
            expect(set.size).toBe(slots.filter((x) => x !== undefined).length);
            expect(set.nextSlot).toBe(next);
          }
          for (const id of slots) if (id !== undefined) expect(set.has(id)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('takes ids that are not 128-bit hex, and holds 100k ids in under 3 MB', () => {
    const set = new RecentIdSet(100_000);
    expect(set.add('not-a-digest')).toBe(true);
    expect(set.has('not-a-digest')).toBe(true);
    expect(set.has('not-a-digest2')).toBe(false);
    expect(set.bytes).toBeLessThan(3 * 1024 * 1024);
    for (let i = 0; i < 150_000; i++) set.add(digest128(String(i)));
    expect(set.size).toBe(100_000);
    expect(set.has(digest128('149999'))).toBe(true);
    expect(set.has(digest128('50000'))).toBe(true);
    expect(set.has(digest128('49999'))).toBe(false);
  });
});

describe('ingest duplicate filter', () => {
  it('journals a redelivered message once and counts the repeats as duplicates_suppressed', async () => {
    const journal = await openJournal(journalDir());
    const dedupe = new DuplicateFilter();
    const { ctx, seen } = context(journal, dedupe);
    expect(await ctx.emit([...message(1), ...message(2)])).toEqual({ accepted: 6, quarantined: 0 });
    // The broker redelivers message 1 (same content, so the same record ids), together with a new one.
    expect(await ctx.emit([...message(1), ...message(3)])).toEqual({ accepted: 3, quarantined: 0 });
    // A repeat inside one emit is journaled once as well.
    expect(await ctx.emit([...message(4), ...message(4)])).toEqual({ accepted: 3, quarantined: 0 });
    const ids = await journaledIds(journal);
    expect(ids.length).toBe(12);
    expect(new Set(ids).size).toBe(12);
    expect(dedupe.suppressed(SOURCE.id)).toBe(6);
    expect(dedupe.suppressed('press-1')).toBe(0);
    // received = ingested + quarantined + duplicates_suppressed
    expect(seen).toEqual({ received: 18, ingested: 12 });
  });

  it('counts repeats per source', async () => {
    const journal = await openJournal(journalDir());
    const dedupe = new DuplicateFilter();
    const { ctx } = context(journal, dedupe);
    const other = createAdapterContext({
      source: { id: 'press-1', type: 'opcua' },
      log,
      signal: new AbortController().signal,
      pipeline: pipeline(),
      journal,
      dedupe,
    });
    const pressure: RawSample = { signal: 'lyon.press1.pressure', value: 3.5, ts: T0, address: 'ns=3;i=1' };
    await ctx.emit(message(1));
    await other.emit([pressure]);
    expect(await other.emit([pressure])).toEqual({ accepted: 0, quarantined: 0 });
    expect(await ctx.emit(message(2))).toEqual({ accepted: 3, quarantined: 0 });
    expect([dedupe.suppressed(SOURCE.id), dedupe.suppressed('press-1')]).toEqual([0, 1]);
  });

  it('resolves a repeat of an append still waiting for space only once that append is synced', async () => {
    const journal = await openJournal(journalDir(), 4096);
    const dedupe = new DuplicateFilter();
    const { ctx } = context(journal, dedupe);
    let n = 100;
    while (!journal.stats().blocked) {
      const p = track(ctx.emit(message(n++)));
      await pollUntil(() => p.settled() || journal.stats().blocked, 'append synced or blocked');
    }
    const blockedAt = n - 1; // message(blockedAt) is waiting for space
    const repeat = track(ctx.emit(message(blockedAt)));
    // Not acknowledged while its original is not durable (a crash now must make the broker redeliver it).
    await new Promise((r) => setImmediate(r));
    expect(repeat.settled()).toBe(false);
    const before = journal.stats().last_seq;
    await journal.ack('central', before, journal.stats().sinks.central?.queued ?? 0);
    expect(await repeat.promise).toEqual({ accepted: 0, quarantined: 0 });
    const ids = await journaledIds(journal);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(3);
    expect(dedupe.suppressed(SOURCE.id)).toBe(3);
  });

  it('fails a repeat together with its original when that append fails; the next delivery is journaled', async () => {
    const journal = await openJournal(journalDir(), 4096);
    const dedupe = new DuplicateFilter();
    const abort = new AbortController();
    const { ctx } = context(journal, dedupe, abort.signal);
    let n = 100;
    while (!journal.stats().blocked) {
      const p = track(ctx.emit(message(n++)));
      await pollUntil(() => p.settled() || journal.stats().blocked, 'append synced or blocked');
    }
    const blockedAt = n - 1;
    const original = track(ctx.emit(message(blockedAt))); // a second pending copy of the blocked message
    const repeat = track(ctx.emit(message(blockedAt)));
    abort.abort(); // the source stops: the waiting append is rejected, nothing of it was journaled
    await expect(repeat.promise).rejects.toThrow();
    await expect(original.promise).rejects.toThrow();
    // Space again, and a fresh context (the source restarted): the broker's redelivery is journaled, once.
    await journal.ack('central', journal.stats().last_seq, journal.stats().sinks.central?.queued ?? 0);
    const { ctx: again } = context(journal, dedupe);
    expect(await again.emit(message(blockedAt))).toEqual({ accepted: 3, quarantined: 0 });
    expect(await again.emit(message(blockedAt))).toEqual({ accepted: 0, quarantined: 0 });
  });

  it('recovers the ids of the most recent appends from the journal tail after a restart', async () => {
    const dir = journalDir();
    const first = await openJournal(dir);
    const { ctx } = context(first, new DuplicateFilter());
    for (let i = 0; i < 20; i++) await ctx.emit(message(i));
    await first.close();

    const journal = await openJournal(dir);
    const tail = await journal.readTail(6);
    expect(tail.map((e) => e.seq)).toEqual([55, 56, 57, 58, 59, 60]);
    expect(tail.map((e) => (e.record.kind === 'reading' ? e.record.value : undefined))).toEqual([
      180, 181, 182, 190, 191, 192,
    ]);
    const dedupe = new DuplicateFilter(30); // the last 30 records: messages 10..19
    expect(await dedupe.recover(journal)).toBe(30);
    const { ctx: restarted } = context(journal, dedupe);
    expect(await restarted.emit([...message(19), ...message(10)])).toEqual({ accepted: 0, quarantined: 0 });
    expect(await restarted.emit(message(9))).toEqual({ accepted: 3, quarantined: 0 }); // older than the window
    expect(dedupe.suppressed(SOURCE.id)).toBe(6);

    // Records every sink has delivered are deleted: they are no longer in the tail.
    await journal.ack('central', journal.stats().last_seq, journal.stats().sinks.central?.queued ?? 0);
    expect(await journal.readTail(10)).toEqual([]);
    expect(await journal.readTail(0)).toEqual([]);
  });
});

describe('quarantine replay on the ingest path', () => {
  it('journals and counts a record once when a crash came between its replay and the removal of its entry', async () => {
    const dir = journalDir();
    const first = await openJournal(dir);
    const sample = message(7)[0] as RawSample;
    await first.quarantine([
      { at: Date.now(), source: SOURCE, reason: 'unknown_signal', detail: 'not declared then', sample },
    ]);
    const [entry] = await first.listQuarantine();
    if (!entry?.sample) throw new Error('the quarantine entry holds no sample');
    const path = { source: SOURCE, pipeline: pipeline() };
    expect(
      await replaySample({ ...path, journal: first, dedupe: new DuplicateFilter() }, entry.sample),
    ).toEqual({
      ok: true,
    });
    // The crash: the record is synced, the quarantine entry was not removed yet.
    await first.close();

    const journal = await openJournal(dir);
    const dedupe = new DuplicateFilter();
    await dedupe.recover(journal); // as the daemon does at start
    const [again] = await journal.listQuarantine();
    expect(again?.id).toBe(entry.id);
    if (!again?.sample) throw new Error('the quarantine entry holds no sample');
    // The operator replays it again: the record is already journaled, so the entry goes and nothing is appended.
    expect(await replaySample({ ...path, journal, dedupe }, again.sample)).toEqual({ ok: true });
    await journal.removeQuarantine([again.id], 'replayed');

    const ids = await journaledIds(journal);
    expect(ids.length).toBe(1);
    const st = journal.stats();
    expect(st.appended).toBe(1);
    expect(st.sinks.central).toMatchObject({ ingested: 1, queued: 1 });
    expect(st.quarantine).toMatchObject({ total: 1, held: 0, replayed: 1 });
    // The sample was counted once, as quarantined, when it came: its replay is no pipeline duplicate.
    expect(dedupe.suppressed(SOURCE.id)).toBe(0);
  });

  it('returns the reason when the pipeline refuses the sample again, and quarantines nothing new', async () => {
    const journal = await openJournal(journalDir());
    const stray: RawSample = { signal: 'lyon.unknown', value: 1, ts: T0, ts_unit: 'ms', address: 'x' };
    const r = await replaySample({ source: SOURCE, pipeline: pipeline(), journal }, stray);
    expect(r.ok).toBe(false);
    expect(r.reason).toBeTypeOf('string');
    expect(journal.stats().quarantine.total).toBe(0);
    expect(await journaledIds(journal)).toEqual([]);
  });
});
