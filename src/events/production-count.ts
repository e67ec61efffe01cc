// The production.count derivation: parts per UTC-aligned window from a good counter (and optionally a scrap
// counter), with counter resets and wrap-arounds told apart, and each window cut where the work order or the
// material changes so that every event has one context. docs/events.md states the semantics.
import { z } from 'zod';
import { type EventRecord, isoUtc, type Reading, type RecordValue } from '../model/records.js';
import type { ProductionCountConfig } from './config.js';
import { baseState, Derivation, type DeriveEnv, makeEvent, type Sample } from './derive-base.js';
import { EVENT_SCHEMA_VERSION, type ProductionCountData } from './schemas.js';

/** A decrease is a wrap-around when the previous value was above this share of counter_max ... */
export const WRAP_HIGH = 0.9;
/** ... and the new value below this share; any other decrease is a reset to 0. */
export const WRAP_LOW = 0.1;

export type CounterChange = { delta: number; kind: 'count' | 'reset' | 'wrap' };

/**
 * Increment of a counter between two samples. An increase counts as is; a decrease is a wrap-around when the
 * previous value was in the top 10 % of counter_max and the new one in the bottom 10 % (delta =
 * counter_max - prev + 1 + next), otherwise a reset to 0 (delta = next).
 */
export function counterDelta(prev: number, next: number, counterMax: number): CounterChange {
  if (next >= prev) return { delta: next - prev, kind: 'count' };
  if (prev > counterMax * WRAP_HIGH && next < counterMax * WRAP_LOW) {
    return { delta: counterMax - prev + 1 + next, kind: 'wrap' };
  }
  return { delta: next, kind: 'reset' };
}

/** Start of the UTC-aligned window of length `windowMs` holding `tMs` (epoch multiples of the length). */
export function alignedWindowStart(tMs: number, windowMs: number): number {
  return tMs - (((tMs % windowMs) + windowMs) % windowMs);
}

export const windowState = z.object({
  start: z.number(),
  end: z.number(),
  good: z.number(),
  scrap: z.number(),
  samples: z.number(),
  resets: z.number(),
  wraps: z.number(),
  late: z.number(),
  last_t: z.number(),
  work_order: z.string().nullable(),
  material: z.string().nullable(),
});
type WindowState = z.output<typeof windowState>;

const counterPoint = z.object({ v: z.number(), t: z.number() }).nullable();

/** The persisted state of one production.count definition. */
export const productionCountState = z.object({
  ...baseState,
  type: z.literal('production.count'),
  counter: z.string(),
  scrap_counter: z.string().nullable(),
  good: counterPoint,
  scrap: counterPoint,
  work_order: z.string().nullable(),
  material: z.string().nullable(),
  windows: z.array(windowState),
  closed_until: z.number().nullable(),
});
export type ProductionCountState = z.output<typeof productionCountState>;

type ProductionRole = 'good' | 'scrap' | 'work_order' | 'material';

export class ProductionCountDerivation extends Derivation {
  readonly #cfg: ProductionCountConfig;
  readonly #roles = new Map<string, ProductionRole[]>();
  readonly #ranks = new Map<string, number>();
  #good: { v: number; t: number } | null = null;
  #scrap: { v: number; t: number } | null = null;
  #workOrder: string | null = null;
  #material: string | null = null;
  #windows: WindowState[] = [];
  #closedUntil: number | null = null;

  constructor(env: DeriveEnv, cfg: ProductionCountConfig, lateness: number) {
    super(env, cfg, lateness);
    this.#cfg = cfg;
    const add = (signal: string | undefined, role: ProductionRole, rank: number) => {
      if (signal === undefined) return;
      this.#roles.set(signal, [...(this.#roles.get(signal) ?? []), role]);
      this.#ranks.set(signal, Math.min(this.#ranks.get(signal) ?? rank, rank));
    };
    // Context first at equal timestamps: a sample that comes with a new work order belongs to it.
    add(cfg.work_order?.signal, 'work_order', 0);
    add(cfg.material?.signal, 'material', 0);
    add(cfg.counter, 'good', 1);
    add(cfg.scrap_counter, 'scrap', 1);
  }

  ranks(): ReadonlyMap<string, number> {
    return this.#ranks;
  }

  protected admits(signal: string, value: RecordValue): boolean {
    const roles = this.#roles.get(signal) ?? [];
    if (roles.includes('good') || roles.includes('scrap')) {
      return typeof value === 'number' && Number.isFinite(value) && value >= 0;
    }
    return true;
  }

  protected override sampleExtras(r: Reading): Partial<Sample> {
    const extras: Partial<Sample> = {};
    // Reading attributes are the context only where the config names no signal or fixed value for it.
    if (this.#cfg.work_order === undefined && r.attrs?.work_order !== undefined)
      extras.wo = r.attrs.work_order;
    if (this.#cfg.material === undefined && r.attrs?.material !== undefined) extras.mat = r.attrs.material;
    return extras;
  }

  #context(field: 'work_order' | 'material'): string | null {
    const fixed = this.#cfg[field]?.value;
    if (fixed !== undefined) return fixed;
    return field === 'work_order' ? this.#workOrder : this.#material;
  }

  /** A change of work order or material cuts the current window so each event has one context. */
  #setContext(field: 'work_order' | 'material', value: string, t: number): void {
    if (this.#context(field) === value) return;
    const last = this.#windows.at(-1);
    if (last) {
      // A change that arrives after later counts were taken cuts just after them instead.
      const at = Math.max(t, last.last_t + 1);
      if (at > last.start && at < last.end) last.end = at;
    }
    if (field === 'work_order') this.#workOrder = value;
    else this.#material = value;
  }

  #windowAt(t: number): WindowState {
    // Parts whose window was already sent go to the first window not yet sent (counted as `late`).
    const tt = this.#closedUntil === null ? t : Math.max(t, this.#closedUntil);
    let prevEnd = this.#closedUntil ?? Number.NEGATIVE_INFINITY;
    let nextStart = Number.POSITIVE_INFINITY;
    let insertAt = this.#windows.length;
    for (let i = this.#windows.length - 1; i >= 0; i--) {
      const w = this.#windows[i] as WindowState;
      if (tt >= w.start && tt < w.end) return w;
      if (w.end <= tt) {
        prevEnd = Math.max(prevEnd, w.end);
        insertAt = i + 1;
        break;
      }
      nextStart = w.start;
      insertAt = i;
    }
    const len = this.#cfg.window;
    const aligned = alignedWindowStart(tt, len);
    const w: WindowState = {
      start: Math.max(aligned, prevEnd),
      end: Math.min(aligned + len, nextStart),
      good: 0,
      scrap: 0,
      samples: 0,
      resets: 0,
      wraps: 0,
      late: 0,
      last_t: tt,
      work_order: this.#context('work_order'),
      material: this.#context('material'),
    };
    this.#windows.splice(insertAt, 0, w);
    return w;
  }

  protected apply(s: Sample, _out: EventRecord[]): void {
    for (const role of this.#roles.get(s.s) ?? []) {
      if (role === 'work_order' || role === 'material') {
        this.#setContext(role, String(s.v), s.t);
        continue;
      }
      if (s.wo !== undefined) this.#setContext('work_order', s.wo, s.t);
      if (s.mat !== undefined) this.#setContext('material', s.mat, s.t);
      const value = s.v as number;
      const w = this.#windowAt(s.t);
      w.samples += 1;
      w.last_t = Math.max(w.last_t, this.#closedUntil === null ? s.t : Math.max(s.t, this.#closedUntil));
      const prev = role === 'good' ? this.#good : this.#scrap;
      const point = { v: value, t: s.t };
      if (role === 'good') this.#good = point;
      else this.#scrap = point;
      // The first sample ever is the baseline: what the counter showed before is not this gateway's to count.
      if (prev === null) continue;
      const change = counterDelta(prev.v, value, this.#cfg.counter_max);
      if (change.kind === 'reset') w.resets += 1;
      if (change.kind === 'wrap') w.wraps += 1;
      if (role === 'good') w.good += change.delta;
      else w.scrap += change.delta;
      if (this.#closedUntil !== null && s.t < this.#closedUntil) w.late += change.delta;
    }
  }

  protected override close(nowMs: number, out: EventRecord[]): void {
    while (this.#windows.length > 0) {
      const w = this.#windows[0] as WindowState;
      if (w.end + this.lateness > nowMs) break;
      this.#windows.shift();
      this.#closedUntil = Math.max(this.#closedUntil ?? w.end, w.end);
      const data: ProductionCountData = {
        version: EVENT_SCHEMA_VERSION,
        window_start: isoUtc(w.start),
        window_end: isoUtc(w.end),
        good: w.good,
        scrap: this.#cfg.scrap_counter === undefined ? null : w.scrap,
        work_order: w.work_order,
        material: w.material,
        counter_signal: this.#cfg.counter,
        scrap_signal: this.#cfg.scrap_counter ?? null,
        samples: w.samples,
        resets: w.resets,
        wraps: w.wraps,
        late: w.late,
      };
      out.push(makeEvent(this.env, 'production.count', this.#cfg.subject, w.start, data));
    }
  }

  openWindows(): number {
    return this.#windows.length;
  }

  openDowntimes(): number {
    return 0;
  }

  toState(): ProductionCountState {
    return {
      ...this.baseState(),
      type: 'production.count',
      counter: this.#cfg.counter,
      scrap_counter: this.#cfg.scrap_counter ?? null,
      good: this.#good && { ...this.#good },
      scrap: this.#scrap && { ...this.#scrap },
      work_order: this.#workOrder,
      material: this.#material,
      windows: this.#windows.map((w) => ({ ...w })),
      closed_until: this.#closedUntil,
    };
  }

  fromState(raw: unknown): boolean {
    const parsed = productionCountState.safeParse(raw);
    if (!parsed.success) return false;
    const st = parsed.data;
    this.restoreBase(st);
    // A baseline belongs to the signal it was read from: a renamed counter starts a new baseline.
    this.#good = st.counter === this.#cfg.counter ? st.good : null;
    this.#scrap = st.scrap_counter === (this.#cfg.scrap_counter ?? null) ? st.scrap : null;
    this.#workOrder = st.work_order;
    this.#material = st.material;
    this.#windows = st.windows;
    this.#closedUntil = st.closed_until;
    return true;
  }
}
