// Retry and reconnect delays, the one implementation every component uses (adapters, sinks, the forwarder): a
// neutral module because adapters may not import src/forward/ (the forwarder's former src/forward/backoff.ts is
// gone: it held nothing sink-specific), plus the two shapes the adapters use: the un-jittered exponential ceiling
// and its doubling step.
//   - `retryDelay` paces a failing sink's probes (backoff from `initial` up to the probe interval, with jitter so
//     many gateways coming back after a central outage do not retry in lock-step; a receiver's Retry-After is a
//     floor up to `retry.max`);
//   - `Backoff`/`backoffDelay`: exponential backoff with full jitter for local retries;
//   - `exponentialCap`: initial * 2^attempt, capped; `doubled`: the next delay of a deterministic doubling backoff
//     (Modbus connections and devices, MQTT reconnects), for code that keeps the current delay rather than a count.

/** The longest delay Node's timers take: a longer one fires after 1 ms (a hot loop), so every delay is cut to it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** min(maxMs, initialMs * 2^attempt) for attempt >= 0: the ceiling of exponential backoff, without jitter. */
export function exponentialCap(attempt: number, initialMs: number, maxMs: number): number {
  // 2^attempt overflows to Infinity for large attempts, which min() then clamps; the 60 keeps 0 * 2^n finite.
  return Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, attempt), 60));
}

/**
 * The delay after `currentMs` in a doubling backoff: twice it, at least `initialMs` (so a backoff that was reset
 * to 0 starts at initial) and at most `maxMs`.
 */
export function doubled(currentMs: number, opts: { initialMs: number; maxMs: number }): number {
  return Math.min(opts.maxMs, Math.max(opts.initialMs, currentMs * 2));
}

export interface RetryDelayOptions {
  initialMs: number;
  /** The delay stops growing at this (then 1 to 1.5 times it, jittered). */
  probeMs: number;
  /** The longest wait: a Retry-After above it is clamped to it. */
  maxMs: number;
}

/**
 * Delay before the next probe of a sink that has failed `failures` (>= 1) times in a row: min(probeMs,
 * initialMs * 2^(failures-1)), times a jitter factor in [1, 1.5) and never above maxMs; a Retry-After raises it,
 * but only up to maxMs (a huge or far-future Retry-After is clamped, never handed to a timer as is).
 */
export function retryDelay(
  failures: number,
  opts: RetryDelayOptions,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const base = exponentialCap(failures - 1, opts.initialMs, opts.probeMs);
  const jittered = Math.min(Math.floor(base * (1 + 0.5 * random())), Math.max(opts.maxMs, base));
  let delay = jittered;
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0) {
    delay = Math.max(delay, Math.ceil(Math.min(retryAfterMs, opts.maxMs)));
  } else if (retryAfterMs === Number.POSITIVE_INFINITY) {
    delay = Math.max(delay, opts.maxMs);
  }
  return Math.min(Math.max(0, delay), MAX_TIMER_MS);
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Uniform in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
}

/** Delay before retry number `attempt` (0-based): uniform in [0, min(max, initial * 2^attempt)], at least `retryAfterMs`. */
export function backoffDelay(attempt: number, opts: BackoffOptions, retryAfterMs?: number): number {
  const random = opts.random ?? Math.random;
  const cap = exponentialCap(attempt, opts.initialMs, opts.maxMs);
  const jittered = Math.floor(random() * (cap + 1));
  const delay = Math.min(cap, jittered);
  return retryAfterMs !== undefined && retryAfterMs > delay ? Math.ceil(retryAfterMs) : delay;
}

/** Counts attempts for one batch (or one connection) and hands out the next delay. */
export class Backoff {
  #attempt = 0;
  readonly #opts: BackoffOptions;

  constructor(opts: BackoffOptions) {
    this.#opts = opts;
  }

  /** Failures seen since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  next(retryAfterMs?: number): number {
    const d = backoffDelay(this.#attempt, this.#opts, retryAfterMs);
    this.#attempt += 1;
    return d;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
