// The `derive` transform: turns readings into edge events for the ERP (production counts per window, machine
// states and downtime, quality exceptions). Pure and deterministic: the same readings and clock values give the
// same events and ids, and snapshot() returns everything needed to continue exactly-once after a restart. The
// caller persists that snapshot in the same synced commit as the records produced with it. docs/events.md
// states the semantics; this file knows no protocol and does no I/O in process() or tick().
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { type EventRecord, eventId, isoUtc, type Reading, type RecordValue } from '../model/records.js';
import type {
  EventConfig,
  MachineStateConfig,
  ProductionCountConfig,
  QualityExceptionConfig,
} from './config.js';
import {
  EVENT_SCHEMA_VERSION,
  type EventType,
  type MachineDowntimeData,
  type MachineStateData,
  type ProductionCountData,
  type QualityExceptionData,
} from './schemas.js';

/** How long samples are held for reordering and windows stay open after their end, unless configured. */
export const DEFAULT_LATENESS_MS = 5_000;
/** Samples held per event definition at most; beyond it the oldest are processed early (never dropped). */
export const MAX_PENDING = 10_000;
/** A decrease is a wrap-around when the previous value was above this share of counter_max ... */
export const WRAP_HIGH = 0.9;
/** ... and the new value below this share; any other decrease is a reset to 0. */
export const WRAP_LOW = 0.1;
/** The journal state key the whole snapshot is persisted under (one key, so it is written atomically). */
export const DERIVE_STATE_KEY = 'events';

export interface DeriveStateStore {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
}

export interface DeriverOptions {
  gatewayId: string;
  events: readonly EventConfig[];
  /** Where load() reads the persisted snapshot, under DERIVE_STATE_KEY (the journal's getState/putState). */
  state: DeriveStateStore;
  /** Reordering allowance and window grace period for definitions that do not set their own `lateness`. */
  latenessMs?: number;
}

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

// ---------------------------------------------------------------------------------------------------------
// Persisted state. Times are epoch ms; everything is plain JSON so the journal can store it as is.

const sampleState = z.object({
  s: z.string(),
  t: z.number(),
  v: z.union([z.number(), z.string(), z.boolean()]),
  u: z.string().optional(),
  wo: z.string().optional(),
  mat: z.string().optional(),
});
type Sample = z.output<typeof sampleState>;

const baseState = {
  v: z.literal(1),
  pending: z.array(sampleState),
  seen: z.record(z.string(), z.number()),
};

const windowState = z.object({
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

const productionState = z.object({
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
type ProductionState = z.output<typeof productionState>;

const machineState = z.object({
  ...baseState,
  type: z.literal('machine.state'),
  signal: z.string(),
  state: z.string().nullable(),
  reason: z.union([z.string(), z.number()]).nullable(),
  downtime: z
    .object({ start: z.number(), state: z.string(), reason: z.union([z.string(), z.number()]).nullable() })
    .nullable(),
});
type MachineState = z.output<typeof machineState>;

const qualityState = z.object({
  ...baseState,
  type: z.literal('quality.exception'),
  signal: z.string(),
  armed: z.boolean(),
  run: z.array(z.object({ t: z.number(), v: z.number() })),
  unit: z.string().nullable(),
});
type QualityState = z.output<typeof qualityState>;

// ---------------------------------------------------------------------------------------------------------

interface Env {
  gatewayId: string;
  stats: DeriveStats;
}

function makeEvent(
  env: Env,
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
abstract class Derivation {
  readonly key: string;
  readonly lateness: number;
  protected pending: Sample[] = [];
  protected seen = new Map<string, number>();

  constructor(
    protected readonly env: Env,
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
      return;
    }
    const t = Date.parse(r.ts);
    if (!Number.isFinite(t) || !this.admits(r.signal, r.value)) {
      stats.ignored.invalid_value += 1;
      return;
    }
    const last = this.seen.get(r.signal);
    if (last !== undefined && t <= last) {
      if (t === last) stats.ignored.duplicate += 1;
      else stats.ignored.out_of_order += 1;
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
      pending: this.pending.map((s) => ({ ...s })),
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

type ProductionRole = 'good' | 'scrap' | 'work_order' | 'material';

class ProductionCount extends Derivation {
  readonly #cfg: ProductionCountConfig;
  readonly #roles = new Map<string, ProductionRole[]>();
  readonly #ranks = new Map<string, number>();
  #good: { v: number; t: number } | null = null;
  #scrap: { v: number; t: number } | null = null;
  #workOrder: string | null = null;
  #material: string | null = null;
  #windows: WindowState[] = [];
  #closedUntil: number | null = null;

  constructor(env: Env, cfg: ProductionCountConfig, lateness: number) {
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

  toState(): ProductionState {
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
    const parsed = productionState.safeParse(raw);
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

class MachineStateDerivation extends Derivation {
  readonly #cfg: MachineStateConfig;
  readonly #ranks = new Map<string, number>();
  readonly #running: ReadonlySet<string>;
  #state: string | null = null;
  #reason: string | number | null = null;
  #downtime: { start: number; state: string; reason: string | number | null } | null = null;

  constructor(env: Env, cfg: MachineStateConfig, lateness: number) {
    super(env, cfg, lateness);
    this.#cfg = cfg;
    // State first at equal timestamps: a reason cleared in the same poll that ends a stop belongs to the next one.
    if (cfg.reason !== undefined) this.#ranks.set(cfg.reason, 1);
    this.#ranks.set(cfg.state, 0);
    this.#running = new Set(cfg.running);
  }

  ranks(): ReadonlyMap<string, number> {
    return this.#ranks;
  }

  protected admits(_signal: string, value: RecordValue): boolean {
    return typeof value !== 'number' || Number.isFinite(value);
  }

  protected apply(s: Sample, out: EventRecord[]): void {
    if (s.s === this.#cfg.reason) {
      this.#reason = typeof s.v === 'boolean' ? String(s.v) : s.v;
      if (this.#downtime) this.#downtime.reason = this.#reason;
      if (s.s !== this.#cfg.state) return;
    }
    const name = this.#cfg.states[String(s.v)] ?? 'unknown';
    if (name === this.#state) return;
    const subject = this.#cfg.subject;
    const running = this.#running.has(name);
    const change: MachineStateData = {
      version: EVENT_SCHEMA_VERSION,
      state: name,
      previous_state: this.#state,
      raw_value: s.v,
      running,
    };
    out.push(makeEvent(this.env, 'machine.state', subject, s.t, change));
    if (this.#downtime) {
      const d = this.#downtime;
      const data: MachineDowntimeData = {
        version: EVENT_SCHEMA_VERSION,
        start: isoUtc(d.start),
        end: isoUtc(s.t),
        duration_ms: s.t - d.start,
        state: d.state,
        reason_code: d.reason,
      };
      out.push(makeEvent(this.env, 'machine.downtime', subject, d.start, data));
      this.#downtime = null;
    }
    if (!running) this.#downtime = { start: s.t, state: name, reason: this.#reason };
    this.#state = name;
  }

  openWindows(): number {
    return 0;
  }

  openDowntimes(): number {
    return this.#downtime ? 1 : 0;
  }

  toState(): MachineState {
    return {
      ...this.baseState(),
      type: 'machine.state',
      signal: this.#cfg.state,
      state: this.#state,
      reason: this.#reason,
      downtime: this.#downtime && { ...this.#downtime },
    };
  }

  fromState(raw: unknown): boolean {
    const parsed = machineState.safeParse(raw);
    if (!parsed.success) return false;
    const st = parsed.data;
    this.restoreBase(st);
    this.#state = st.state;
    this.#reason = st.reason;
    this.#downtime = st.downtime;
    return true;
  }
}

class QualityExceptionDerivation extends Derivation {
  readonly #cfg: QualityExceptionConfig;
  readonly #ranks: ReadonlyMap<string, number>;
  #armed = true;
  #run: Array<{ t: number; v: number }> = [];
  #unit: string | null = null;

  constructor(env: Env, cfg: QualityExceptionConfig, lateness: number) {
    super(env, cfg, lateness);
    this.#cfg = cfg;
    this.#ranks = new Map([[cfg.signal, 0]]);
  }

  ranks(): ReadonlyMap<string, number> {
    return this.#ranks;
  }

  protected admits(_signal: string, value: RecordValue): boolean {
    return typeof value === 'number' && Number.isFinite(value);
  }

  protected apply(s: Sample, out: EventRecord[]): void {
    const v = s.v as number;
    if (s.u !== undefined) this.#unit = s.u;
    const { lsl, usl, consecutive } = this.#cfg;
    const outside = (lsl !== undefined && v < lsl) || (usl !== undefined && v > usl);
    if (!outside) {
      // Back within limits: the next run of out-of-specification samples raises a new exception.
      this.#armed = true;
      this.#run = [];
      return;
    }
    if (!this.#armed) return;
    this.#run.push({ t: s.t, v });
    if (this.#run.length < consecutive) return;
    const first = this.#run[0] as { t: number; v: number };
    const data: QualityExceptionData = {
      version: EVENT_SCHEMA_VERSION,
      signal: this.#cfg.signal,
      unit: this.#unit,
      lsl: lsl ?? null,
      usl: usl ?? null,
      consecutive,
      evidence: this.#run.map((e) => ({ ts: isoUtc(e.t), value: e.v })),
    };
    out.push(makeEvent(this.env, 'quality.exception', this.#cfg.subject, first.t, data));
    this.#armed = false;
    this.#run = [];
  }

  openWindows(): number {
    return 0;
  }

  openDowntimes(): number {
    return 0;
  }

  toState(): QualityState {
    return {
      ...this.baseState(),
      type: 'quality.exception',
      signal: this.#cfg.signal,
      armed: this.#armed,
      run: this.#run.map((e) => ({ ...e })),
      unit: this.#unit,
    };
  }

  fromState(raw: unknown): boolean {
    const parsed = qualityState.safeParse(raw);
    if (!parsed.success) return false;
    const st = parsed.data;
    this.restoreBase(st);
    if (st.signal === this.#cfg.signal) {
      this.#armed = st.armed;
      this.#run = st.run;
      this.#unit = st.unit;
    }
    return true;
  }
}

/** A definition's own `lateness` (ms) when the configuration schema offers one, else the deriver's default. */
function latenessOf(def: EventConfig, fallback: number): number {
  const own = (def as { lateness?: unknown }).lateness;
  return typeof own === 'number' && Number.isFinite(own) && own >= 0 ? own : fallback;
}

export class Deriver {
  readonly #opts: DeriverOptions;
  #derivations: Derivation[] = [];
  readonly #bySignal = new Map<string, Derivation[]>();
  readonly #env: Env;

  constructor(opts: DeriverOptions) {
    this.#opts = opts;
    this.#env = {
      gatewayId: opts.gatewayId,
      stats: {
        accepted: 0,
        ignored: { bad_quality: 0, invalid_value: 0, duplicate: 0, out_of_order: 0 },
        forced: 0,
        emitted: {},
        pending: 0,
        open_windows: 0,
        open_downtimes: 0,
        state_discarded: 0,
      },
    };
    const identities = new Map<string, string>();
    const ids = new Set<string>();
    for (const def of opts.events) {
      // Two definitions of one type for one subject would emit events with the same ids.
      const identity = `${def.type}\u0000${def.subject}`;
      const other = identities.get(identity);
      if (other !== undefined) {
        throw new ConfigError(
          `event definitions "${other}" and "${def.id}" are both ${def.type} for subject "${def.subject}", so their event ids would collide; give one of them another subject`,
        );
      }
      identities.set(identity, def.id);
      if (ids.has(def.id))
        throw new ConfigError(`two event definitions have the id "${def.id}"; ids must be unique`);
      ids.add(def.id);
    }
    this.#build();
  }

  /** Fresh derivations for every definition (no state). */
  #build(): void {
    const fallback = this.#opts.latenessMs ?? DEFAULT_LATENESS_MS;
    this.#derivations = [];
    this.#bySignal.clear();
    for (const def of this.#opts.events) {
      const lateness = latenessOf(def, fallback);
      const d =
        def.type === 'production.count'
          ? new ProductionCount(this.#env, def, lateness)
          : def.type === 'machine.state'
            ? new MachineStateDerivation(this.#env, def, lateness)
            : new QualityExceptionDerivation(this.#env, def, lateness);
      this.#derivations.push(d);
      for (const signal of d.ranks().keys()) {
        this.#bySignal.set(signal, [...(this.#bySignal.get(signal) ?? []), d]);
      }
    }
  }

  /** Signals any definition reads: readings of other signals can skip process() entirely. */
  signals(): string[] {
    return [...this.#bySignal.keys()];
  }

  /**
   * Restores the state of the last committed snapshot (what was persisted under DERIVE_STATE_KEY), replacing
   * any state in memory: also the way back after a commit of events and snapshot failed. A definition's state
   * that cannot be read back (unknown version, damaged) is started afresh and counted in stats().
   */
  async load(): Promise<void> {
    this.#build();
    const saved = await this.#opts.state.get<unknown>(DERIVE_STATE_KEY);
    if (saved === undefined || saved === null) return;
    if (typeof saved !== 'object' || Array.isArray(saved)) {
      this.#env.stats.state_discarded += this.#derivations.length;
      return;
    }
    const byId = saved as Record<string, unknown>;
    for (const d of this.#derivations) {
      if (!Object.hasOwn(byId, d.key)) continue;
      if (!d.fromState(byId[d.key])) this.#env.stats.state_discarded += 1;
    }
  }

  /**
   * Takes readings (any order, duplicates allowed) and returns the events that became complete by `nowMs`.
   * Persist snapshot() together with the returned events and the readings, in one commit.
   */
  process(readings: readonly Reading[], nowMs: number): EventRecord[] {
    for (const r of readings) {
      const ds = this.#bySignal.get(r.signal);
      if (ds === undefined) continue;
      for (const d of ds) d.accept(r);
    }
    return this.tick(nowMs);
  }

  /** Processes samples whose lateness allowance has passed and closes windows whose end + lateness has passed. */
  tick(nowMs: number): EventRecord[] {
    const out: EventRecord[] = [];
    for (const d of this.#derivations) d.advance(nowMs, out);
    return out;
  }

  /**
   * The complete state as plain JSON, keyed by event definition id. Persist it under DERIVE_STATE_KEY in the
   * same synced commit as the records that produced it; then a restart neither loses nor repeats a part.
   */
  snapshot(): Record<string, unknown> {
    const snap: Record<string, unknown> = {};
    for (const d of this.#derivations) snap[d.key] = d.toState();
    return snap;
  }

  /** Writes snapshot() under DERIVE_STATE_KEY through the state store (for stores that join the next commit). */
  async persist(): Promise<void> {
    await this.#opts.state.put(DERIVE_STATE_KEY, this.snapshot());
  }

  stats(): DeriveStats {
    const s = this.#env.stats;
    let pending = 0;
    let windows = 0;
    let downtimes = 0;
    for (const d of this.#derivations) {
      pending += d.pendingCount();
      windows += d.openWindows();
      downtimes += d.openDowntimes();
    }
    return {
      ...s,
      ignored: { ...s.ignored },
      emitted: { ...s.emitted },
      pending,
      open_windows: windows,
      open_downtimes: downtimes,
    };
  }
}
