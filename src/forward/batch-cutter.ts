// Batch cutting for one sink, apart from sending: which journal entries after the sink's cursor form the next
// batch, and its id. Batch ids are deterministic (`<gateway>:<sink>:<first>-<last>`), so a batch resent after a
// crash must be cut with the same boundaries: full batches re-cut identically by the batch rule (takeInto, the only
// place it is written), and batches cut short by max_wait have their boundaries saved in the journal's state
// before they are sent, to be resent exactly after a restart. It depends on the journal only, so its tests need
// no receiver.
import type { Journal, JournalEntry } from '../journal/types.js';
import { linkedSignal } from './kit/abort.js';
import type { Batch } from './kit/types.js';

/** The batch limits of a sink (its `batch` section, durations in ms). */
export interface BatchLimits {
  max_records: number;
  max_bytes: number;
  max_wait: number;
}

/** A batch cut from the journal, not yet sent. */
export interface Cut {
  batch: Batch;
  /** Records in the batch; 0 for a saved range whose records were all dropped meanwhile (only the cursor moves). */
  count: number;
  /** Cut because the journal had no more yet (max_wait): its boundaries were saved before it is handed out. */
  partial: boolean;
}

/** Entries taken so far for one batch; `full` once the batch rule says no further entry fits. */
export interface Taken {
  entries: JournalEntry[];
  bytes: number;
  full: boolean;
}

interface InflightState {
  ranges: Array<[number, number]>;
}

/**
 * The batch rule, which deterministic batch ids depend on: entries in seq order, up to max_records, whose stored
 * bytes add up to at most max_bytes (the first entry always fits), and none at or after `beforeSeq`. Appends the
 * entries of `got` that still fit to `into` and marks it full when one did not; call it again with later entries
 * to fill a batch further (max_wait), the result is the same as one call with all of them.
 */
export function takeInto(
  into: Taken,
  got: readonly JournalEntry[],
  limits: Pick<BatchLimits, 'max_records' | 'max_bytes'>,
  beforeSeq = Number.POSITIVE_INFINITY,
): Taken {
  for (const e of got) {
    if (e.seq >= beforeSeq || (into.entries.length > 0 && into.bytes + e.bytes > limits.max_bytes)) {
      into.full = true;
      break;
    }
    into.entries.push(e);
    into.bytes += e.bytes;
    if (into.entries.length >= limits.max_records) {
      into.full = true;
      break;
    }
  }
  return into;
}

const empty = (): Taken => ({ entries: [], bytes: 0, full: false });

export interface BatchCutterOptions {
  journal: Journal;
  sinkId: string;
  gatewayId: string;
  limits: BatchLimits;
}

export class BatchCutter {
  readonly #journal: Journal;
  readonly #sinkId: string;
  readonly #limits: BatchLimits;
  readonly #idPrefix: string;
  readonly #stateKey: string;
  /** Seq after which the next batch is cut. */
  #next = 0;
  /** Boundaries of partial batches from before a restart, to be resent exactly, in seq order. */
  #restartRanges: Array<[number, number]> = [];
  /** Boundaries of partial batches cut since the restore; those the cursor has passed are pruned when saving. */
  #partials: Array<[number, number]> = [];

  constructor(opts: BatchCutterOptions) {
    this.#journal = opts.journal;
    this.#sinkId = opts.sinkId;
    this.#limits = opts.limits;
    this.#idPrefix = `${opts.gatewayId}:${opts.sinkId}:`;
    this.#stateKey = BatchCutter.stateKey(opts.sinkId);
  }

  /** The journal state key under which a sink's unacknowledged partial batches are saved. */
  static stateKey(sinkId: string): string {
    return `fwd:${sinkId}:inflight`;
  }

  /** Seq after which the next batch is cut. */
  get next(): number {
    return this.#next;
  }

  /**
   * Starts cutting after the sink's cursor, first resending the saved partial batches past it. Returns the cursor
   * and how many saved batches are resent.
   */
  async restore(): Promise<{ cursor: number; resend: number }> {
    const cursor = this.#journal.cursor(this.#sinkId);
    const saved = await this.#journal.getState<InflightState>(this.#stateKey);
    this.#restartRanges = (saved?.ranges ?? [])
      .filter(([, last]) => last > cursor)
      .sort((a, b) => a[0] - b[0]);
    this.#partials = [];
    this.#next = cursor;
    return { cursor, resend: this.#restartRanges.length };
  }

  /**
   * The next batch after `next`, waiting for records (and up to max_wait to fill it); undefined when `signal`
   * aborts first. A partial batch's boundaries are saved before it is returned; when reading or saving fails,
   * nothing was cut and the same batch is cut again by the next call.
   */
  async cut(signal: AbortSignal): Promise<Cut | undefined> {
    const next = this.#next;
    const ranges = this.#restartRanges.slice();
    try {
      const cut = await this.#cut(signal);
      if (cut?.partial) await this.#save(cut.batch);
      return cut;
    } catch (err) {
      // A batch handed out must have its boundaries saved first, and a batch not handed out must be cut again.
      this.#rewind(next, ranges);
      throw err;
    }
  }

  #rewind(next: number, ranges: Array<[number, number]>): void {
    this.#next = next;
    this.#restartRanges = ranges;
  }

  async #read(after: number, maxRecords = this.#limits.max_records): Promise<JournalEntry[]> {
    return this.#journal.read(this.#sinkId, after, maxRecords, this.#limits.max_bytes);
  }

  async #cut(signal: AbortSignal): Promise<Cut | undefined> {
    const start = this.#next;
    const range = this.#restartRanges[0];
    if (range) {
      if (range[0] > start + 1) {
        // Records before the saved partial batch belong to full batches, which re-cut identically; stop at it.
        const before = takeInto(empty(), await this.#read(start), this.#limits, range[0]);
        if (before.entries.length > 0) return this.#make(before.entries, false);
      }
      this.#restartRanges.shift();
      const entries: JournalEntry[] = [];
      let after = start;
      // The saved range may hold more than today's limits allow (config changed): read it all, it was sent so.
      for (;;) {
        const got = await this.#read(after);
        let past = false;
        for (const e of got) {
          if (e.seq > range[1]) {
            past = true;
            break;
          }
          entries.push(e);
        }
        if (past || got.length === 0) break;
        after = (got.at(-1) as JournalEntry).seq;
      }
      this.#next = range[1];
      return this.#cutOf(entries, range[0], range[1], true);
    }

    // waitFor with the sink id wakes only for records this sink selects, so skipped records cause no spinning.
    let taken = takeInto(empty(), await this.#read(start), this.#limits);
    while (taken.entries.length === 0) {
      if (signal.aborted) return undefined;
      await this.#journal.waitFor(start, signal, this.#sinkId).catch(() => undefined);
      if (signal.aborted) return undefined;
      taken = takeInto(empty(), await this.#read(start), this.#limits);
    }
    if (!taken.full) {
      // A batch that is not full waits up to max_wait for more records; once sent it is never re-cut.
      const deadline = Date.now() + this.#limits.max_wait;
      while (!taken.full && !signal.aborted) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        const last = (taken.entries.at(-1) as JournalEntry).seq;
        const wait = linkedSignal(signal, left);
        try {
          await this.#journal.waitFor(last, wait.signal, this.#sinkId);
        } catch {
          // An aborted wait is not an error here: the deadline or the stop is checked below.
        } finally {
          wait.dispose();
        }
        if (signal.aborted) return undefined;
        takeInto(
          taken,
          await this.#read(last, this.#limits.max_records - taken.entries.length),
          this.#limits,
        );
      }
      if (signal.aborted) return undefined;
    }
    return this.#make(taken.entries, !taken.full);
  }

  #make(entries: JournalEntry[], partial: boolean): Cut {
    const first = (entries[0] as JournalEntry).seq;
    const last = (entries.at(-1) as JournalEntry).seq;
    this.#next = last;
    return this.#cutOf(entries, first, last, partial);
  }

  #cutOf(entries: JournalEntry[], first: number, last: number, partial: boolean): Cut {
    // Journal entries go into the batch as they are: the stored JSON goes on the wire as is, and a record is
    // parsed only if the batch becomes a dead letter.
    const batch: Batch = {
      batch_id: `${this.#idPrefix}${first}-${last}`,
      first_seq: first,
      last_seq: last,
      entries,
    };
    return { batch, count: entries.length, partial };
  }

  /** Saves the boundaries of unacknowledged partial batches, so a restart resends them exactly (same ids). */
  async #save(batch: Batch): Promise<void> {
    const cursor = this.#journal.cursor(this.#sinkId);
    this.#partials = this.#partials.filter(([, last]) => last > cursor);
    const ranges: Array<[number, number]> = [...this.#partials, ...this.#restartRanges];
    ranges.push([batch.first_seq, batch.last_seq]);
    await this.#journal.putState(this.#stateKey, { ranges } satisfies InflightState);
    this.#partials.push([batch.first_seq, batch.last_seq]);
  }
}
