// The last hour of a few figures for the status page's charts (issue 16): ingest rate per source, backlog per
// sink and delivery latency per sink, one point per sampling tick. Memory is fixed when the ring is made: one
// preallocated Float64Array of times and one per series, at most `maxSeries` of them. A series beyond the cap is
// refused and counted (never allocated), and a series absent for a whole window (a sink removed by a reload)
// gives its slot back, so neither a long uptime nor a config that keeps renaming things can make it grow.
import type { StatusDocument } from './status-document.js';

/** What a series measures; the page titles its charts after these. */
export type HistoryMetric = 'ingest_rate_per_s' | 'backlog_records' | 'latency_ms';

export interface HistoryOptions {
  /** Points kept per series (one per tick): 360 at 10 s is one hour. */
  points: number;
  /** Series kept at most; more are refused and counted. */
  maxSeries: number;
  /** The sampling interval, repeated in the snapshot so the page can label its axis. */
  intervalMs: number;
}

export interface HistorySeries {
  metric: HistoryMetric;
  id: string;
  /** Oldest first, aligned with `t`; null where the series had no value (not running then). */
  values: Array<number | null>;
}

/** GET /history: the ring's content, oldest point first. */
export interface HistorySnapshot {
  interval_ms: number;
  capacity: number;
  max_series: number;
  /** Sample times (epoch ms), oldest first. */
  t: number[];
  series: HistorySeries[];
  /** Values refused because the series cap was reached (each tick of each refused series counts once). */
  refused_values: number;
}

interface Slot {
  metric: HistoryMetric;
  id: string;
  values: Float64Array;
  /** The tick number this series last had a value. */
  lastTick: number;
}

/** 360 points of 10 s: one hour. */
export const HISTORY_POINTS = 360;
export const HISTORY_INTERVAL_MS = 10_000;
/** Enough for a large plant gateway (3 series per sink, 1 per source); more are refused and counted. */
export const HISTORY_MAX_SERIES = 96;

export class HistoryRing {
  readonly #points: number;
  readonly #maxSeries: number;
  readonly #intervalMs: number;
  readonly #t: Float64Array;
  readonly #slots = new Map<string, Slot>();
  /** Next write position; also the oldest point once the ring is full. */
  #head = 0;
  #count = 0;
  #tick = 0;
  #refused = 0;

  constructor(opts: HistoryOptions) {
    if (!Number.isInteger(opts.points) || opts.points < 2)
      throw new RangeError('points must be an integer ≥ 2');
    if (!Number.isInteger(opts.maxSeries) || opts.maxSeries < 1)
      throw new RangeError('maxSeries must be ≥ 1');
    this.#points = opts.points;
    this.#maxSeries = opts.maxSeries;
    this.#intervalMs = opts.intervalMs;
    this.#t = new Float64Array(opts.points);
  }

  /** Series held now (for tests and the cap). */
  get seriesCount(): number {
    return this.#slots.size;
  }

  /** Points held now (≤ capacity). */
  get length(): number {
    return this.#count;
  }

  /** One tick: the value of every series now; a series not given gets no value (null) at this point. */
  push(at: number, values: ReadonlyArray<{ metric: HistoryMetric; id: string; value: number }>): void {
    const i = this.#head;
    this.#tick += 1;
    this.#t[i] = at;
    // Gone for a whole window (its last value is the one overwritten now): nothing of it is left to draw, so its
    // slot is free again, before new series ask for one.
    for (const [key, slot] of this.#slots)
      if (this.#tick - slot.lastTick >= this.#points) this.#slots.delete(key);
    for (const v of values) {
      const key = `${v.metric}\u0000${v.id}`;
      let slot = this.#slots.get(key);
      if (!slot) {
        if (this.#slots.size >= this.#maxSeries) {
          this.#refused += 1;
          continue;
        }
        slot = {
          metric: v.metric,
          id: v.id,
          values: new Float64Array(this.#points).fill(Number.NaN),
          lastTick: 0,
        };
        this.#slots.set(key, slot);
      }
      slot.values[i] = Number.isFinite(v.value) ? v.value : Number.NaN;
      slot.lastTick = this.#tick;
    }
    for (const slot of this.#slots.values()) if (slot.lastTick !== this.#tick) slot.values[i] = Number.NaN;
    this.#head = (i + 1) % this.#points;
    if (this.#count < this.#points) this.#count += 1;
  }

  snapshot(): HistorySnapshot {
    const n = this.#count;
    const start = n < this.#points ? 0 : this.#head;
    const order = (a: Float64Array): number[] => {
      const out = new Array<number>(n);
      for (let k = 0; k < n; k++) out[k] = a[(start + k) % this.#points] as number;
      return out;
    };
    const series: HistorySeries[] = [...this.#slots.values()].map((s) => ({
      metric: s.metric,
      id: s.id,
      values: order(s.values).map((x) => (Number.isNaN(x) ? null : x)),
    }));
    return {
      interval_ms: this.#intervalMs,
      capacity: this.#points,
      max_series: this.#maxSeries,
      t: order(this.#t),
      series,
      refused_values: this.#refused,
    };
  }
}

/**
 * The figures one tick keeps, read from a /status document: each source's ingest rate, each sink's backlog and
 * its delivery latency (the forwarder's moving average of a batch's request round trip, when it has one).
 */
export function historyValues(
  doc: StatusDocument,
): Array<{ metric: HistoryMetric; id: string; value: number }> {
  const out: Array<{ metric: HistoryMetric; id: string; value: number }> = [];
  for (const [id, s] of Object.entries(doc.sources))
    out.push({ metric: 'ingest_rate_per_s', id, value: s.rate_per_s });
  for (const [id, k] of Object.entries(doc.sinks)) {
    out.push({ metric: 'backlog_records', id, value: k.backlog });
    if (k.latency_ms !== undefined) out.push({ metric: 'latency_ms', id, value: k.latency_ms });
  }
  return out;
}

/**
 * The sampling interval: 10 s, or PLANTGATE_HISTORY_SAMPLE_MS for tests (50 ms to 10 s), so an edge test can run
 * many ticks in a few seconds. Anything else is ignored.
 */
export function historyIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.PLANTGATE_HISTORY_SAMPLE_MS);
  return Number.isInteger(v) && v >= 50 && v <= HISTORY_INTERVAL_MS ? v : HISTORY_INTERVAL_MS;
}
