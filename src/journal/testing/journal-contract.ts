// The contract suite every Journal backend runs: append/read/ack, cursors across restarts, per-sink selection,
// the ledger identity after every operation, deletion, bounds (drop_oldest, block), quarantine, dead letters and
// state. A backend's test file calls `describeJournalContract(name, factory)`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PlantgateError } from '../../kit/errors.js';
import type { CanonicalRecord } from '../../model/records.js';
import { event, expectLedgerBalanced, pollUntil, reading, track } from '../test-support.js';
import type { Journal, JournalOptions, SinkSelector } from '../types.js';

export type JournalFactory = (options: JournalOptions) => Journal;

export interface ContractHooks {
  /**
   * Recounts what the store really holds, for backends that can: the suite then checks `records` and `bytes`
   * against the store after deletions, drops and restarts.
   */
  check?: (j: Journal) => Promise<{
    records: number;
    bytes: number;
    counted_records: number;
    counted_bytes: number;
    /** The quarantine's and dead letters' byte counters and what the store holds, when the backend can recount. */
    quarantine_bytes?: number;
    counted_quarantine_bytes?: number;
    dead_letter_bytes?: number;
    counted_dead_letter_bytes?: number;
  }>;
}

const all: SinkSelector = { id: 'all', select: () => true };
const readingsOnly: SinkSelector = { id: 'readings', select: (r) => r.kind === 'reading' };
const eventsOnly: SinkSelector = { id: 'events', select: (r) => r.kind === 'event' };
/** Selects readings with an even value (every other reading built by `reading(i)` for consecutive i). */
const even: SinkSelector = {
  id: 'even',
  select: (r) => r.kind === 'reading' && typeof r.value === 'number' && r.value % 2 === 0,
};

const readings = (from: number, n: number): CanonicalRecord[] =>
  Array.from({ length: n }, (_, i) => reading(from + i));

export function describeJournalContract(
  name: string,
  factory: JournalFactory,
  hooks: ContractHooks = {},
): void {
  describe(`Journal contract: ${name}`, () => {
    const dirs: string[] = [];
    const open: Journal[] = [];

    afterEach(async () => {
      for (const j of open.splice(0)) await j.close();
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    });

    function tempDir(): string {
      const d = mkdtempSync(join(tmpdir(), 'journal-contract-'));
      dirs.push(d);
      return d;
    }

    async function start(
      opts: Partial<JournalOptions> & { dir?: string } = {},
      sinks = [all],
    ): Promise<Journal> {
      const j = factory({
        dir: opts.dir ?? tempDir(),
        maxBytes: 1024 ** 3,
        whenFull: 'block',
        commitIntervalMs: 5,
        ...opts,
      });
      open.push(j);
      await j.open();
      await j.setSinks(sinks);
      return j;
    }

    async function restart(j: Journal, opts: Partial<JournalOptions> & { dir: string }, sinks = [all]) {
      await j.close();
      open.splice(open.indexOf(j), 1);
      return start(opts, sinks);
    }

    /** The counters agree with what the store holds (when the backend can recount). */
    async function expectCountersTrue(j: Journal): Promise<void> {
      if (!hooks.check) return;
      const c = await hooks.check(j);
      expect(c.counted_records, 'records in the store vs the records counter').toBe(c.records);
      expect(c.counted_bytes, 'bytes in the store vs the bytes counter').toBe(c.bytes);
      expect(c.counted_quarantine_bytes, 'quarantine bytes in the store vs its counter').toBe(
        c.quarantine_bytes,
      );
      expect(c.counted_dead_letter_bytes, 'dead-letter bytes in the store vs its counter').toBe(
        c.dead_letter_bytes,
      );
    }

    /** The stored size of `records`, measured in a scratch journal (the contract does not know the encoding). */
    async function sizeOf(records: CanonicalRecord[]): Promise<number> {
      const j = await start();
      await j.append(records);
      const b = j.stats().bytes;
      await j.close();
      open.splice(open.indexOf(j), 1);
      return b;
    }

    it('appends, reads in seq order from after a seq, and honours record and byte limits', async () => {
      const j = await start();
      await j.append(readings(1, 5));
      await j.append(readings(6, 5));
      const got = await j.read('all', 0, 100, 1e9);
      expect(got.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(got.map((e) => e.record)).toEqual(readings(1, 10));
      for (const e of got) expect(e.bytes).toBeGreaterThan(0);
      expect((await j.read('all', 7, 100, 1e9)).map((e) => e.seq)).toEqual([8, 9, 10]);
      expect((await j.read('all', 2, 3, 1e9)).map((e) => e.seq)).toEqual([3, 4, 5]);
      const size = (got[0] as { bytes: number }).bytes;
      expect((await j.read('all', 0, 100, size * 2 + 1)).length).toBe(2);
      // One record always comes back, however small the byte limit, so an oversized record cannot wedge a sink.
      expect((await j.read('all', 0, 100, 1)).length).toBe(1);
      expect(await j.read('all', 10, 100, 1e9)).toEqual([]);
      const s = j.stats();
      expect(s.records).toBe(10);
      expect(s.last_seq).toBe(10);
      expect(s.first_seq).toBe(1);
      expect(s.sinks.all).toMatchObject({ ingested: 10, queued: 10, delivered: 0, cursor: 0 });
      expectLedgerBalanced(s);
    });

    it('keeps seq, cursors and counters across close and reopen', async () => {
      const dir = tempDir();
      let j = await start({ dir }, [all, readingsOnly]);
      await j.append([...readings(1, 3), event(4), reading(5)]);
      await j.ack('all', 3, 3);
      j = await restart(j, { dir }, [all, readingsOnly]);
      expect(j.cursor('all')).toBe(3);
      expect(j.cursor('readings')).toBe(0);
      expect(j.stats().sinks.all).toMatchObject({ ingested: 5, delivered: 3, queued: 2 });
      expect(j.stats().sinks.readings).toMatchObject({ ingested: 4, delivered: 0, queued: 4 });
      await j.append([reading(6)]);
      expect(j.stats().last_seq).toBe(6);
      expect((await j.read('all', j.cursor('all'), 100, 1e9)).map((e) => e.seq)).toEqual([4, 5, 6]);
      expectLedgerBalanced(j.stats());
    });

    it('selects records per sink: reads skip what a sink does not select and ledgers count only its records', async () => {
      const j = await start({}, [all, readingsOnly, eventsOnly, even]);
      const recs = [reading(1), event(2), reading(2), reading(3), event(5), reading(4)];
      await j.append(recs);
      expect((await j.read('events', 0, 100, 1e9)).map((e) => e.seq)).toEqual([2, 5]);
      expect((await j.read('readings', 0, 100, 1e9)).map((e) => e.seq)).toEqual([1, 3, 4, 6]);
      expect((await j.read('even', 0, 100, 1e9)).map((e) => e.seq)).toEqual([3, 6]);
      const s = j.stats();
      expect(s.sinks.all?.ingested).toBe(6);
      expect(s.sinks.readings?.ingested).toBe(4);
      expect(s.sinks.events?.ingested).toBe(2);
      expect(s.sinks.even?.ingested).toBe(2);
      await j.ack('events', 5, 2);
      expect(j.stats().sinks.events).toMatchObject({ delivered: 2, queued: 0, cursor: 5 });
      expectLedgerBalanced(j.stats());
    });

    it('counts delivered records itself, ignores cursor regressions and refuses acks beyond the end', async () => {
      const j = await start({}, [all, even]);
      await j.append(readings(1, 10));
      await j.read('even', 0, 100, 1e9);
      // The caller's count is checked against the records really waiting: 2, 4, 6 for `even`.
      await j.ack('even', 6, 3);
      expect(j.stats().sinks.even).toMatchObject({ delivered: 3, queued: 2, cursor: 6 });
      await j.ack('even', 4, 2);
      expect(j.cursor('even')).toBe(6);
      expect(j.stats().sinks.even?.delivered).toBe(3);
      // A wrong claim (no read beforehand, so the journal has to scan) does not unbalance the ledger.
      await j.ack('all', 5, 99);
      expect(j.stats().sinks.all).toMatchObject({ delivered: 5, queued: 5 });
      await expect(j.ack('all', 11, 1)).rejects.toBeInstanceOf(PlantgateError);
      await expect(j.ack('nope', 1, 1)).rejects.toBeInstanceOf(PlantgateError);
      expect(() => j.cursor('nope')).toThrow(PlantgateError);
      // Refused acks fail alone: the journal keeps working.
      await j.append([reading(11)]);
      expect(j.stats().last_seq).toBe(11);
      expectLedgerBalanced(j.stats());
    });

    it('starts a new sink at the current end and stops holding records for a removed sink', async () => {
      const dir = tempDir();
      let j = await start({ dir }, [all]);
      await j.append(readings(1, 4));
      await j.setSinks([all, readingsOnly]);
      expect(j.cursor('readings')).toBe(4);
      expect(await j.read('readings', j.cursor('readings'), 100, 1e9)).toEqual([]);
      await j.append(readings(5, 2));
      expect((await j.read('readings', 4, 100, 1e9)).map((e) => e.seq)).toEqual([5, 6]);
      expect(j.stats().sinks.readings?.ingested).toBe(2);
      await j.ack('readings', 6, 2);
      // `all` holds everything; remove it and the records go once `readings` has them.
      expect(j.stats().records).toBe(6);
      await j.setSinks([readingsOnly]);
      await j.append([reading(7)]);
      await j.ack('readings', 7, 1);
      expect(j.stats().records).toBe(0);
      expect(j.stats().sinks.all).toBeUndefined();
      j = await restart(j, { dir }, [readingsOnly]);
      expect(j.stats().records).toBe(0);
      expect(j.cursor('readings')).toBe(7);
      expectLedgerBalanced(j.stats());
    });

    it('deletes records every selecting sink acknowledged, exactly, and never returns them again', async () => {
      const dir = tempDir();
      let j = await start({ dir }, [all, readingsOnly]);
      await j.append([...readings(1, 50), event(51), ...readings(52, 49)]);
      const size = j.stats().bytes;
      await j.ack('all', 60, 60);
      // `readings` has not acknowledged anything: nothing can go.
      expect(j.stats().records).toBe(100);
      await j.ack('readings', 40, 40);
      expect(j.stats().records).toBe(60);
      expect(j.stats().first_seq).toBe(41);
      expect(j.stats().bytes).toBeLessThan(size);
      expect((await j.read('all', 0, 1000, 1e9))[0]?.seq).toBe(41);
      await j.ack('readings', 100, 59);
      // `readings` is done; `all` still holds 61..100.
      expect(j.stats().records).toBe(40);
      await j.ack('all', 100, 40);
      expect(j.stats()).toMatchObject({ records: 0, bytes: 0, first_seq: 0, last_seq: 100 });
      expect(await j.read('all', 0, 1000, 1e9)).toEqual([]);
      j = await restart(j, { dir }, [all, readingsOnly]);
      expect(j.stats()).toMatchObject({ records: 0, bytes: 0, last_seq: 100 });
      expect(await j.read('all', 0, 1000, 1e9)).toEqual([]);
      await j.append([reading(101)]);
      expect((await j.read('all', 0, 1000, 1e9)).map((e) => e.seq)).toEqual([101]);
      expectLedgerBalanced(j.stats());
      await expectCountersTrue(j);
    });

    it('a sink whose records are rare does not hold back the records it does not select', async () => {
      const j = await start({}, [readingsOnly, eventsOnly]);
      await j.append([event(1), ...readings(2, 9)]);
      await j.ack('events', 1, 1);
      await j.ack('readings', 10, 9);
      expect(j.stats().records).toBe(0);
      await j.append(readings(11, 5));
      await j.ack('readings', 15, 5);
      // `events` has nothing after its cursor (1): it does not hold 11..15.
      expect(j.stats().records).toBe(0);
      expectLedgerBalanced(j.stats());
    });

    it('drop_oldest drops the oldest readings and counts them exactly per sink that had not acknowledged them', async () => {
      const size = (await sizeOf(readings(1, 10))) / 10;
      const j = await start({ maxBytes: Math.floor(size * 10.5), whenFull: 'drop_oldest' }, [all, even]);
      await j.append(readings(1, 10));
      await j.ack('all', 3, 3);
      expect(j.stats().records).toBe(10);
      // 4 more need 3.5 records of room: the 4 oldest go. `all` had acknowledged 1..3, so only seq 4 counts for it;
      // `even` (values of 2 and 4) had acknowledged nothing.
      await j.append(readings(11, 4));
      const s = j.stats();
      expect(s.records).toBe(10);
      expect(s.bytes).toBeLessThanOrEqual(Math.floor(size * 10.5));
      expect(s.sinks.all?.dropped).toEqual({ max_bytes: 1 });
      expect(s.sinks.even?.dropped).toEqual({ max_bytes: 2 });
      expect((await j.read('all', 3, 100, 1e9)).map((e) => e.seq)).toEqual([
        5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
      ]);
      expect((await j.read('even', 0, 100, 1e9)).map((e) => e.seq)).toEqual([6, 8, 10, 12, 14]);
      expectLedgerBalanced(s);
      await expectCountersTrue(j);
      await j.ack('even', 14, 5);
      await j.ack('all', 14, 10);
      expect(j.stats().records).toBe(0);
      expect(j.stats().sinks.all).toMatchObject({ delivered: 13, queued: 0 });
      expect(j.stats().sinks.even).toMatchObject({ delivered: 5, queued: 0 });
      expectLedgerBalanced(j.stats());
    });

    it('drop_oldest never drops events: it drops readings around them and blocks when only events are left', async () => {
      const rSize = (await sizeOf([reading(1)])) as number;
      const eSize = (await sizeOf([event(1)])) as number;
      const max = 2 * eSize + 4 * rSize + Math.floor(rSize / 2);
      const j = await start({ maxBytes: max, whenFull: 'drop_oldest' }, [all]);
      await j.append([event(1), reading(2), event(3), reading(4), reading(5), reading(6)]);
      await j.append(readings(7, 3));
      // Readings 2, 4 and 5 made room; both events are still there.
      expect((await j.read('all', 0, 100, 1e9)).map((e) => e.seq)).toEqual([1, 3, 6, 7, 8, 9]);
      expect(j.stats().sinks.all?.dropped).toEqual({ max_bytes: 3 });
      await expectCountersTrue(j);
      await j.ack('all', 9, 6);
      expect(j.stats().records).toBe(0);
      const eventsThatFit = Math.floor(max / eSize);
      await j.append(Array.from({ length: eventsThatFit }, (_, i) => event(100 + i)));
      const pending = track(j.append([event(200)]));
      await pollUntil(() => j.stats().blocked, 'the journal to block on events');
      expect(pending.settled()).toBe(false);
      expect(j.stats().sinks.all?.dropped).toEqual({ max_bytes: 3 });
      await j.ack('all', j.stats().last_seq, eventsThatFit);
      await pending.promise;
      expect(j.stats().blocked).toBe(false);
      expect((await j.read('all', j.cursor('all'), 100, 1e9)).map((e) => e.record.id)).toEqual([
        event(200).id,
      ]);
      expectLedgerBalanced(j.stats());
    });

    it('block holds an append until acknowledgements free room, and an abort rejects it', async () => {
      const size = (await sizeOf(readings(1, 5))) / 5;
      const j = await start({ maxBytes: Math.floor(size * 5.5), whenFull: 'block' }, [all]);
      await j.append(readings(1, 5));
      const pending = track(j.append(readings(6, 2)));
      await pollUntil(() => j.stats().blocked, 'the journal to report blocked');
      expect(pending.settled()).toBe(false);
      const ac = new AbortController();
      const aborted = track(j.append([reading(8)], ac.signal));
      ac.abort();
      await expect(aborted.promise).rejects.toMatchObject({ code: 'ABORTED' });
      // One record of room is not enough for the two-record append.
      await j.ack('all', 1, 1);
      expect(pending.settled()).toBe(false);
      await j.ack('all', 2, 1);
      await pending.promise;
      expect(j.stats().blocked).toBe(false);
      expect(j.stats().records).toBe(5);
      expect((await j.read('all', 2, 100, 1e9)).map((e) => e.seq)).toEqual([3, 4, 5, 6, 7]);
      expect(j.stats().sinks.all?.dropped).toEqual({});
      expectLedgerBalanced(j.stats());
    });

    it('rejects an append larger than the whole journal instead of waiting forever', async () => {
      const size = (await sizeOf(readings(1, 3))) / 3;
      const j = await start({ maxBytes: Math.floor(size * 2) });
      await expect(j.append(readings(1, 3))).rejects.toMatchObject({ code: 'JOURNAL_FULL' });
    });

    it('waitFor resolves when a record arrives, per sink when asked, and on abort', async () => {
      const j = await start({}, [all, eventsOnly]);
      const ac = new AbortController();
      const any = track(j.waitFor(0, ac.signal));
      const ev = track(j.waitFor(0, ac.signal, 'events'));
      expect(any.settled()).toBe(false);
      await j.append([reading(1)]);
      await any.promise;
      expect(ev.settled()).toBe(false);
      await j.append([event(2)]);
      await ev.promise;
      const later = track(j.waitFor(2, ac.signal));
      ac.abort();
      await later.promise;
      await j.waitFor(0, new AbortController().signal);
    });

    it('quarantines raw samples losslessly, lists by reason with paging, and counts removals by outcome', async () => {
      const dir = tempDir();
      let j = await start({ dir });
      const at = Date.now();
      const source = { id: 'press-1', type: 'opcua' };
      const sample = {
        signal: 'lyon.press1.hydraulic_pressure',
        value: Number.NaN,
        ts: new Date(Date.UTC(2026, 2, 29, 1, 30)),
        address: 'ns=3;i=1001',
        attrs: { lot: 'L1' },
      };
      await j.quarantine([
        { at, source, reason: 'not_a_number', detail: 'NaN', sample },
        { at, source, reason: 'out_of_range', detail: 'above 400', sample: { ...sample, value: 123n ** 5n } },
        {
          at,
          source,
          reason: 'out_of_range',
          detail: 'inf',
          sample: { ...sample, value: Number.POSITIVE_INFINITY },
        },
        { at, source, reason: 'unparseable', detail: 'bad JSON', raw: '{"v":' },
      ]);
      j = await restart(j, { dir });
      const listed = await j.listQuarantine();
      expect(listed.map((e) => e.id)).toEqual([1, 2, 3, 4]);
      expect(listed[0]?.sample?.value).toBeNaN();
      expect(listed[0]?.sample?.ts).toEqual(sample.ts);
      expect(listed[1]?.sample?.value).toBe(123n ** 5n);
      expect(listed[2]?.sample?.value).toBe(Number.POSITIVE_INFINITY);
      expect(listed[3]?.raw).toBe('{"v":');
      expect(await j.getQuarantine(2)).toEqual(listed[1]);
      expect(await j.getQuarantine(99)).toBeUndefined();
      expect((await j.listQuarantine({ reason: 'out_of_range' })).map((e) => e.id)).toEqual([2, 3]);
      expect((await j.listQuarantine({ afterId: 2, limit: 1 })).map((e) => e.id)).toEqual([3]);
      expect(await j.removeQuarantine([1, 2, 77], 'replayed')).toBe(2);
      expect(await j.removeQuarantine([3], 'purged')).toBe(1);
      expect(await j.removeQuarantine([3], 'purged')).toBe(0);
      const q = j.stats().quarantine;
      expect(q).toMatchObject({ total: 4, by_reason: { not_a_number: 1, out_of_range: 2, unparseable: 1 } });
      expect(q).toMatchObject({ held: 1, held_by_reason: { unparseable: 1 }, replayed: 2, purged: 1 });
      await j.quarantine([{ at, source, reason: 'unparseable', detail: 'again', raw: 'x' }]);
      expect((await j.listQuarantine()).map((e) => e.id)).toEqual([4, 5]);
    });

    it('pages quarantine entries and dead letters with a cursor, exports them page by page, and refuses bad limits', async () => {
      const dir = tempDir();
      const j = await start({ dir }, [all]);
      const at = Date.now();
      const source = { id: 'line-2', type: 'mqtt' };
      await j.quarantine(
        Array.from({ length: 25 }, (_, i) => ({
          at,
          source,
          reason: i % 5 === 0 ? 'oversize' : 'unparseable',
          detail: `#${i}`,
          raw: `${i}`,
        })),
      );
      const ids: number[] = [];
      let after: number | undefined;
      let pages = 0;
      for (;;) {
        const page = await j.pageQuarantine({ after, limit: 10 });
        pages++;
        expect(page.items.length).toBeLessThanOrEqual(10);
        ids.push(...page.items.map((e) => e.id));
        if (page.next === undefined) break;
        after = page.next;
      }
      expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
      expect(pages).toBe(3);
      const oversize = await j.pageQuarantine({ limit: 100, reason: 'oversize' });
      expect(oversize.items.map((e) => e.id)).toEqual([1, 6, 11, 16, 21]);
      expect(oversize.next).toBeUndefined();
      const exported: number[] = [];
      for await (const e of j.exportQuarantine({ pageSize: 4 })) exported.push(e.id);
      expect(exported).toEqual(ids);
      const exportedOversize: number[] = [];
      for await (const e of j.exportQuarantine({ reason: 'oversize', pageSize: 2 }))
        exportedOversize.push(e.id);
      expect(exportedOversize).toEqual([1, 6, 11, 16, 21]);
      for (const limit of [0, -1, 1.5, Number.NaN, 10_001, '5' as unknown as number]) {
        await expect(j.pageQuarantine({ limit }), `limit ${String(limit)}`).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
        });
        await expect(j.pageDeadLetters({ limit }), `limit ${String(limit)}`).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
        });
      }
      await expect(j.pageQuarantine({ limit: 1, after: -3 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });

      await j.append(readings(1, 12));
      for (let i = 0; i < 6; i++) {
        const first = i * 2 + 1;
        await j.deadLetter(
          {
            batch_id: `gw:all:${first}-${first + 1}`,
            sink: 'all',
            at,
            status: 400,
            error: 'bad',
            records: [reading(first), reading(first + 1)],
          },
          first + 1,
        );
      }
      const batchIds: string[] = [];
      let dlAfter: string | undefined;
      for (;;) {
        const page = await j.pageDeadLetters({ after: dlAfter, limit: 4 });
        batchIds.push(...page.items.map((l) => l.batch_id));
        if (page.next === undefined) break;
        dlAfter = page.next;
      }
      expect(batchIds).toHaveLength(6);
      expect(new Set(batchIds).size).toBe(6);
      expect((await j.pageDeadLetters({ limit: 10, sink: 'other' })).items).toEqual([]);
      const exportedLetters: string[] = [];
      for await (const l of j.exportDeadLetters({ sink: 'all', pageSize: 1 }))
        exportedLetters.push(l.batch_id);
      expect(exportedLetters).toEqual(batchIds);
      expect((await j.getDeadLetter('gw:all:3-4'))?.records.length).toBe(2);
      expect(await j.getDeadLetter('gw:all:99-100')).toBeUndefined();
    });

    /** `n` quarantine entries of about `payload` bytes each, as an MQTT source quarantines oversize messages. */
    const oversize = (from: number, n: number, payload = 1000, at = Date.now()) =>
      Array.from({ length: n }, (_, i) => ({
        at,
        source: { id: 'line-2', type: 'mqtt' },
        reason: 'oversize',
        detail: `message ${from + i} is larger than max_payload`,
        raw: `${from + i}:`.padEnd(payload, 'x'),
      }));

    it('bounds the quarantine (drop_oldest): bytes stay under max_bytes, the newest are kept, drops are counted and persisted', async () => {
      const dir = tempDir();
      const bound = { maxBytes: 50_000, whenFull: 'drop_oldest' as const };
      let j = await start({ dir, quarantine: bound });
      // 400 entries of ~1 kB (400 kB) against a 50 kB bound, 10 per call and several calls per commit.
      for (let i = 0; i < 40; i += 4) {
        await Promise.all([0, 1, 2, 3].map((k) => j.quarantine(oversize((i + k) * 10 + 1, 10))));
        const q = j.stats().quarantine;
        expect(q.bytes, `after ${(i + 4) * 10} entries`).toBeLessThanOrEqual(bound.maxBytes);
      }
      let q = j.stats().quarantine;
      expect(q.held).toBeGreaterThan(30);
      expect(q.held).toBeLessThan(60);
      expect(q).toMatchObject({ total: 400, max_bytes: 50_000, when_full: 'drop_oldest' });
      expect(q.dropped?.max_bytes).toBe(400 - (q.held ?? 0));
      expect(q.held_by_reason).toEqual({ oversize: q.held });
      expect(q.dropping_since).toBeGreaterThan(0);
      // The newest entries are the ones kept.
      const ids: number[] = [];
      for await (const e of j.exportQuarantine({ pageSize: 7 })) ids.push(e.id);
      expect(ids).toHaveLength(q.held as number);
      expect(ids.at(-1)).toBe(400);
      expect(ids[0]).toBe(400 - ids.length + 1);
      await expectCountersTrue(j);

      j = await restart(j, { dir, quarantine: bound });
      const after = j.stats().quarantine;
      expect(after).toMatchObject({ total: 400, held: q.held, bytes: q.bytes, dropped: q.dropped });
      // Purging below the bound ends the episode: /status stops saying it is dropping.
      await j.quarantine(oversize(401, 5));
      expect(j.stats().quarantine.dropping_since).toBeGreaterThan(0);
      const held = [];
      for await (const e of j.exportQuarantine()) held.push(e.id);
      expect(await j.removeQuarantine(held.slice(0, 20), 'purged')).toBe(20);
      q = j.stats().quarantine;
      expect(q.dropping_since).toBeUndefined();
      expect(q.bytes).toBeLessThan(0.9 * bound.maxBytes);
      expect(q.total).toBe((q.held ?? 0) + (q.replayed ?? 0) + (q.purged ?? 0) + (q.dropped?.max_bytes ?? 0));
      await expectCountersTrue(j);
    });

    it('bounds the quarantine (drop_newest): the oldest are kept and what does not fit is refused and counted', async () => {
      const j = await start({ quarantine: { maxBytes: 20_000, whenFull: 'drop_newest' } });
      for (let i = 0; i < 10; i++) await j.quarantine(oversize(i * 10 + 1, 10));
      const q = j.stats().quarantine;
      expect(q.bytes).toBeLessThanOrEqual(20_000);
      expect(q.total).toBe(100);
      expect((q.held ?? 0) + (q.dropped?.max_bytes ?? 0)).toBe(100);
      expect(q.held).toBeGreaterThan(10);
      expect(q.dropping_since).toBeGreaterThan(0);
      const first = await j.pageQuarantine({ limit: 1 });
      expect(first.items[0]?.id).toBe(1);
      // An entry larger than the whole bound is refused under either policy, never stored.
      await j.quarantine(oversize(1000, 1, 30_000));
      expect(j.stats().quarantine.dropped?.max_bytes).toBe((q.dropped?.max_bytes ?? 0) + 1);
      await expectCountersTrue(j);
    });

    it('drops quarantine entries and dead letters older than their max_age, and keeps the younger ones', async () => {
      const dir = tempDir();
      const opts = {
        dir,
        quarantine: { maxBytes: 1e9, maxAgeMs: 2_000, whenFull: 'drop_oldest' as const },
        deadLetters: { maxBytes: 1e9, maxAgeMs: 2_000, whenFull: 'drop_oldest' as const },
      };
      const j = await start(opts, [all]);
      const old = Date.now() - 60_000;
      await j.quarantine(oversize(1, 3, 100, old));
      await j.quarantine(oversize(4, 2, 100));
      await j.append(readings(1, 6));
      await j.deadLetter(
        { batch_id: 'gw:all:1-3', sink: 'all', at: old, status: 400, error: 'bad', records: readings(1, 3) },
        3,
      );
      await j.deadLetter(
        {
          batch_id: 'gw:all:4-6',
          sink: 'all',
          at: Date.now(),
          status: 400,
          error: 'bad',
          records: readings(4, 3),
        },
        6,
      );
      await pollUntil(
        () => j.stats().quarantine.dropped?.max_age === 3 && j.stats().dead_letters.dropped?.max_age === 1,
        'the age bound to drop the old entries',
      );
      expect((await j.pageQuarantine({ limit: 10 })).items.map((e) => e.id)).toEqual([4, 5]);
      expect((await j.pageDeadLetters({ limit: 10 })).items.map((l) => l.batch_id)).toEqual(['gw:all:4-6']);
      const s = j.stats();
      expect(s.quarantine).toMatchObject({ held: 2, total: 5 });
      expect(s.quarantine.dropping_since).toBeUndefined();
      expect(s.dead_letters).toMatchObject({ batches: 1, records: 3, dropped_records: 3 });
      expect(s.sinks.all).toMatchObject({ dead_lettered: 3, dropped: { dead_letters_max_age: 3 } });
      expectLedgerBalanced(s);
      await expectCountersTrue(j);
    });

    it('bounds the dead letters: the oldest batches are dropped, their records counted dropped for the sink', async () => {
      const dir = tempDir();
      const letterOf = (first: number) => ({
        batch_id: `gw:all:${first}-${first + 1}`,
        sink: 'all',
        at: Date.now(),
        status: 400,
        error: 'rejected',
        records: [reading(first), reading(first + 1)],
      });
      // Measure one stored letter, then allow about three.
      const probe = await start({ dir: tempDir() }, [all]);
      await probe.append(readings(1, 2));
      await probe.deadLetter(letterOf(1), 2);
      const one = probe.stats().dead_letters.bytes as number;
      expect(one).toBeGreaterThan(0);
      const bound = { maxBytes: Math.floor(one * 3.5), whenFull: 'drop_oldest' as const };
      let j = await start({ dir, deadLetters: bound }, [all]);
      await j.append(readings(1, 20));
      for (let first = 1; first < 20; first += 2) await j.deadLetter(letterOf(first), first + 1);
      let s = j.stats();
      expect(s.dead_letters.bytes).toBeLessThanOrEqual(bound.maxBytes);
      expect(s.dead_letters).toMatchObject({
        batches: 3,
        records: 6,
        dropped: { max_bytes: 7 },
        dropped_records: 14,
      });
      expect(s.dead_letters.dropping_since).toBeGreaterThan(0);
      expect(s.sinks.all).toMatchObject({
        dead_lettered: 6,
        dropped: { dead_letters_max_bytes: 14 },
        queued: 0,
      });
      expectLedgerBalanced(s);
      expect((await j.pageDeadLetters({ limit: 10 })).items.map((l) => l.batch_id)).toEqual([
        'gw:all:15-16',
        'gw:all:17-18',
        'gw:all:19-20',
      ]);
      j = await restart(j, { dir, deadLetters: bound }, [all]);
      s = j.stats();
      expect(s.dead_letters).toMatchObject({ batches: 3, dropped: { max_bytes: 7 }, dropped_records: 14 });
      expectLedgerBalanced(s);
      await expectCountersTrue(j);

      // drop_newest: a full store refuses the new batch; the cursor still moves past it and its records count dropped.
      j = await restart(j, { dir, deadLetters: { ...bound, whenFull: 'drop_newest' } }, [all]);
      await j.append(readings(21, 2));
      await j.deadLetter(letterOf(21), 22);
      s = j.stats();
      expect(j.cursor('all')).toBe(22);
      expect(s.dead_letters).toMatchObject({ batches: 3, dropped: { max_bytes: 8 }, dropped_records: 16 });
      expect(await j.getDeadLetter('gw:all:21-22')).toBeUndefined();
      expectLedgerBalanced(s);
      await expectCountersTrue(j);
    });

    it('dead-letters a batch, moves the cursor past it, and keeps the ledger exact through delivered and purged', async () => {
      const dir = tempDir();
      let j = await start({ dir }, [all]);
      await j.append(readings(1, 10));
      const batch = await j.read('all', 0, 4, 1e9);
      const letter = {
        batch_id: 'gw:all:1-4',
        sink: 'all',
        at: Date.now(),
        status: 422,
        error: 'rejected',
        records: batch.map((e) => e.record),
      };
      await j.deadLetter(letter, 4);
      expect(j.cursor('all')).toBe(4);
      expect(j.stats().sinks.all).toMatchObject({ dead_lettered: 4, queued: 6, delivered: 0 });
      expect(j.stats().dead_letters).toMatchObject({ batches: 1, records: 4 });
      await j.deadLetter({ ...letter, batch_id: 'gw:all:5-6', records: [] }, 6);
      j = await restart(j, { dir }, [all]);
      expect((await j.listDeadLetters('all')).map((l) => l.batch_id)).toEqual(['gw:all:1-4', 'gw:all:5-6']);
      expect(await j.listDeadLetters('other')).toEqual([]);
      expect((await j.listDeadLetters(undefined, 1)).length).toBe(1);
      const removed = await j.removeDeadLetter('gw:all:1-4', 'delivered');
      expect(removed?.records).toEqual(letter.records);
      expect(j.stats().sinks.all).toMatchObject({ dead_lettered: 2, delivered: 4 });
      await j.removeDeadLetter('gw:all:5-6', 'purged');
      expect(await j.removeDeadLetter('gw:all:5-6', 'purged')).toBeUndefined();
      expect(j.stats().sinks.all).toMatchObject({ dead_lettered: 0, delivered: 4, dropped: { purged: 2 } });
      expect(j.stats().dead_letters).toMatchObject({ batches: 0, records: 0, bytes: 0 });
      expectLedgerBalanced(j.stats());
    });

    it('persists derived-event state with the next commit', async () => {
      const dir = tempDir();
      let j = await start({ dir });
      await j.putState('window:press-1', { start: 10, count: 3 });
      const p = j.putState('window:press-2', { start: 11 });
      // Visible to readers before the commit finished.
      expect(await j.getState('window:press-2')).toEqual({ start: 11 });
      await p;
      j = await restart(j, { dir });
      expect(await j.getState('window:press-1')).toEqual({ start: 10, count: 3 });
      expect(await j.getState('window:press-2')).toEqual({ start: 11 });
      expect(await j.getState('missing')).toBeUndefined();
    });

    it('drops readings older than max_age (counted per sink) but keeps events', async () => {
      const j = await start({ maxAgeMs: 150, whenFull: 'drop_oldest' }, [all]);
      await j.append([reading(1), event(2), reading(3)]);
      await pollUntil(() => j.stats().records === 1, 'old readings to be dropped', 5000);
      expect(j.stats().sinks.all?.dropped).toEqual({ max_age: 2 });
      expect((await j.read('all', 0, 100, 1e9)).map((e) => e.seq)).toEqual([2]);
      expectLedgerBalanced(j.stats());
    });

    it('flushes on close, is idempotent, and refuses work afterwards', async () => {
      const dir = tempDir();
      const j = await start({ dir });
      const appends = [j.append(readings(1, 3)), j.append(readings(4, 3))];
      await j.close();
      await Promise.all(appends);
      await j.close();
      await expect(j.append([reading(7)])).rejects.toMatchObject({ code: 'JOURNAL_CLOSED' });
      const k = await start({ dir });
      expect(k.stats().last_seq).toBe(6);
    });

    it('keeps the ledger balanced through a random mix of operations', async () => {
      const dir = tempDir();
      const size = (await sizeOf([reading(1)])) as number;
      const opts = { dir, maxBytes: size * 40, whenFull: 'drop_oldest' as const };
      const sinks = [all, even, eventsOnly];
      let j = await start(opts, sinks);
      let seed = 42;
      const rnd = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      let n = 0;
      for (let step = 0; step < 120; step++) {
        const r = rnd();
        if (r < 0.45) {
          const k = 1 + Math.floor(rnd() * 8);
          await j.append(Array.from({ length: k }, () => (rnd() < 0.1 ? event(++n) : reading(++n))));
        } else if (r < 0.85) {
          const sink = sinks[Math.floor(rnd() * sinks.length)] as SinkSelector;
          const got = await j.read(sink.id, j.cursor(sink.id), 1 + Math.floor(rnd() * 10), 1e9);
          const last = got.at(-1);
          if (last && rnd() < 0.9) await j.ack(sink.id, last.seq, got.length);
          else if (last) {
            const letter = {
              batch_id: `b${step}`,
              sink: sink.id,
              at: 0,
              error: 'x',
              records: got.map((e) => e.record),
            };
            await j.deadLetter(letter, last.seq);
          }
        } else if (r < 0.92) {
          const letters = await j.listDeadLetters(undefined, 1);
          if (letters[0]) await j.removeDeadLetter(letters[0].batch_id, rnd() < 0.5 ? 'delivered' : 'purged');
        } else {
          j = await restart(j, opts, sinks);
        }
        expectLedgerBalanced(j.stats());
        expect(j.stats().bytes).toBeLessThanOrEqual(opts.maxBytes);
        await expectCountersTrue(j);
      }
      // Drain: every sink reads and acknowledges everything; then the journal is empty.
      for (const sink of sinks) {
        for (;;) {
          const got = await j.read(sink.id, j.cursor(sink.id), 100, 1e9);
          const last = got.at(-1);
          if (!last) break;
          await j.ack(sink.id, last.seq, got.length);
        }
      }
      const s = j.stats();
      expect(s.records).toBe(0);
      for (const sink of Object.values(s.sinks)) expect(sink.queued).toBe(0);
      expectLedgerBalanced(s);
      await expectCountersTrue(j);
    });
  });
}
