// The quality.exception derivation: one event when a measurement is outside its specification limits for a run of
// consecutive samples, with the run as evidence; it re-arms once a sample is back within limits.
// docs/events.md states the semantics.
import { z } from 'zod';
import { type EventRecord, isoUtc, type RecordValue } from '../model/records.js';
import type { QualityExceptionConfig } from './config.js';
import { baseState, Derivation, type DeriveEnv, makeEvent, type Sample } from './derive-base.js';
import { EVENT_SCHEMA_VERSION, type QualityExceptionData } from './schemas.js';

/** The persisted state of one quality.exception definition. */
export const qualityExceptionState = z.object({
  ...baseState,
  type: z.literal('quality.exception'),
  signal: z.string(),
  armed: z.boolean(),
  run: z.array(z.object({ t: z.number(), v: z.number() })),
  unit: z.string().nullable(),
});
export type QualityExceptionState = z.output<typeof qualityExceptionState>;

export class QualityExceptionDerivation extends Derivation {
  readonly #cfg: QualityExceptionConfig;
  readonly #ranks: ReadonlyMap<string, number>;
  #armed = true;
  #run: Array<{ t: number; v: number }> = [];
  #unit: string | null = null;

  constructor(env: DeriveEnv, cfg: QualityExceptionConfig, lateness: number) {
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

  toState(): QualityExceptionState {
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
    const parsed = qualityExceptionState.safeParse(raw);
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
