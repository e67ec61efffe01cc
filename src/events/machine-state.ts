// The machine.state derivation: a state change event whenever the state signal maps to another named state, and
// a machine.downtime event for every stretch spent in a state that is not running, with the reason code that was
// current (a reason signal read beside the state). docs/events.md states the semantics.
import { z } from 'zod';
import { type EventRecord, isoUtc, type RecordValue } from '../model/records.js';
import type { MachineStateConfig } from './config.js';
import { baseState, Derivation, type DeriveEnv, makeEvent, type Sample } from './derive-base.js';
import { EVENT_SCHEMA_VERSION, type MachineDowntimeData, type MachineStateData } from './schemas.js';

/** The persisted state of one machine.state definition. */
export const machineStateState = z.object({
  ...baseState,
  type: z.literal('machine.state'),
  signal: z.string(),
  state: z.string().nullable(),
  reason: z.union([z.string(), z.number()]).nullable(),
  downtime: z
    .object({ start: z.number(), state: z.string(), reason: z.union([z.string(), z.number()]).nullable() })
    .nullable(),
});
export type MachineStateState = z.output<typeof machineStateState>;

export class MachineStateDerivation extends Derivation {
  readonly #cfg: MachineStateConfig;
  readonly #ranks = new Map<string, number>();
  readonly #running: ReadonlySet<string>;
  #state: string | null = null;
  #reason: string | number | null = null;
  #downtime: { start: number; state: string; reason: string | number | null } | null = null;

  constructor(env: DeriveEnv, cfg: MachineStateConfig, lateness: number) {
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

  toState(): MachineStateState {
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
    const parsed = machineStateState.safeParse(raw);
    if (!parsed.success) return false;
    const st = parsed.data;
    this.restoreBase(st);
    this.#state = st.state;
    this.#reason = st.reason;
    this.#downtime = st.downtime;
    return true;
  }
}
