// The derivation base every event type shares: the reorder buffer that holds samples for the lateness allowance
// and hands them over in source-time order, per-signal de-duplication, and the persisted part of that state.
// One file per event type builds on it (production-count.ts, machine-state.ts, quality-exception.ts); derive.ts
// runs them. Pure: no I/O, no clock but the `nowMs` it is given.
import { z } from 'zod';
import { type EventRecord, eventId, isoUtc, type Reading, type RecordValue } from '../model/records.js';
import { readingTsMs } from '../pipeline/timed-reading.js';
import type { EventConfig } from './config.js';
import type { EventType } from './schemas.js';

/** How long samples are held for reordering and windows stay open after their end, unless configured. */
export const DEFAULT_LATENESS_MS = 5_000;
/** Samples held per event definition at most; beyond it the oldest are processed early (never dropped). */
export const MAX_PENDING = 10_000;

export interface DeriveStats {
  /** Samples taken into a derivation. */
  accepted: number;
  /** Samples not used, by reason (never logged per sample). */
  ignored: { bad_quality: number; invalid_value: number; duplicate: number; out_of_order: number };
  /** Samples processed before their lateness allowance ran out because a buffer hit MAX_PENDING. */
  forced: number;
  /** Events emitted, by type. */
  emitted: Record<string, number>;
  /** Samples waiting for their lateness allowance. */
  pending: number;
  open_windows: number;
  open_downtimes: number;
  /** Persisted states that could not be read back (unknown version or damaged) and were started afresh. */
  state_discarded: number;
}

// Persisted state. Times are epoch ms; everything is plain JSON so the journal can store it as is.

export const sampleState = z.object({
  s: z.string(),
  t: z.number(),
  v: z.union([z.number(), z.string(), z.boolean()]),
  u: z.string().optional(),
  wo: z.string().optional(),
  mat: z.string().optional(),
});
export type Sample = z.output<typeof sampleState>;

/** The fields every derivation's state schema starts with (spread into each type's z.object). */
export const baseState = {
  v: z.literal(1),
  pending: z.array(sampleState),
  seen: z.record(z.string(), z.number()),
};

/** What derivations share with their deriver: the gateway id for event ids, and the statistics. */
export interface DeriveEnv {
  gatewayId: string;
  stats: DeriveStats;
  /** Told of each sample a definition could not use (not of duplicates, which are normal redelivery). */
  onIgnored?:
    | ((def: EventConfig, reason: 'bad_quality' | 'invalid_value' | 'out_of_order', r: Reading) => void)
    | undefined;
}

/** A fresh set of statistics (all zero). */
export function emptyStats(): DeriveStats {
  return {
    accepted: 0,
    ignored: { bad_quality: 0, invalid_value: 0, duplicate: 0, out_of_order: 0 },
    forced: 0,
    emitted: {},
    pending: 0,
    open_windows: 0,
    open_downtimes: 0,
    state_discarded: 0,
  };
}

/** An event with its deterministic id (gateway, type, subject, time), counted in the statistics. */
export function makeEvent(
  env: DeriveEnv,
  type: EventType,
  subject: string,
  atMs: number,
  data: Record<string, unknown>,
): EventRecord {
  const ts = isoUtc(atMs);
  env.stats.emitted[type] = (env.stats.emitted[type] ?? 0) + 1;
  return { id: eventId(env.gatewayId, type, subject, ts), kind: 'event', type, ts, subject, data };
}

/**
 * What every derivation shares: a buffer that holds samples for the lateness allowance and hands them over in
 * source-time order (ties: lower rank first, then arrival order), and per-signal de-duplication.
 */
export abstract class Derivation {
  readonly key: string;
  readonly lateness: number;
  protected pending: Sample[] = [];
  protected seen = new Map<string, number>();

  constructor(
    protected readonly env: DeriveEnv,
    readonly def: EventConfig,
    lateness: number,
  ) {
    this.key = def.id;
    this.lateness = lateness;
  }

  /** Signals this derivation reads with their tie-break rank (lower first at equal timestamps). */
  abstract ranks(): ReadonlyMap<string, number>;
  /** Whether a value is usable for the signal's role. */
  protected abstract admits(signal: string, value: RecordValue): boolean;
  /** Handles one sample, in source-time order. */
  protected abstract apply(s: Sample, out: EventRecord[]): void;
  /** Emits what the clock has completed (closed windows). */
  protected close(_nowMs: number, _out: EventRecord[]): void {}
  abstract toState(): Record<string, unknown>;
  abstract fromState(raw: unknown): boolean;
  abstract openWindows(): number;
  abstract openDowntimes(): number;

  pendingCount(): number {
    return this.pending.length;
  }

  protected sampleExtras(_r: Reading): Partial<Sample> {
    return {};
  }

  accept(r: Reading): void {
    const stats = this.env.stats;
    if (r.quality === 'bad') {
      stats.ignored.bad_quality += 1;
      this.env.onIgnored?.(this.def, 'bad_quality', r);
      return;
    }
    // Readings from the pipeline carry their epoch ms; only others (tests, tools) have `ts` parsed.
    const t = readingTsMs(r);
    if (!Number.isFinite(t) || !this.admits(r.signal, r.value)) {
      stats.ignored.invalid_value += 1;
      this.env.onIgnored?.(this.def, 'invalid_value', r);
      return;
    }
    const last = this.seen.get(r.signal);
    if (last !== undefined && t <= last) {
      if (t === last) stats.ignored.duplicate += 1;
      else {
        stats.ignored.out_of_order += 1;
        this.env.onIgnored?.(this.def, 'out_of_order', r);
      }
      return;
    }
    const ranks = this.ranks();
    const rank = ranks.get(r.signal) ?? 0;
    // Upper bound of (t, rank): equal keys keep arrival order.
    let lo = 0;
    let hi = this.pending.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = this.pending[mid] as Sample;
      const pr = ranks.get(p.s) ?? 0;
      if (p.t < t || (p.t === t && pr <= rank)) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo - 1; i >= 0; i--) {
      const p = this.pending[i] as Sample;
      if (p.t !== t) break;
      if (p.s === r.signal) {
        stats.ignored.duplicate += 1;
        return;
      }
    }
    const sample: Sample = { s: r.signal, t, v: r.value, ...this.sampleExtras(r) };
    if (r.unit !== undefined) sample.u = r.unit;
    this.pending.splice(lo, 0, sample);
    stats.accepted += 1;
  }

  advance(nowMs: number, out: EventRecord[]): void {
    const limit = nowMs - this.lateness;
    let i = 0;
    while (i < this.pending.length) {
      const s = this.pending[i] as Sample;
      const overflow = this.pending.length - i > MAX_PENDING;
      if (s.t > limit && !overflow) break;
      if (s.t > limit) this.env.stats.forced += 1;
      this.seen.set(s.s, s.t);
      this.apply(s, out);
      i += 1;
    }
    if (i > 0) this.pending.splice(0, i);
    this.close(nowMs, out);
  }

  protected baseState(): { v: 1; pending: Sample[]; seen: Record<string, number> } {
    return {
      v: 1,
      // Samples are never changed once buffered (accept() makes them, advance() only drops them), so a copy
      // of the array is a copy of the state: later processing does not change the snapshot.
      pending: this.pending.slice(),
      seen: Object.fromEntries(this.seen),
    };
  }

  /** Restores pending samples and de-duplication marks, keeping only signals this definition still reads. */
  protected restoreBase(st: { pending: Sample[]; seen: Record<string, number> }): void {
    const ranks = this.ranks();
    this.pending = st.pending.filter((s) => ranks.has(s.s));
    this.seen = new Map(Object.entries(st.seen).filter(([s]) => ranks.has(s)));
  }
}
