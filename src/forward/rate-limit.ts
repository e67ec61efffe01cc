// A sink's rate limit (`rate_limit: { records_per_s, requests_per_s, burst }`): two token buckets the forwarder
// passes every attempt through before it reaches the sink, so that a drain after an outage arrives at the ERP at
// the pace it was promised, not as an hour of backlog in seconds. Retries count too: the receiver sees them.
// Waiters are served in arrival order (lowest batch first), so a limited sink still delivers in seq order.

export interface RateLimitConfig {
  records_per_s?: number | undefined;
  requests_per_s?: number | undefined;
  /** Seconds of rate a full bucket holds: what may go at once after a quiet spell. */
  burst: number;
}

/** One bucket: `rate` tokens per second, holding at most `capacity`. */
class Bucket {
  readonly rate: number;
  readonly capacity: number;
  #tokens: number;
  #at: number;

  constructor(rate: number, capacity: number, now: number) {
    this.rate = rate;
    this.capacity = capacity;
    this.#tokens = capacity;
    this.#at = now;
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) * this.rate) / 1000);
      this.#at = now;
    }
  }

  /**
   * Milliseconds until `n` tokens can be taken. A take larger than the bucket waits for a full bucket and leaves
   * it in debt, so the long-run rate still holds (the config check keeps batches within the bucket anyway).
   */
  waitMs(n: number, now: number): number {
    this.#refill(now);
    const need = Math.min(n, this.capacity);
    return this.#tokens >= need ? 0 : Math.ceil(((need - this.#tokens) * 1000) / this.rate);
  }

  take(n: number, now: number): void {
    this.#refill(now);
    this.#tokens -= n;
  }

  tokens(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }
}

export interface RateLimiterOptions {
  /** For tests: the clock (ms) and the timer, so bucket arithmetic is checked without waiting. */
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => { cancel(): void };
}

export interface RateLimitSnapshot {
  records_per_s?: number;
  requests_per_s?: number;
  burst_s: number;
  /** Attempts that had to wait for tokens, and the total time they waited. */
  waited: number;
  waited_ms: number;
  /** When an attempt last had to wait (epoch ms): the sink counts as rate-limited shortly after. */
  last_wait_at?: number;
}

interface Waiter {
  records: number;
  since: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal | undefined;
  onAbort?: () => void;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

export class RateLimiter {
  readonly #records: Bucket | undefined;
  readonly #requests: Bucket | undefined;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #setTimer: (fn: () => void, ms: number) => { cancel(): void };
  readonly #queue: Waiter[] = [];
  #timer: { cancel(): void } | undefined;
  #waited = 0;
  #waitedMs = 0;
  #lastWaitAt: number | undefined;

  constructor(cfg: RateLimitConfig, opts: RateLimiterOptions = {}) {
    this.#now = opts.now ?? Date.now;
    this.#setTimer =
      opts.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        return { cancel: () => clearTimeout(t) };
      });
    const now = this.#now();
    this.#burst = cfg.burst;
    // A bucket holds at least one token, so a limit below 1/s with a short burst still lets anything through.
    const bucket = (rate: number | undefined) =>
      rate === undefined ? undefined : new Bucket(rate, Math.max(1, rate * cfg.burst), now);
    this.#records = bucket(cfg.records_per_s);
    this.#requests = bucket(cfg.requests_per_s);
  }

  /**
   * Resolves when an attempt carrying `records` records may go, and takes its tokens then. Rejects with the
   * signal's reason if it is aborted while waiting (the attempt is not made, and takes nothing).
   */
  acquire(records: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#queue.length === 0 && this.#wait(records) === 0) {
      this.#take(records);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { records, since: this.#now(), resolve, reject, signal };
      if (signal) {
        w.onAbort = () => {
          const i = this.#queue.indexOf(w);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(abortError(signal));
          // The head may have changed: the next waiter's time is planned afresh.
          this.#plan();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.#queue.push(w);
      this.#waited += 1;
      this.#lastWaitAt = this.#now();
      if (this.#queue.length === 1) this.#plan();
    });
  }

  /** The limits and how often they held an attempt back, for /status and /metrics. */
  snapshot(): RateLimitSnapshot {
    const s: RateLimitSnapshot = { burst_s: this.#burst, waited: this.#waited, waited_ms: this.#waitedMs };
    if (this.#records) s.records_per_s = this.#records.rate;
    if (this.#requests) s.requests_per_s = this.#requests.rate;
    if (this.#lastWaitAt !== undefined) s.last_wait_at = this.#lastWaitAt;
    return s;
  }

  /** The records-per-second limit, if any (the drain rate the ETA is computed from). */
  get recordsPerSecond(): number | undefined {
    return this.#records?.rate;
  }

  /** Rejects every waiter (the forwarder stops); later calls still work. */
  close(reason: unknown): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    for (const w of this.#queue.splice(0)) {
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      w.reject(reason);
    }
  }

  #wait(records: number): number {
    const now = this.#now();
    return Math.max(this.#records?.waitMs(records, now) ?? 0, this.#requests?.waitMs(1, now) ?? 0);
  }

  #take(records: number): void {
    const now = this.#now();
    this.#records?.take(records, now);
    this.#requests?.take(1, now);
  }

  /** Serves the head of the queue when its tokens are there, else sets one timer for when they will be. */
  #plan(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    while (this.#queue.length > 0) {
      const head = this.#queue[0] as Waiter;
      const ms = this.#wait(head.records);
      if (ms > 0) {
        this.#timer = this.#setTimer(() => {
          this.#timer = undefined;
          this.#plan();
        }, ms);
        return;
      }
      this.#queue.shift();
      this.#take(head.records);
      if (head.signal && head.onAbort) head.signal.removeEventListener('abort', head.onAbort);
      const now = this.#now();
      this.#waitedMs += now - head.since;
      this.#lastWaitAt = now;
      head.resolve();
    }
  }

  /** Debug aid for tests: tokens left in each bucket now. */
  tokens(): { records?: number; requests?: number } {
    const now = this.#now();
    const t: { records?: number; requests?: number } = {};
    if (this.#records) t.records = this.#records.tokens(now);
    if (this.#requests) t.requests = this.#requests.tokens(now);
    return t;
  }
}
