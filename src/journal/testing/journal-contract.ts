// The contract suite every Journal backend runs: append/read/ack, cursors across restarts, per-sink selection,
// the ledger identity after every operation, deletion, bounds (drop_oldest, block), quarantine, dead letters and
// state. A backend's test file calls `describeJournalContract(name, factory)`; the side stores' tests are in
// journal-contract-side-stores.ts and the shared fixture in contract-fixture.ts.
import { describe, expect, it } from 'vitest';
import { PlantgateError } from '../../kit/errors.js';
import { event, expectLedgerBalanced, pollUntil, reading, track } from '../test-support.js';
import type { SinkSelector } from '../types.js';
import {
  all,
  type ContractHooks,
  contractFixture,
  even,
  eventsOnly,
  type JournalFactory,
  readings,
  readingsOnly,
} from './contract-fixture.js';
import { sideStoreContract } from './journal-contract-side-stores.js';

export type { ContractHooks, JournalFactory };

export function describeJournalContract(
  name: string,
  factory: JournalFactory,
  hooks: ContractHooks = {},
): void {
  describe(`Journal contract: ${name}`, () => {
    const fx = contractFixture(factory, hooks);
    const { tempDir, start, restart, expectCountersTrue, sizeOf } = fx;

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

    sideStoreContract(fx);

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
