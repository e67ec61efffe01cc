// The `derive` transform: turns readings into edge events for the ERP (production counts per window, machine
// states and downtime, quality exceptions). Pure and deterministic: the same readings and clock values give the
// same events and ids, and snapshot() returns everything needed to continue exactly-once after a restart. The
// caller persists that snapshot in the same synced commit as the records produced with it. docs/events.md
// states the semantics; this file knows no protocol and does no I/O in process() or tick().
// This file runs the definitions; the reorder buffer and de-duplication they share are in derive-base.ts, and each
// event type is its own file with its state schema.
import type { EventRecord, Reading } from '../model/records.js';
import type { EventConfig } from './config.js';
import {
  DEFAULT_LATENESS_MS,
  type Derivation,
  type DeriveEnv,
  type DeriveStats,
  emptyStats,
} from './derive-base.js';
import { MachineStateDerivation } from './machine-state.js';
import { ProductionCountDerivation } from './production-count.js';
import { QualityExceptionDerivation } from './quality-exception.js';

export { DEFAULT_LATENESS_MS, type DeriveStats, MAX_PENDING } from './derive-base.js';
export {
  alignedWindowStart,
  type CounterChange,
  counterDelta,
  WRAP_HIGH,
  WRAP_LOW,
} from './production-count.js';

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
  /** Told of each sample a definition could not use (the daemon's exception board, by the definition's owner). */
  onIgnored?: DeriveEnv['onIgnored'];
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
  readonly #env: DeriveEnv;

  constructor(opts: DeriverOptions) {
    this.#opts = opts;
    this.#env = { gatewayId: opts.gatewayId, stats: emptyStats(), onIgnored: opts.onIgnored };
    // Definitions arrive checked by the config loader (src/config/checks.ts, uniqueEvents): ids are unique and
    // no two definitions of one type share a subject, so their state keys and event ids cannot collide.
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
          ? new ProductionCountDerivation(this.#env, def, lateness)
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
