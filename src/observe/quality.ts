// Per-source ingest figures and data quality: completeness, timeliness, conformity and duplication, plus the
// pipeline ledger (received = ingested + quarantined). Everything here is bounded in memory.
import type { RawSample, Reading } from '../model/records.js';
import { readingTsMs } from '../pipeline/timed-reading.js';

/** A fixed-size set of recently seen ids (ring buffer + Set), to count duplicates without growing. */
export class RecentIds {
  readonly #ring: Array<string | undefined>;
  readonly #set = new Set<string>();
  #pos = 0;
  constructor(capacity: number) {
    this.#ring = new Array<string | undefined>(capacity);
  }
  /** Returns true when the id was seen among the last `capacity` ids. */
  seen(id: string): boolean {
    if (this.#set.has(id)) return true;
    const old = this.#ring[this.#pos];
    if (old !== undefined) this.#set.delete(old);
    this.#ring[this.#pos] = id;
    this.#set.add(id);
    this.#pos = (this.#pos + 1) % this.#ring.length;
    return false;
  }
}

/** Streaming quantiles over a bounded reservoir of the most recent values. */
export class RecentValues {
  readonly #buf: Float64Array;
  #n = 0;
  constructor(capacity: number) {
    this.#buf = new Float64Array(capacity);
  }
  add(v: number): void {
    this.#buf[this.#n % this.#buf.length] = v;
    this.#n += 1;
  }
  /** Several quantiles from one sort of the reservoir (undefined entries while it is empty). */
  quantiles(qs: readonly number[]): Array<number | undefined> {
    const len = Math.min(this.#n, this.#buf.length);
    if (len === 0) return qs.map(() => undefined);
    const sorted = this.#buf.slice(0, len).sort();
    return qs.map((q) => sorted[Math.min(len - 1, Math.floor(q * len))]);
  }
}

interface SignalSeen {
  count: number;
  windowCount: number;
  last: number;
}

const MAX_TRACKED_SIGNALS = 10_000;

export class SourceQuality {
  readonly id: string;
  readonly type: string;
  /** Expected interval per signal (ms) when the source declares one. */
  readonly expectedIntervalMs: number | undefined;
  readonly declared: ReadonlySet<string>;
  received = 0;
  ingested = 0;
  quarantined = 0;
  duplicates = 0;
  durable = 0;
  readonly quarantinedByReason: Record<string, number> = {};
  lastSampleAt: number | undefined;
  lastDurableAt: number | undefined;
  readonly #signals = new Map<string, SignalSeen>();
  readonly #ids = new RecentIds(20_000);
  readonly #latency = new RecentValues(2048);
  readonly #startedAt: number;
  #windowStart: number;
  #prevWindow: { start: number; end: number; counts: Map<string, number> } | undefined;
  #rate = 0;
  #rateAt = 0;

  constructor(
    id: string,
    type: string,
    declared: readonly string[],
    expectedIntervalMs: number | undefined,
    now = Date.now(),
  ) {
    this.id = id;
    this.type = type;
    this.declared = new Set(declared);
    this.expectedIntervalMs = expectedIntervalMs;
    this.#startedAt = now;
    this.#windowStart = now;
  }

  onProcessed(
    samples: readonly RawSample[],
    records: readonly Reading[],
    rejects: ReadonlyArray<{ reason: string }>,
    now: number,
  ): void {
    this.received += samples.length;
    this.ingested += records.length;
    this.quarantined += rejects.length;
    for (const r of rejects)
      this.quarantinedByReason[r.reason] = (this.quarantinedByReason[r.reason] ?? 0) + 1;
    this.#arrived(samples.length, now);
    for (const rec of records) {
      if (this.#ids.seen(rec.id)) this.duplicates += 1;
      // The pipeline's readings carry their epoch ms: no parsing of `ts` here.
      const tsMs = readingTsMs(rec);
      this.#latency.add(now - tsMs);
      let s = this.#signals.get(rec.signal);
      if (!s) {
        if (this.#signals.size >= MAX_TRACKED_SIGNALS) continue;
        s = { count: 0, windowCount: 0, last: 0 };
        this.#signals.set(rec.signal, s);
      }
      s.count += 1;
      s.windowCount += 1;
      s.last = now;
    }
    this.#rollWindow(now);
  }

  /**
   * A payload the adapter could not turn into samples at all (ctx.reject): received and quarantined as one
   * sample, as the pipeline ledger counts it (received = ingested + quarantined).
   */
  onRejected(reason: string, now: number): void {
    this.received += 1;
    this.quarantined += 1;
    this.quarantinedByReason[reason] = (this.quarantinedByReason[reason] ?? 0) + 1;
    this.#arrived(1, now);
    this.#rollWindow(now);
  }

  /** Arrival rate and time, per emit (not per sample). */
  #arrived(samples: number, now: number): void {
    if (samples === 0) return;
    this.lastSampleAt = now;
    // Exponentially weighted samples per second.
    const dt = Math.max(1, now - (this.#rateAt || this.#startedAt)) / 1000;
    const inst = samples / dt;
    this.#rate = this.#rateAt === 0 ? inst : this.#rate * 0.8 + inst * 0.2;
    this.#rateAt = now;
  }

  onDurable(accepted: number, quarantined: number, now: number): void {
    this.durable += accepted + quarantined;
    this.lastDurableAt = now;
  }

  /** Completeness is judged over windows of 60 expected intervals (at least 10 s). */
  #rollWindow(now: number): void {
    const len = Math.max(10_000, (this.expectedIntervalMs ?? 1000) * 60);
    if (now - this.#windowStart < len) return;
    const counts = new Map<string, number>();
    for (const [name, s] of this.#signals) {
      counts.set(name, s.windowCount);
      s.windowCount = 0;
    }
    this.#prevWindow = { start: this.#windowStart, end: now, counts };
    this.#windowStart = now;
  }

  rate(now: number): number {
    if (this.lastSampleAt === undefined) return 0;
    // Decay the rate when nothing arrives, so a stalled source shows 0 rather than its last rate.
    const idle = (now - this.lastSampleAt) / 1000;
    return idle > 5 ? 0 : this.#rate;
  }

  quality(now: number): {
    completeness?: number;
    timeliness_p50_ms?: number;
    timeliness_p95_ms?: number;
    conformity?: number;
    duplication?: number;
    signals_seen: number;
    signals_declared: number;
    missing_signals: string[];
  } {
    this.#rollWindow(now);
    const out: ReturnType<SourceQuality['quality']> = {
      signals_seen: this.#signals.size,
      signals_declared: this.declared.size,
      missing_signals: [],
    };
    // Conformity judges what validation saw: suppressed redeliveries are neither conforming nor not.
    const judged = this.ingested + this.quarantined;
    if (judged > 0) out.conformity = round(this.ingested / judged);
    if (this.ingested > 0) out.duplication = round(this.duplicates / this.ingested);
    const [p50, p95] = this.#latency.quantiles([0.5, 0.95]);
    if (p50 !== undefined) out.timeliness_p50_ms = Math.round(p50);
    if (p95 !== undefined) out.timeliness_p95_ms = Math.round(p95);
    const w = this.#prevWindow;
    if (w && this.expectedIntervalMs && this.declared.size > 0) {
      const expected = (w.end - w.start) / this.expectedIntervalMs;
      let sum = 0;
      for (const name of this.declared) {
        const got = w.counts.get(name) ?? 0;
        if (got === 0) out.missing_signals.push(name);
        sum += Math.min(1, got / expected);
      }
      out.completeness = round(sum / this.declared.size);
      out.missing_signals = out.missing_signals.slice(0, 20);
    } else {
      for (const name of this.declared) if (!this.#signals.has(name)) out.missing_signals.push(name);
      out.missing_signals = out.missing_signals.slice(0, 20);
    }
    return out;
  }

  signalSeen(name: string): { count: number; last: number } | undefined {
    const s = this.#signals.get(name);
    return s ? { count: s.count, last: s.last } : undefined;
  }

  trackedSignals(): IterableIterator<[string, { count: number; last: number }]> {
    return this.#signals.entries();
  }
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
