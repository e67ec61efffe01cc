// The `generator` source: emits configured value shapes on a drift-free schedule. Timestamps are
// synthetic (tick time), so a given seed and start time always produce the same records.

import type { RawSample } from '../../src/model/records.js';
import type { Adapter, AdapterContext, ComponentHealth } from '../kit/types.js';
import type { GeneratorSignalConfig, GeneratorSourceConfig } from './config.js';

/** Small deterministic PRNG (mulberry32) so `random` shapes are repeatable for a seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shapeValue(s: GeneratorSignalConfig, n: number, tMs: number, rnd: () => number): unknown {
  if (s.invalid_every && (n + 1) % s.invalid_every === 0) return Number.NaN;
  const span = s.max - s.min;
  const phase = (((tMs % s.period) + s.period) % s.period) / s.period;
  switch (s.shape) {
    case 'sine':
      return s.min + span * (0.5 + 0.5 * Math.sin(2 * Math.PI * phase));
    case 'ramp':
      return s.min + span * phase;
    case 'square':
      return phase < 0.5 ? s.min : s.max;
    case 'random':
      return s.min + span * rnd();
    case 'constant':
      return s.min;
    case 'counter': {
      const cycle = Math.floor(span / s.step) + 1;
      return s.min + (n % cycle) * s.step;
    }
    case 'sequence': {
      const vals = s.values ?? [s.min, s.max];
      return vals[n % vals.length];
    }
  }
}

export class GeneratorAdapter implements Adapter {
  readonly #cfg: GeneratorSourceConfig;
  #timer: NodeJS.Timeout | undefined;
  #ctx: AdapterContext | undefined;
  #n = 0;
  #inflight: Promise<unknown> = Promise.resolve();
  #busy = false;
  #overruns = 0;
  #emitted = 0;
  #lastAt: number | undefined;
  #lastError: string | undefined;
  #stopped = false;
  readonly #rnd: () => number;

  constructor(cfg: GeneratorSourceConfig) {
    this.#cfg = cfg;
    this.#rnd = mulberry32(cfg.seed);
  }

  async start(ctx: AdapterContext): Promise<void> {
    this.#ctx = ctx;
    this.#stopped = false;
    const t0 = Date.now();
    let tick = 0;
    // Drift-free: each tick is scheduled against t0, and a tick that finds the previous emit still
    // waiting (back-pressure) is skipped and counted instead of piling up.
    const schedule = () => {
      if (this.#stopped) return;
      tick += 1;
      const due = t0 + tick * this.#cfg.interval;
      this.#timer = setTimeout(
        () => {
          this.#onTick(due);
          schedule();
        },
        Math.max(0, due - Date.now()),
      );
    };
    this.#onTick(t0);
    schedule();
  }

  #onTick(tickMs: number): void {
    const ctx = this.#ctx;
    if (!ctx || this.#stopped) return;
    if (this.#busy) {
      this.#overruns += 1;
      return;
    }
    const limit = this.#cfg.limit;
    if (limit !== undefined && this.#n >= limit) return;
    const samples: RawSample[] = [];
    const per = limit === undefined ? this.#cfg.batch : Math.min(this.#cfg.batch, limit - this.#n);
    for (let k = 0; k < per; k++) {
      const n = this.#n + k;
      // Spread a batch's timestamps across the interval so every sample has its own time.
      const ts = tickMs + Math.floor((k * this.#cfg.interval) / per);
      for (const s of this.#cfg.signals) {
        const sample: RawSample = {
          signal: s.name,
          value: shapeValue(s, n, ts, this.#rnd),
          ts,
          address: `generator:${s.name}`,
        };
        if (this.#cfg.attrs) sample.attrs = this.#cfg.attrs;
        samples.push(sample);
      }
    }
    this.#n += per;
    this.#busy = true;
    this.#inflight = ctx
      .emit(samples)
      .then(() => {
        this.#emitted += samples.length;
        this.#lastAt = Date.now();
      })
      .catch((err: unknown) => {
        if (this.#stopped) return;
        this.#lastError = err instanceof Error ? err.message : String(err);
        ctx.log.warn({ err }, 'Emitting generated samples failed; the next tick tries again.');
      })
      .finally(() => {
        this.#busy = false;
      });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inflight;
  }

  health(): ComponentHealth {
    const h: ComponentHealth = {
      state: this.#stopped ? 'stopped' : 'connected',
      counters: {
        emitted: this.#emitted,
        overruns: this.#overruns,
        generated: this.#n * this.#cfg.signals.length,
      },
    };
    if (this.#lastAt !== undefined) h.last_sample_at = this.#lastAt;
    if (this.#lastError !== undefined) h.last_error = this.#lastError;
    return h;
  }
}
