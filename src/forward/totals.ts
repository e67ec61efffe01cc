// Reconciliation totals (`totals: { window: 1h }` on a sink): after each UTC-aligned window, the sink sends one
// `control.totals` event saying what it delivered in that window (counts by kind, type and source, the journal
// seq range, and an order-independent digest of the record ids), so a central team can prove it holds exactly
// that set. docs/reconciliation.md is the receiver's side; this file is the gateway's.
//
// Which records a window covers, exactly: the records of the batches whose cursor commit (the journal ack)
// happened in the window, plus the records of dead letters replayed and delivered in it. The window's running
// totals are written in the same synced commit as each ack (Journal.ack's `state`), so a crash can neither count
// a batch whose cursor did not move nor lose one whose cursor did; a batch resent after a crash has the same id
// and seq range, and is counted in the window that finally commits it. Batch ranges are contiguous in seq, so
// the window is also the seq range (first_seq..last_seq) those batches fall in. Control records are not counted.
import type { Logger } from 'pino';
import type { Journal, StateWrite } from '../journal/types.js';
import { type CanonicalRecord, type EventRecord, eventId, isoUtc } from '../model/records.js';
import type { BatchEntry } from './kit/types.js';

export const TOTALS_TYPE = 'control.totals';

/** A record that is bookkeeping, not data: never counted in totals. */
export function isControlRecord(r: CanonicalRecord): boolean {
  return r.kind === 'event' && r.type.startsWith('control.');
}

/** Counts and digest of a set of records; the digest is four 32-bit limbs of a sum modulo 2^128. */
export interface Tally {
  records: number;
  by_kind: Record<string, number>;
  by_type: Record<string, number>;
  by_source: Record<string, number>;
  digest: [number, number, number, number];
}

export function emptyTally(): Tally {
  return { records: 0, by_kind: {}, by_type: {}, by_source: {}, digest: [0, 0, 0, 0] };
}

const TWO32 = 2 ** 32;

/** Adds limb sums with carries into 4 limbs of 32 bits (most significant first), dropping the carry out of 2^128. */
function normalize(l: number[]): [number, number, number, number] {
  const out: [number, number, number, number] = [0, 0, 0, 0];
  let carry = 0;
  for (let i = 3; i >= 0; i--) {
    const v = (l[i] as number) + carry;
    out[i] = v % TWO32;
    carry = Math.floor(v / TWO32);
  }
  return out;
}

function bump(m: Record<string, number>, k: string, n = 1): void {
  m[k] = (m[k] ?? 0) + n;
}

/**
 * The tally of one batch's records. Record ids are 32 hex digits (128 bits); the digest adds them as unsigned
 * integers modulo 2^128, which does not depend on order. An id of another shape is hashed into 128 bits first.
 */
export function tallyOf(entries: readonly BatchEntry[]): Tally {
  const t = emptyTally();
  const limbs = [0, 0, 0, 0];
  for (const { record: r } of entries) {
    if (isControlRecord(r)) continue;
    t.records += 1;
    bump(t.by_kind, r.kind);
    if (r.kind === 'event') {
      bump(t.by_type, r.type);
      bump(t.by_source, 'derived');
    } else {
      bump(t.by_type, 'reading');
      bump(t.by_source, r.source.id);
    }
    const id = /^[0-9a-f]{32}$/.test(r.id) ? r.id : eventId('', 'id', '', r.id);
    for (let i = 0; i < 4; i++)
      limbs[i] = (limbs[i] as number) + Number.parseInt(id.slice(i * 8, i * 8 + 8), 16);
  }
  t.digest = normalize(limbs);
  return t;
}

export function addTally(into: Tally, t: Tally): void {
  into.records += t.records;
  for (const [k, n] of Object.entries(t.by_kind)) bump(into.by_kind, k, n);
  for (const [k, n] of Object.entries(t.by_type)) bump(into.by_type, k, n);
  for (const [k, n] of Object.entries(t.by_source)) bump(into.by_source, k, n);
  into.digest = normalize(into.digest.map((v, i) => v + (t.digest[i] as number)));
}

export function digestHex(d: readonly number[]): string {
  return d.map((v) => v.toString(16).padStart(8, '0')).join('');
}

/** One window's running totals, as persisted. */
interface WindowState {
  start: number;
  /** The cursor when the window began: its batches lie after it. */
  after_seq: number;
  /** The highest seq a commit in the window moved the cursor to. */
  through_seq: number;
  batches: number;
  tally: Tally;
  /** Dead letters replayed and delivered in this window: they count here, not in the window of their seqs. */
  replayed: Array<{ batch_id: string; records: number }>;
  /** How many were replayed, also beyond the listed ones. */
  replayed_batches: number;
}

interface PersistedTotals {
  v: 1;
  current: WindowState;
  /** A closed window whose control.totals record is not yet known to be in the journal: appended again at start. */
  pending?: EventRecord;
}

/** Most replayed dead letters listed by name in one window; more are still counted, and the record says so. */
const MAX_REPLAYED_LISTED = 1000;

export interface TotalsKeeperOptions {
  sinkId: string;
  gatewayId: string;
  windowMs: number;
  journal: Journal;
  log: Logger;
  now?: () => number;
}

/**
 * Keeps one sink's window totals: merged at each ack (and persisted with it), closed at the window's end into a
 * control.totals event appended to the journal for this sink alone. The forwarder calls everything from its one
 * commit chain, except replays, which merge synchronously (no await between the merge and the journal request).
 */
export class TotalsKeeper {
  readonly #o: TotalsKeeperOptions;
  readonly #now: () => number;
  readonly #key: string;
  #state: PersistedTotals | undefined;
  #appending: Promise<void> | undefined;

  constructor(opts: TotalsKeeperOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#key = `totals!${opts.sinkId}`;
  }

  /** Loads the persisted totals (or starts a window after `cursor`) and re-appends a pending close. */
  async restore(cursor: number): Promise<void> {
    const saved = await this.#o.journal.getState<PersistedTotals>(this.#key);
    this.#state =
      saved?.v === 1 ? saved : { v: 1, current: this.#newWindow(this.#windowStart(this.#now()), cursor) };
    if (this.#state.pending) this.#appendPending();
  }

  /** Restores from the journal unless done (a replay on a sink whose forwarder has not started). */
  async ready(): Promise<void> {
    if (!this.#state) await this.restore(this.#o.journal.cursor(this.#o.sinkId));
  }

  /** When the current window ends (epoch ms), for the forwarder's timer. */
  get windowEnd(): number {
    const s = this.#state;
    return s ? s.current.start + this.#o.windowMs : this.#windowStart(this.#now()) + this.#o.windowMs;
  }

  /**
   * Closes the current window if its end has passed: its control.totals record is built, kept as pending in the
   * state (persisted with the next commit) and appended to the journal; the next window starts where it ended.
   * A window that was entirely offline gets no record: the next window's first_seq shows the continuity.
   */
  closeIfDue(): void {
    const s = this.#state;
    if (!s) return;
    const now = this.#now();
    if (now < s.current.start + this.#o.windowMs) return;
    if (s.pending) return; // the previous close is still being appended; try again at the next call
    s.pending = this.#record(s.current);
    s.current = this.#newWindow(this.#windowStart(now), s.current.through_seq);
    this.#appendPending();
  }

  /** The state write for an ack commit that moves the cursor to `seq` with the batches' tallies. */
  onAck(seq: number, tallies: readonly Tally[]): StateWrite | undefined {
    const s = this.#state;
    if (!s) return undefined;
    const w = s.current;
    for (const t of tallies) {
      addTally(w.tally, t);
      w.batches += 1;
    }
    w.through_seq = Math.max(w.through_seq, seq);
    return { key: this.#key, value: s };
  }

  /** A dead letter's cursor move: the window's seq range grows, nothing is counted (the receiver refused it). */
  onDeadLetter(seq: number): StateWrite | undefined {
    return this.onAck(seq, []);
  }

  /** The state write for the commit that removes a dead letter replayed and delivered now. */
  onReplayed(batchId: string, tally: Tally): StateWrite | undefined {
    const s = this.#state;
    if (!s) return undefined;
    addTally(s.current.tally, tally);
    s.current.batches += 1;
    s.current.replayed_batches += 1;
    if (s.current.replayed.length < MAX_REPLAYED_LISTED) {
      s.current.replayed.push({ batch_id: batchId, records: tally.records });
    }
    return { key: this.#key, value: s };
  }

  /** Waits for a pending append (a graceful stop should not leave it for the next start). */
  async settle(): Promise<void> {
    await this.#appending;
  }

  #appendPending(): void {
    const s = this.#state;
    const rec = s?.pending;
    if (!s || !rec || this.#appending) return;
    this.#appending = this.#o.journal
      .append([rec])
      .then(() => {
        // Now the record is durable: the pending copy can go (with its own commit; a crash before it only
        // appends the same record, same id, again).
        if (s.pending === rec) s.pending = undefined;
        return this.#o.journal.putState(this.#key, s);
      })
      .then(() => {
        this.#o.log.info(
          { window_start: rec.data.window_start, records: rec.data.records, digest: rec.data.digest },
          'Reconciliation totals of a window were queued for the sink.',
        );
      })
      .catch((err: unknown) => {
        // The pending record stays in the state: appended again at the next close check or start.
        this.#o.log.warn({ err }, 'Appending the reconciliation totals failed; retried later.');
      })
      .finally(() => {
        this.#appending = undefined;
      });
  }

  #windowStart(t: number): number {
    return Math.floor(t / this.#o.windowMs) * this.#o.windowMs;
  }

  #newWindow(start: number, afterSeq: number): WindowState {
    return {
      start,
      after_seq: afterSeq,
      through_seq: afterSeq,
      batches: 0,
      tally: emptyTally(),
      replayed: [],
      replayed_batches: 0,
    };
  }

  #record(w: WindowState): EventRecord {
    const end = w.start + this.#o.windowMs;
    const windowStart = isoUtc(w.start);
    return {
      id: eventId(this.#o.gatewayId, TOTALS_TYPE, this.#o.sinkId, windowStart),
      kind: 'event',
      type: TOTALS_TYPE,
      ts: windowStart,
      subject: this.#o.sinkId,
      data: {
        version: 1,
        gateway: this.#o.gatewayId,
        sink: this.#o.sinkId,
        window_start: windowStart,
        window_end: isoUtc(end),
        first_seq: w.after_seq + 1,
        last_seq: w.through_seq,
        batches: w.batches,
        records: w.tally.records,
        by_kind: w.tally.by_kind,
        by_type: w.tally.by_type,
        by_source: w.tally.by_source,
        digest: digestHex(w.tally.digest),
        replayed: w.replayed,
        replayed_batches: w.replayed_batches,
      },
    };
  }
}
