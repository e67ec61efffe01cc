// The retry gate of a failing sink: while the receiver fails, only one batch at a time goes as the probe, the
// lowest waiting one, when the backoff (or a longer Retry-After, up to retry.max) has passed; a success opens the
// gate for every waiting batch, lowest first. Separate from the forwarder because its pacing is what keeps a plant
// from hammering a central receiver that is down (at most about one request per second at defaults).
import { retryDelay } from '../kit/backoff.js';

export interface RetrySettings {
  initial: number;
  max: number;
  probe_interval?: number | undefined;
}

export class RetryGate {
  readonly #retry: RetrySettings;
  readonly #random: (() => number) | undefined;
  /** Batches waiting for their turn, by first seq; the lowest goes first. */
  #waiters: Array<{ seq: number; go: () => void }> = [];
  #timer: NodeJS.Timeout | undefined;
  #dueAt = 0;
  /** The retry timer fired while no batch was waiting: the next batch to reach the gate goes as the probe. */
  #probeFree = false;

  constructor(retry: RetrySettings, random?: () => number) {
    this.#retry = retry;
    this.#random = random;
  }

  /**
   * Resolves when the batch starting at `firstSeq` may send: it was chosen as the probe, or the gate opened.
   * `othersSending` says whether another batch is on the wire, whose answer will plan the next probe.
   */
  turn(firstSeq: number, othersSending: boolean): Promise<void> {
    if (this.#probeFree) {
      this.#probeFree = false;
      return Promise.resolve();
    }
    // No retry planned and nothing in flight whose answer would plan one: this batch is the probe (never deadlock).
    if (this.#timer === undefined && !othersSending) return Promise.resolve();
    return new Promise<void>((go) => {
      this.#waiters.push({ seq: firstSeq, go });
    });
  }

  /**
   * Plans the next probe after the `failures`-th retryable failure in a row; a later Retry-After pushes an already
   * planned one back. Returns true when `retryAfterMs` was above retry.max (it is then clamped to it).
   */
  schedule(failures: number, retryAfterMs: number | undefined): boolean {
    const r = this.#retry;
    const clamped = retryAfterMs !== undefined && retryAfterMs > r.max;
    const delay = retryDelay(
      failures,
      { initialMs: r.initial, maxMs: r.max, probeMs: r.probe_interval ?? Math.min(1000, r.max) },
      retryAfterMs,
      this.#random,
    );
    const due = Date.now() + delay;
    if (this.#timer !== undefined) {
      if (retryAfterMs === undefined || due <= this.#dueAt) return clamped;
      clearTimeout(this.#timer);
    }
    this.#probeFree = false;
    this.#dueAt = due;
    this.#timer = setTimeout(() => this.#probe(), delay);
    return clamped;
  }

  /** Lets every waiting batch go, lowest first (a success, or the stop). */
  open(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#probeFree = false;
    const all = this.#waiters.splice(0).sort((a, b) => a.seq - b.seq);
    for (const w of all) w.go();
  }

  /** The retry timer fired: the lowest waiting batch goes (the cursor can only move past the lowest). */
  #probe(): void {
    this.#timer = undefined;
    if (this.#waiters.length === 0) {
      this.#probeFree = true;
      return;
    }
    let at = 0;
    for (let i = 1; i < this.#waiters.length; i++) {
      if ((this.#waiters[i] as { seq: number }).seq < (this.#waiters[at] as { seq: number }).seq) at = i;
    }
    const [w] = this.#waiters.splice(at, 1);
    w?.go();
  }
}
