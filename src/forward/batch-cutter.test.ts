// Unit tests of batch cutting without a receiver: the batch rule (takeInto), deterministic batch ids, filling up
// to max_wait, and exact resends after a restart, on a real LevelDB journal in a temp folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelJournal } from '../journal/level-journal.js';
import type { Journal, JournalEntry } from '../journal/types.js';
import { BatchCutter, type BatchLimits, type Cut, takeInto } from './batch-cutter.js';
import { sinkSelector } from './select.js';
import { makeReading } from './test-support.js';

const GW = 'lyon-edge-01';
const SINK = 'central';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Entries with the given stored sizes, seqs from 1. */
function entries(sizes: number[]): JournalEntry[] {
  return sizes.map((bytes, i) => ({ seq: i + 1, bytes, record: makeReading(i) }));
}

const empty = () => ({ entries: [] as JournalEntry[], bytes: 0, full: false });
const seqs = (t: { entries: JournalEntry[] }) => t.entries.map((e) => e.seq);

describe('takeInto, the batch rule', () => {
  it('takes up to max_records and then says the batch is full', () => {
    const t = takeInto(empty(), entries([10, 10, 10, 10]), { max_records: 3, max_bytes: 1000 });
    expect(seqs(t)).toEqual([1, 2, 3]);
    expect(t).toMatchObject({ bytes: 30, full: true });
  });

  it('stops before the entry that would pass max_bytes, but always takes the first', () => {
    const t = takeInto(empty(), entries([40, 40, 40]), { max_records: 10, max_bytes: 100 });
    expect(seqs(t)).toEqual([1, 2]);
    expect(t.full).toBe(true);
    const big = takeInto(empty(), entries([500, 10]), { max_records: 10, max_bytes: 100 });
    expect(seqs(big)).toEqual([1]);
    expect(big.full).toBe(true);
  });

  it('stops before beforeSeq, and is not full when the entries simply ran out', () => {
    expect(seqs(takeInto(empty(), entries([1, 1, 1, 1]), { max_records: 10, max_bytes: 100 }, 3))).toEqual([
      1, 2,
    ]);
    const t = takeInto(empty(), entries([1, 1]), { max_records: 10, max_bytes: 100 });
    expect(t).toMatchObject({ bytes: 2, full: false });
  });

  it('filling a batch in steps gives the batch one call gives, wherever the entries are split', () => {
    const all = entries([30, 5, 70, 20, 20, 1, 90, 10, 10, 10, 40, 3]);
    for (const limits of [
      { max_records: 4, max_bytes: 1000 },
      { max_records: 50, max_bytes: 100 },
      { max_records: 5, max_bytes: 120 },
    ]) {
      const once = takeInto(empty(), all, limits);
      for (let k = 1; k < all.length; k++) {
        const stepped = takeInto(empty(), all.slice(0, k), limits);
        // The max_wait loop reads only after the last entry taken, and only while the batch is not full.
        if (!stepped.full) takeInto(stepped, all.slice(k), limits);
        expect({ k, ...stepped }).toEqual({ k, ...once });
      }
    }
  });
});

describe('BatchCutter', () => {
  async function journalIn(dir: string): Promise<LevelJournal> {
    const journal = new LevelJournal({
      dir,
      maxBytes: 64 * 1024 * 1024,
      whenFull: 'drop_oldest',
      commitIntervalMs: 2,
    });
    await journal.open();
    await journal.setSinks([sinkSelector({ id: SINK })]);
    return journal;
  }

  async function setup(): Promise<{ dir: string; journal: LevelJournal; reopen(): Promise<LevelJournal> }> {
    const dir = mkdtempSync(join(tmpdir(), 'plantgate-cutter-'));
    const s = {
      dir,
      journal: await journalIn(dir),
      async reopen() {
        await s.journal.close();
        s.journal = await journalIn(dir);
        return s.journal;
      },
    };
    cleanups.push(async () => {
      await s.journal.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return s;
  }

  /** Appends n readings numbered from `from`; returns their seqs. */
  async function append(journal: Journal, from: number, n: number): Promise<{ first: number; last: number }> {
    const before = journal.stats().last_seq;
    await journal.append(Array.from({ length: n }, (_, i) => makeReading(from + i)));
    return { first: before + 1, last: journal.stats().last_seq };
  }

  async function cutter(journal: Journal, limits: Partial<BatchLimits> = {}): Promise<BatchCutter> {
    const c = new BatchCutter({
      journal,
      sinkId: SINK,
      gatewayId: GW,
      limits: { max_records: 10, max_bytes: 1024 * 1024, max_wait: 20, ...limits },
    });
    await c.restore();
    return c;
  }

  const bid = (first: number, last: number) => `${GW}:${SINK}:${first}-${last}`;
  const view = (c: Cut | undefined) =>
    c && { id: c.batch.batch_id, count: c.count, partial: c.partial, records: c.batch.entries.length };
  const saved = async (journal: Journal) =>
    (await journal.getState<{ ranges: Array<[number, number]> }>(BatchCutter.stateKey(SINK)))?.ranges;

  it('cuts deterministic batches and, after a restart, the same ones again, the partial one exactly', async () => {
    const s = await setup();
    const a = await append(s.journal, 0, 25);
    const c1 = await cutter(s.journal);
    const never = new AbortController().signal;
    const first = [view(await c1.cut(never)), view(await c1.cut(never)), view(await c1.cut(never))];
    expect(first).toEqual([
      { id: bid(a.first, a.first + 9), count: 10, partial: false, records: 10 },
      { id: bid(a.first + 10, a.first + 19), count: 10, partial: false, records: 10 },
      // Only five were there when max_wait ran out: a partial batch, whose boundaries are saved.
      { id: bid(a.first + 20, a.last), count: 5, partial: true, records: 5 },
    ]);
    expect(await saved(s.journal)).toEqual([[a.first + 20, a.last]]);

    // Nothing was acknowledged; more records arrive before the restart.
    const b = await append(s.journal, 25, 5);
    const journal = await s.reopen();
    const c2 = await cutter(journal);
    const again = [view(await c2.cut(never)), view(await c2.cut(never)), view(await c2.cut(never))];
    expect(again).toEqual(first);
    expect(view(await c2.cut(never))).toEqual({
      id: bid(b.first, b.last),
      count: 5,
      partial: true,
      records: 5,
    });
  });

  it('keeps only the partial batches the cursor has not passed in the saved ranges', async () => {
    const s = await setup();
    const a = await append(s.journal, 0, 3);
    const c = await cutter(s.journal);
    const never = new AbortController().signal;
    await c.cut(never);
    const b = await append(s.journal, 3, 4);
    await c.cut(never);
    expect(await saved(s.journal)).toEqual([
      [a.first, a.last],
      [b.first, b.last],
    ]);
    await s.journal.ack(SINK, a.last, 3);
    const d = await append(s.journal, 7, 2);
    await c.cut(never);
    expect(await saved(s.journal)).toEqual([
      [b.first, b.last],
      [d.first, d.last],
    ]);
  });

  it('fills a batch while waiting for max_wait by the same rule, stopping at max_records', async () => {
    const s = await setup();
    const a = await append(s.journal, 0, 3);
    const c = await cutter(s.journal, { max_records: 5, max_wait: 60_000 });
    const cut = c.cut(new AbortController().signal);
    // The cut resolves only once the batch is full: with a minute of max_wait, nothing else ends it.
    await append(s.journal, 3, 4);
    expect(view(await cut)).toEqual({ id: bid(a.first, a.first + 4), count: 5, partial: false, records: 5 });
    expect(await saved(s.journal)).toBeUndefined();
    expect(c.next).toBe(a.first + 4);
  });

  it('resolves undefined when stopped while waiting for records, without moving on', async () => {
    const s = await setup();
    const c = await cutter(s.journal);
    const stop = new AbortController();
    let result: Cut | undefined | 'pending' = 'pending';
    const cut = c.cut(stop.signal).then((r) => {
      result = r;
    });
    // A read of our own, issued after the cutter's, lets the cutter reach its wait for new records.
    expect(await s.journal.read(SINK, 0, 1, 1024)).toEqual([]);
    expect(result).toBe('pending');
    stop.abort();
    await cut;
    expect(result).toBeUndefined();
    expect(c.next).toBe(0);
  });

  it('cuts the same batch again when saving its boundaries failed, so nothing is skipped', async () => {
    const s = await setup();
    const a = await append(s.journal, 0, 4);
    let failures = 1;
    // The real journal, except that the first putState fails (a full disk, say).
    const flaky = new Proxy(s.journal, {
      get(target, prop, receiver) {
        if (prop === 'putState' && failures > 0) {
          return async () => {
            failures -= 1;
            throw new Error('disk full');
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Journal;
    const c = await cutter(flaky);
    const never = new AbortController().signal;
    await expect(c.cut(never)).rejects.toThrow('disk full');
    expect(c.next).toBe(a.first - 1);
    expect(view(await c.cut(never))).toEqual({
      id: bid(a.first, a.last),
      count: 4,
      partial: true,
      records: 4,
    });
    expect(await saved(s.journal)).toEqual([[a.first, a.last]]);
  });
});
