// The one ingest path (ingest()), used by the AdapterContext every source receives and by the operator's
// quarantine replay: samples go through normalize -> validate, records (and the events derived from them) into
// the journal, failures into quarantine; it resolves once all of it is synced.
// Exact repeats of recently journaled readings (a broker redelivering what was synced but never acknowledged)
// are dropped before the journal and counted as duplicates_suppressed (DuplicateFilter below).
import type { Logger } from 'pino';
import type { AdapterContext, EmitResult } from '../../adapters/kit/types.js';
import type { Journal, JournalEntry, QuarantineEntry } from '../journal/types.js';
import { PlantgateError } from '../kit/errors.js';
import {
  type CanonicalRecord,
  digest128,
  type EventRecord,
  type RawSample,
  type Reading,
} from '../model/records.js';
import type { Pipeline, Reject } from '../pipeline/pipeline.js';

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

/**
 * What the ingest path reports to the observer of one source (its data quality); each context has its own, so
 * nothing is looked up per emit. Called synchronously, must not throw.
 */
export interface IngestObserver {
  /** Samples of one emit: the readings made of them (each carries its epoch ms, see readingTsMs) and the rejects. */
  onProcessed(
    samples: readonly RawSample[],
    records: readonly Reading[],
    rejects: ReadonlyArray<{ reason: string }>,
    ingestMs: number,
  ): void;
  /** A payload the adapter could not turn into samples (ctx.reject), before it is quarantined. */
  onRejected?(reason: string, at: number): void;
  onDurable?(accepted: number, quarantined: number, durableMs: number): void;
  onEvents?(events: readonly EventRecord[]): void;
}

/**
 * Derives events from accepted readings; returns the events and whether the derive state moved (then the records
 * and events go to the journal through IngestPath.commitDerived, which persists the state with them).
 */
export type DeriveHook = (
  records: readonly Reading[],
  nowMs: number,
) => { events: EventRecord[]; moved?: boolean };

/** Who owns what is quarantined, and who is told: the daemon's owners and exception board. */
export interface QuarantineHook {
  /** The owner of an exception about `signal` (when known) from `sourceId`. */
  owner(sourceId: string, signal?: string): string;
  /** Every entry about to be quarantined, with its owner set (counted by owner and reason). */
  noted(entries: ReadonlyArray<Omit<QuarantineEntry, 'id'>>): void;
}

/** Everything one ingest needs; the same for a source's emit and an operator's quarantine replay. */
export interface IngestPath {
  /** Owners and the exception board; entries carry no owner without it. */
  exceptions?: QuarantineHook | undefined;
  source: { id: string; type: string };
  /** A getter, so that a configuration reload can swap the pipeline without restarting unchanged sources. */
  pipeline: Pipeline | (() => Pipeline);
  journal: Journal;
  /** Aborts an append waiting for space (the source stops); a replay has none. */
  signal?: AbortSignal;
  derive?: DeriveHook;
  /**
   * Appends an emit's records when a derive stage is configured (instead of journal.append): those whose
   * derivation `moved` the derive state in one synced commit with a snapshot of it (the stage's commit groups: one
   * snapshot per commit, and the rollback when it fails), the others in emit order with them. Called in the same
   * tick as `derive`.
   */
  commitDerived?: (
    records: readonly CanonicalRecord[],
    moved: boolean,
    signal?: AbortSignal,
  ) => Promise<void>;
  observer?: IngestObserver;
  /** Drops exact repeats of recently journaled readings and counts them (shared by all sources of a daemon). */
  dedupe?: DuplicateFilter;
  /**
   * A quarantined sample run again by the operator. The sample was counted once already (received, quarantined),
   * so the observer is not told and a repeat is not counted as a duplicate; a sample rejected again is returned,
   * not quarantined a second time (its entry stays). It still goes through the duplicate filter: its record id is
   * its content, so a replay whose record is already journaled (a crash between the append and the removal of the
   * quarantine entry, then a second replay) appends nothing, and the journal and its ledger hold the record once.
   */
  replay?: boolean;
}

export interface IngestOptions extends IngestPath {
  log: Logger;
  signal: AbortSignal;
}

export interface IngestResult extends EmitResult {
  /** Readings dropped as exact repeats of journaled ones (already durable: nothing is lost). */
  duplicates: number;
  /** Samples the pipeline refused (quarantined, unless this was a replay). */
  rejects: readonly Reject[];
}

/**
 * The one ingest path: normalize -> validate -> duplicate filter -> derive, then records, events, derive state and
 * quarantine entries to the journal's group commit; resolves once all of it is synced. When the commit of what moved
 * the deriver fails, the deriver goes back to its last committed state (so it never runs ahead of the journal).
 */
export async function ingest(opts: IngestPath, samples: readonly RawSample[]): Promise<IngestResult> {
  if (samples.length === 0) return { accepted: 0, quarantined: 0, duplicates: 0, rejects: [] };
  const { source, journal } = opts;
  const replay = opts.replay === true;
  const observer = replay ? undefined : opts.observer;
  const ingestMs = Date.now();
  const pipeline = typeof opts.pipeline === 'function' ? opts.pipeline() : opts.pipeline;
  const processed = pipeline.process(source, samples, ingestMs);
  const rejects = processed.rejects;
  // Repeats never reach the deriver either, so a redelivered counter reading is not counted twice.
  const screened = opts.dedupe?.screen(source.id, processed.records, !replay);
  const records = screened ? screened.fresh : processed.records;
  const writes: Promise<unknown>[] = [];
  try {
    observer?.onProcessed(samples, records, rejects, ingestMs);
    let toAppend: CanonicalRecord[] = records;
    let moved = false;
    if (opts.derive && records.length > 0) {
      const derived = opts.derive(records, ingestMs);
      if (derived.events.length > 0) {
        toAppend = [...records, ...derived.events];
        observer?.onEvents?.(derived.events);
      }
      moved = derived.moved === true;
    }
    // Issued in the same tick as the derivation, so the records join the commit that persists what they moved.
    if (toAppend.length > 0) {
      if (opts.commitDerived) {
        const committed = opts.commitDerived(toAppend, moved, opts.signal);
        screened?.settle(committed);
        // A stopping source stops waiting; records in a commit group still go with it (they moved the deriver).
        writes.push(opts.signal ? abortable(committed, opts.signal) : committed);
      } else {
        const appended = journal.append(toAppend, opts.signal);
        screened?.settle(appended);
        writes.push(appended);
      }
    }
  } finally {
    // Nothing appended (all repeats, or a throw above): the fresh ids are not pending any more.
    screened?.settle(new Error('not appended'));
  }
  if (screened) writes.push(...screened.waits);
  const quarantined = replay ? 0 : rejects.length;
  if (quarantined > 0) {
    const at = Date.now();
    const hook = opts.exceptions;
    const entries: Array<Omit<QuarantineEntry, 'id'>> = rejects.map((r) => ({
      at,
      source: { id: source.id, type: source.type },
      reason: r.reason,
      detail: r.detail,
      sample: r.sample,
      ...(hook ? { owner: hook.owner(source.id, r.sample?.signal) } : {}),
    }));
    hook?.noted(entries);
    writes.push(journal.quarantine(entries));
  }
  // A failed derive commit has rolled the deriver back before it rejects (see DeriveStage.commit).
  await Promise.all(writes);
  observer?.onDurable?.(records.length, quarantined, Date.now());
  return {
    accepted: records.length,
    quarantined,
    duplicates: processed.records.length - records.length,
    rejects,
  };
}

/** `p`, or the journal's ABORTED error once `signal` aborts first (p goes on). */
function abortable(p: Promise<void>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () =>
      reject(
        new PlantgateError('ABORTED', 'The append was aborted while it waited for room in the journal.'),
      );
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    void p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createAdapterContext(opts: IngestOptions): AdapterContext {
  const { source, journal, signal } = opts;
  const path: IngestPath = { ...opts, replay: false };

  async function emit(samples: readonly RawSample[]): Promise<EmitResult> {
    const r = await ingest(path, samples);
    return { accepted: r.accepted, quarantined: r.quarantined };
  }

  async function reject(raw: string, reason: string, detail: string): Promise<void> {
    const at = Date.now();
    opts.observer?.onRejected?.(reason, at);
    const hook = opts.exceptions;
    const entry: Omit<QuarantineEntry, 'id'> = {
      at,
      source: { id: source.id, type: source.type },
      reason,
      detail,
      raw: `${raw}`,
      ...(hook ? { owner: hook.owner(source.id) } : {}),
    };
    hook?.noted([entry]);
    await journal.quarantine([entry]);
    opts.observer?.onDurable?.(0, 1, Date.now());
  }

  return { id: source.id, log: opts.log, signal, emit, reject };
}

/**
 * Runs one quarantined sample again through ingest() (the operator's replay): ok when it is a record in the
 * journal now (appended, or already there: see IngestPath.replay), else the reason it is refused again.
 */
export async function replaySample(
  path: Omit<IngestPath, 'replay' | 'observer' | 'signal'>,
  sample: RawSample,
): Promise<{ ok: boolean; reason?: string; detail?: string }> {
  const r = await ingest({ ...path, replay: true }, [sample]);
  if (r.accepted + r.duplicates > 0) return { ok: true };
  const x = r.rejects[0];
  return { ok: false, reason: x?.reason, detail: x?.detail };
}
