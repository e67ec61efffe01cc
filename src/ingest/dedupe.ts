// Exact-repeat suppression for the ingest path: reading ids recently journaled, per source, in fixed memory, so
// a broker redelivering what was synced but never acknowledged is dropped before the journal and counted as
// duplicates_suppressed. Kept apart from ingest.ts, which uses DuplicateFilter once per emit.
import type { JournalEntry } from '../journal/types.js';
import { type CanonicalRecord, digest128, type Reading } from '../model/records.js';

/** Reading ids remembered per source for exact-repeat suppression (2.6 MB per source, see RecentIdSet). */
export const DEDUPE_WINDOW = 100_000;

/**
 * A bounded set of the last `capacity` 128-bit ids: a ring of 4 x uint32 per id and an open-addressing index
 * over it (linear probing, backward-shift deletion when the ring overwrites its oldest id). Memory is fixed at
 * construction, 16 bytes per id plus 4 bytes per index slot (2-4 slots per id): 100k ids take 1.6 MB + 1 MiB,
 * and there are no per-id objects for the garbage collector to trace. Ids are compared in full (no false hits).
 * Ids added one after another occupy consecutive ring slots (modulo capacity), which DuplicateFilter relies on.
 */
export class RecentIdSet {
  readonly capacity: number;
  readonly #words: Uint32Array;
  /** Ring slot + 1, 0 when empty. */
  readonly #index: Int32Array;
  readonly #mask: number;
  #next = 0;
  #added = 0;
  #filled = 0;
  #size = 0;
  readonly #w = new Uint32Array(4);
  /** The slot of the id found by the last add() that returned false. */
  hitSlot = -1;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
    this.capacity = capacity;
    this.#words = new Uint32Array(capacity * 4);
    let slots = 8;
    while (slots < capacity * 2) slots *= 2;
    this.#index = new Int32Array(slots);
    this.#mask = slots - 1;
  }

  /** Ids in the set. */
  get size(): number {
    return this.#size;
  }

  /** The ring slot the next new id takes. */
  get nextSlot(): number {
    return this.#next;
  }

  /** Ids added so far (the n-th id added, from 0, took slot n % capacity). */
  get added(): number {
    return this.#added;
  }

  /** Bytes held by the set (fixed). */
  get bytes(): number {
    return this.#words.byteLength + this.#index.byteLength;
  }

  has(id: string): boolean {
    this.#parse(id);
    return this.#find() >= 0;
  }

  /** Adds the id (overwriting the oldest slot when full); false (and `hitSlot` set) when it was already there. */
  add(id: string): boolean {
    this.#parse(id);
    const at = this.#find();
    if (at >= 0) {
      this.hitSlot = (this.#index[at] as number) - 1;
      return false;
    }
    const slot = this.#next;
    if (this.#filled === this.capacity) this.removeSlot(slot);
    else this.#filled += 1;
    const w = this.#words;
    const o = slot * 4;
    w[o] = this.#w[0] as number;
    w[o + 1] = this.#w[1] as number;
    w[o + 2] = this.#w[2] as number;
    w[o + 3] = this.#w[3] as number;
    let h = (w[o] as number) & this.#mask;
    while (this.#index[h] !== 0) h = (h + 1) & this.#mask;
    this.#index[h] = slot + 1;
    this.#size += 1;
    this.#added += 1;
    this.#next = (slot + 1) % this.capacity;
    return true;
  }

  /** Forgets the id held in a ring slot (no-op when it was already forgotten). */
  removeSlot(slot: number): void {
    const idx = this.#index;
    const mask = this.#mask;
    let i = (this.#words[slot * 4] as number) & mask;
    for (;;) {
      const v = idx[i] as number;
      if (v === 0) return;
      if (v === slot + 1) break;
      i = (i + 1) & mask;
    }
    this.#size -= 1;
    // Backward-shift deletion: pull later entries of the probe run into the hole so lookups never stop early.
    idx[i] = 0;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const v = idx[j] as number;
      if (v === 0) return;
      const home = (this.#words[(v - 1) * 4] as number) & mask;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (!stays) {
        idx[i] = v;
        idx[j] = 0;
        i = j;
      }
    }
  }

  /** Ids are 128-bit hex digests; anything else (never produced by the pipeline) is digested first. */
  #parse(id: string): void {
    if (id.length !== 32 || !this.#parseHex(id)) this.#parseHex(digest128(id));
  }

  #parseHex(hex: string): boolean {
    for (let k = 0; k < 4; k++) {
      let n = 0;
      for (let i = k * 8; i < k * 8 + 8; i++) {
        const c = hex.charCodeAt(i);
        if (c >= 48 && c <= 57) n = n * 16 + (c - 48);
        else if (c >= 97 && c <= 102) n = n * 16 + (c - 87);
        else return false;
      }
      this.#w[k] = n;
    }
    return true;
  }

  /** Index position of the parsed id, or -1. */
  #find(): number {
    const w = this.#words;
    const q = this.#w;
    let h = (q[0] as number) & this.#mask;
    for (;;) {
      const v = this.#index[h] as number;
      if (v === 0) return -1;
      const o = (v - 1) * 4;
      if (w[o] === q[0] && w[o + 1] === q[1] && w[o + 2] === q[2] && w[o + 3] === q[3]) return h;
      h = (h + 1) & this.#mask;
    }
  }
}

/** The ring slots [start, start + count) of one emit's new readings, while its append is not synced. */
interface PendingRange {
  start: number;
  /** `RecentIdSet.added` before the first of them. */
  first: number;
  count: number;
  outcome: Promise<void>;
}

interface SourceIds {
  recent: RecentIdSet;
  /** One entry per emit still in flight (a handful): a hit in one of these ranges is not durable yet. */
  pending: PendingRange[];
  suppressed: number;
}

/** What the filter decided for one emit. */
interface Screened {
  fresh: Reading[];
  /** Appends (of earlier emits) that hold originals of some repeats: this emit is durable only if they are. */
  waits: Promise<void>[];
  /** Settles this emit's new ids once its append is known (the first call counts: the append or an error). */
  settle(outcome: Promise<unknown> | Error): void;
}

/**
 * Drops exact repeats of recently journaled readings, per source. A reading's id is derived from its content
 * (gateway, signal, source time, value), so a message the broker redelivers after a crash between the journal sync
 * and the PUBACK yields the same ids. Remembered: the last `window` reading ids per source, entered when their
 * emit starts and forgotten again if its append fails. A repeat of an id whose append is still in flight is not
 * acknowledged before that append has synced (the emit waits for it, and fails with it). Events are never
 * filtered: their ids name a window, not content. Memory: one RecentIdSet per source (2.6 MB at the default
 * 100k window), allocated on the source's first reading; per reading, one hash lookup and no allocation.
 */
export class DuplicateFilter {
  readonly window: number;
  readonly #sources = new Map<string, SourceIds>();

  constructor(window = DEDUPE_WINDOW) {
    this.window = window;
  }

  /** Repeats dropped for a source since this filter was created (the daemon's start). */
  suppressed(sourceId: string): number {
    return this.#sources.get(sourceId)?.suppressed ?? 0;
  }

  #of(sourceId: string): SourceIds {
    let s = this.#sources.get(sourceId);
    if (!s) {
      s = { recent: new RecentIdSet(this.window), pending: [], suppressed: 0 };
      this.#sources.set(sourceId, s);
    }
    return s;
  }

  /** Remembers a journaled reading (used to recover the ids at start). */
  remember(record: CanonicalRecord): void {
    if (record.kind === 'reading') this.#of(record.source.id).recent.add(record.id);
  }

  /**
   * Recovers the ids of the most recent appends from the journal's tail (the last `window` records of all sources
   * together that are still in the journal: records every sink has delivered are deleted, and a redelivery of
   * those is journaled again; receivers still de-duplicate it by id). Returns the number of readings seen.
   */
  async recover(journal: { readTail(limit: number): Promise<JournalEntry[]> }): Promise<number> {
    let n = 0;
    const tail = await journal.readTail(this.window);
    for (let i = 0; i < tail.length; i++) {
      const e = tail[i] as JournalEntry;
      tail[i] = undefined as unknown as JournalEntry; // let the stored text go as we go (100k records: ~35 MB)
      const r = e.json !== undefined ? (JSON.parse(e.json) as CanonicalRecord) : e.record;
      if (r.kind !== 'reading') continue;
      this.remember(r);
      n += 1;
    }
    return n;
  }

  /** Screens one emit's readings; `count` false for a replay (its sample was counted once already). */
  screen(sourceId: string, records: readonly Reading[], count = true): Screened {
    if (records.length === 0) return { fresh: [], waits: [], settle: () => {} };
    const s = this.#of(sourceId);
    const recent = s.recent;
    const cap = recent.capacity;
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const outcome = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    outcome.catch(() => {}); // a failed append is reported by the emit that made it
    const mine: PendingRange = { start: recent.nextSlot, first: recent.added, count: 0, outcome };
    const fresh: Reading[] = [];
    let waits: Set<Promise<void>> | undefined;
    for (const r of records) {
      if (recent.add(r.id)) {
        fresh.push(r);
        continue;
      }
      if (count) s.suppressed += 1;
      const slot = recent.hitSlot;
      // A repeat inside this emit is journaled with its original (`mine` is not listed yet); a repeat of an
      // earlier emit's reading that is not synced yet waits for that emit's append.
      for (const p of s.pending) {
        if ((slot - p.start + cap) % cap >= p.count) continue;
        waits ??= new Set();
        waits.add(p.outcome);
      }
    }
    mine.count = fresh.length;
    if (mine.count > 0) s.pending.push(mine);
    let settled = false;
    const finish = (ok: boolean, err?: unknown) => {
      const at = s.pending.indexOf(mine);
      if (at >= 0) s.pending.splice(at, 1);
      if (!ok) {
        // Forget them again (a slot the ring has reused since, after `capacity` newer ids, is not ours any more).
        for (let i = 0; i < mine.count; i++)
          if (recent.added - (mine.first + i) <= cap) recent.removeSlot((mine.start + i) % cap);
      }
      if (ok) resolve();
      else reject(err);
    };
    const settle = (result: Promise<unknown> | Error) => {
      if (settled) return;
      settled = true;
      if (result instanceof Error) finish(false, result);
      else
        result.then(
          () => finish(true),
          (err: unknown) => finish(false, err),
        );
    };
    return { fresh, waits: waits ? [...waits] : [], settle };
  }
}
