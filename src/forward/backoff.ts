// Retry delays for a failing batch: exponential backoff with full jitter, so many gateways coming back after
// a central outage do not retry in lock-step; a server's Retry-After is a floor, never cut short.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Uniform in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
}

/** Delay before retry number `attempt` (0-based): uniform in [0, min(max, initial * 2^attempt)], at least `retryAfterMs`. */
export function backoffDelay(attempt: number, opts: BackoffOptions, retryAfterMs?: number): number {
  const random = opts.random ?? Math.random;
  // 2^attempt overflows to Infinity for large attempts, which min() then clamps.
  const cap = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.max(0, attempt));
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
