// One forwarder per sink: cuts batches deterministically from the journal after the sink's cursor, sends up to
// `max_in_flight` of them concurrently, retries retryable failures forever, dead-letters permanent rejections,
// and moves the cursor strictly in order, so nothing is skipped and a crash only ever resends.
// While the receiver fails, the sink retries only its oldest pending batch, one probe at a time (at most about
// one request per second at defaults); the first success sends every waiting batch at once, lowest first.
// A batch holds its place in the max_in_flight window until the cursor has moved past it, so at any moment at most
// max_in_flight batches are past the cursor, which is exactly what a crash can resend.
// This file is the loop and the window; its rooms are batch-cutter.ts (which records form a batch),
// retry-gate.ts (pacing while the receiver fails), sink-health.ts (what /status shows) and dead-letter-replay.ts.
import type { Logger } from 'pino';
import type { DeadLetter, Journal, Receipt } from '../journal/types.js';
import { Backoff } from '../kit/backoff.js';
import { PlantgateError } from '../kit/errors.js';
import { sleep } from '../kit/sleep.js';
import { BatchCutter, type Cut } from './batch-cutter.js';
import { replayDeadLetter } from './dead-letter-replay.js';
import type { ForwarderOptions, ForwarderSinkConfig } from './forwarder-options.js';
import { traceIdOf } from './kit/trace.js';
import type { Sink, WriteOutcome } from './kit/types.js';
import { RateLimiter } from './rate-limit.js';
import { RetryGate } from './retry-gate.js';
import { type Failure, type ForwarderHealth, SinkHealthTracker } from './sink-health.js';
import { type Tally, TotalsKeeper, tallyOf } from './totals.js';

export type { ForwarderOptions, ForwarderSinkConfig } from './forwarder-options.js';
export type {
  ForwarderAlarm,
  ForwarderHealth,
  ForwarderMetrics,
  ForwarderState,
} from './sink-health.js';

/** A batch in the max_in_flight window, from its cut until the cursor moved past it. */
interface Slot extends Cut {
  /** `waiting`: failed retryably, waiting for its turn at the sink's retry gate. */
  state: 'sending' | 'waiting' | 'acked' | 'dead' | 'aborted';
  outcome?: WriteOutcome;
  done?: Promise<void>;
  /** The acknowledged batch's counts and id digest, kept for the totals after its records are let go. */
  tally?: Tally;
  /** Attempts made, and when the receiver answered the last one: for the delivery receipt. */
  attempts?: number;
  answeredAt?: number;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class Forwarder {
  readonly #journal: Journal;
  readonly #sink: Sink;
  readonly #cfg: ForwarderSinkConfig;
  readonly #target: string | undefined;
  readonly #log: Logger;
  readonly #random: (() => number) | undefined;
  readonly #cutter: BatchCutter;
  readonly #gate: RetryGate;
  readonly #health: SinkHealthTracker;
  readonly #limiter: RateLimiter | undefined;
  readonly #owner: string | undefined;
  readonly #onDeadLetter: ((letter: DeadLetter) => void) | undefined;
  readonly #totals: TotalsKeeper | undefined;
  #totalsTimer: NodeJS.Timeout | undefined;

  #started = false;
  /** Aborted when cutting must stop (graceful stop begins). */
  #cutAbort = new AbortController();
  /** Aborted when in-flight sends must give up (stop deadline passed). */
  #sendAbort = new AbortController();
  #loop: Promise<void> | undefined;

  /**
   * Batches cut and not yet committed to the journal, in seq order. They are the max_in_flight window: a batch
   * leaves it only when the cursor moved past it (or it became a dead letter), never merely when acknowledged.
   */
  #slots: Slot[] = [];
  #slotFreed: (() => void) | undefined;
  #commitChain: Promise<void> = Promise.resolve();

  constructor(opts: ForwarderOptions) {
    this.#journal = opts.journal;
    this.#sink = opts.sink;
    this.#cfg = opts.sinkConfig;
    this.#target = opts.target;
    this.#log = opts.log;
    this.#random = opts.random;
    this.#owner = opts.owner;
    this.#onDeadLetter = opts.onDeadLetter;
    if (opts.sink.id !== opts.sinkConfig.id) {
      throw new PlantgateError(
        'INTERNAL',
        `Sink id ${opts.sink.id} does not match its configuration id ${opts.sinkConfig.id}.`,
      );
    }
    this.#cutter = new BatchCutter({
      journal: opts.journal,
      sinkId: opts.sinkConfig.id,
      gatewayId: opts.gatewayId,
      limits: opts.sinkConfig.batch,
    });
    this.#gate = new RetryGate(opts.sinkConfig.retry, opts.random);
    const rl = opts.sinkConfig.rate_limit;
    this.#limiter = rl ? new RateLimiter({ ...rl, burst: rl.burst / 1000 }) : undefined;
    const totals = opts.sinkConfig.totals;
    this.#totals = totals
      ? new TotalsKeeper({
          sinkId: opts.sinkConfig.id,
          gatewayId: opts.gatewayId,
          windowMs: totals.window,
          journal: opts.journal,
          log: opts.log,
        })
      : undefined;
    this.#health = new SinkHealthTracker({
      sinkId: opts.sinkConfig.id,
      log: opts.log,
      metrics: opts.metrics,
      failingAfter: opts.failingAfter ?? 5,
      growth: opts.growth ?? { sampleMs: 5000, windowMs: 60_000 },
      backlog: () => this.#journal.stats().sinks[this.#cfg.id]?.queued ?? 0,
    });
  }

  get sinkId(): string {
    return this.#cfg.id;
  }

  /** Starts the sink and the forwarding loop; the journal must be open and the sink registered with setSinks. */
  async start(): Promise<void> {
    if (this.#started) return;
    await this.#sink.start();
    const { cursor, resend } = await this.#cutter.restore();
    await this.#totals?.restore(cursor);
    this.#started = true;
    this.#scheduleTotals();
    this.#cutAbort = new AbortController();
    this.#sendAbort = new AbortController();
    this.#health.started();
    this.#log.info(
      { cursor, resend, ...(this.#target !== undefined ? { target: this.#target } : {}) },
      resend > 0
        ? `Forwarding started after seq ${cursor}; ${resend} batch(es) cut before the restart are resent first with their ids.`
        : `Forwarding started after seq ${cursor}.`,
    );
    this.#loop = this.#run().catch((err: unknown) => {
      this.#health.failed(errText(err));
      this.#log.error(
        { err },
        'The forwarding loop stopped on an unexpected error; the sink gets no more batches until a restart.',
      );
    });
  }

  /**
   * Stops cutting batches, waits up to `deadlineMs` for batches in flight (including their retries), then aborts
   * them. Their cursors are not moved, so they are resent (same batch ids) after the next start.
   */
  async stop(deadlineMs = 10_000): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#cutAbort.abort();
    this.#slotFreed?.();
    // Batches waiting for rate-limit tokens were never sent: they give up now and are resent after the start.
    this.#limiter?.close(new PlantgateError('ABORTED', 'The forwarder is stopping.'));
    if (this.#totalsTimer) clearTimeout(this.#totalsTimer);
    this.#totalsTimer = undefined;
    await this.#loop;
    const settled = Promise.all(this.#slots.map((s) => s.done)).then(() => this.#commitChain);
    let timer: NodeJS.Timeout | undefined;
    const expired = await Promise.race([
      settled.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), Math.max(0, deadlineMs));
      }),
    ]);
    if (timer) clearTimeout(timer);
    if (expired) {
      const n = this.#slots.filter((s) => s.state === 'sending').length;
      this.#log.warn(
        { in_flight: n },
        `The stop deadline passed with ${n} batch(es) unacknowledged; they are resent after the restart.`,
      );
    }
    this.#sendAbort.abort();
    // Batches waiting at the retry gate see the abort and give up their turn.
    this.#gate.open();
    await Promise.all(this.#slots.map((s) => s.done));
    await this.#commitChain;
    this.#health.stopping();
    // Whatever was not committed is resent from the journal cursor (and the saved ranges) after the next start.
    this.#slots = [];
    await this.#totals?.settle();
    await this.#sink.stop();
    this.#health.stopped();
    this.#log.info({ cursor: this.#journal.cursor(this.#cfg.id) }, 'Forwarding stopped.');
  }

  health(): ForwarderHealth {
    return this.#health.health({
      ledger: this.#journal.stats().sinks[this.#cfg.id],
      next: this.#cutter.next,
      batchesInFlight: this.#slots.filter((s) => s.state === 'sending' || s.state === 'waiting').length,
      rateLimit: this.#limiter?.snapshot(),
    });
  }

  /**
   * Re-sends a dead-lettered batch of this sink with its original batch id (one attempt). On 2xx the dead letter
   * is removed and counted delivered. Undefined when no such dead letter exists.
   */
  replayDeadLetter(batchId: string, signal?: AbortSignal): Promise<WriteOutcome | undefined> {
    // A replay on a stopped forwarder (e.g. from the CLI) opens the sink for this one request.
    const deps = {
      journal: this.#journal,
      sink: this.#sink,
      sinkId: this.#cfg.id,
      log: this.#log,
      health: this.#health,
      sinkRunning: this.#started,
      totals: this.#totals,
    };
    return replayDeadLetter(deps, batchId, signal);
  }

  /**
   * Closes the totals window at its end even when nothing is delivered (an outage gives a window of zeros), on
   * the commit chain so that it never interleaves with an ack's merge.
   */
  #scheduleTotals(): void {
    const totals = this.#totals;
    if (!totals || !this.#started) return;
    const ms = Math.max(0, totals.windowEnd - Date.now()) + 5;
    this.#totalsTimer = setTimeout(() => {
      this.#commitChain = this.#commitChain.then(() => totals.closeIfDue());
      this.#scheduleTotals();
    }, ms);
    this.#totalsTimer.unref();
  }

  #receipt(s: Slot, outcome: Receipt['outcome']): Receipt {
    const status = s.outcome?.status;
    return {
      batch_id: s.batch.batch_id,
      sink: this.#cfg.id,
      first_seq: s.batch.first_seq,
      last_seq: s.batch.last_seq,
      records: s.count,
      attempts: s.attempts ?? 0,
      outcome,
      ...(status !== undefined ? { status } : {}),
      at: s.answeredAt ?? Date.now(),
      trace_id: traceIdOf(s.batch.batch_id),
    };
  }

  // ---- cutting ---------------------------------------------------------------------------------------------

  async #run(): Promise<void> {
    const signal = this.#cutAbort.signal;
    const readBackoff = new Backoff({
      initialMs: 100,
      maxMs: 5000,
      ...(this.#random ? { random: this.#random } : {}),
    });
    let readFailures = 0;
    // The next batch is cut before a slot is free, so its journal read overlaps the batches in flight instead of
    // following their commit. It is only cut, not sent: the window still holds at most max_in_flight batches, and a
    // cut batch dropped at a stop is cut again after the start (a partial one from its saved range, same id).
    let ready: Cut | undefined;
    while (!signal.aborted) {
      if (this.#health.fatal !== undefined) return;
      if (ready === undefined) {
        try {
          ready = await this.#cutter.cut(signal);
          if (readFailures > 0) {
            readFailures = 0;
            readBackoff.reset();
          }
        } catch (err) {
          // A closed journal ends forwarding; any other read error is retried, so a hiccup does not stop a sink.
          if (err instanceof PlantgateError && err.code === 'JOURNAL_CLOSED') throw err;
          if (readFailures++ === 0) {
            this.#log.warn({ err }, 'Reading the journal for the next batch failed; retrying with backoff.');
          }
          this.#health.readFailed(errText(err));
          await sleep(readBackoff.next(), signal);
          continue;
        }
        if (!ready) continue;
        if (signal.aborted) return;
      }
      if (this.#slots.length >= this.#cfg.max_in_flight) {
        await new Promise<void>((resolve) => {
          this.#slotFreed = resolve;
        });
        this.#slotFreed = undefined;
        continue;
      }
      const cut = ready;
      ready = undefined;
      const slot: Slot = { ...cut, state: 'sending' };
      this.#slots.push(slot);
      if (slot.count === 0) {
        // Every record of a batch from before the restart is gone (dropped): only the cursor moves.
        slot.state = 'acked';
        slot.done = Promise.resolve();
        this.#scheduleCommit();
        continue;
      }
      slot.done = this.#send(slot);
    }
  }

  // ---- sending ---------------------------------------------------------------------------------------------

  async #send(slot: Slot): Promise<void> {
    const signal = this.#sendAbort.signal;
    try {
      for (;;) {
        if (signal.aborted) {
          slot.state = 'aborted';
          return;
        }
        if (this.#health.consecutiveFailures > 0) {
          // The sink is failing: wait for this batch's turn as the probe, or for a success that ends the outage.
          slot.state = 'waiting';
          await this.#turn(slot);
          if (signal.aborted) {
            slot.state = 'aborted';
            return;
          }
          slot.state = 'sending';
        }
        if (this.#limiter) {
          try {
            // Every attempt passes the limit, retries too: the receiver sees them all.
            await this.#limiter.acquire(slot.count, signal);
          } catch {
            slot.state = 'aborted';
            return;
          }
        }
        let outcome: WriteOutcome;
        slot.attempts = (slot.attempts ?? 0) + 1;
        try {
          outcome = await this.#sink.write(slot.batch, signal);
        } catch (err) {
          // A sink should classify instead of throwing; if it throws anyway, treat it as retryable.
          outcome = { ok: false, retryable: true, error: errText(err) };
        }
        if (signal.aborted && !outcome.ok) {
          slot.state = 'aborted';
          return;
        }
        slot.outcome = outcome;
        slot.answeredAt = Date.now();
        if (outcome.ok) {
          slot.state = 'acked';
          this.#health.success(outcome.latency_ms);
          // A success is evidence that the receiver is back: nobody waits out a backoff any longer.
          this.#gate.open();
          return;
        }
        // A permanent rejection after retryable failures: the receiver answered, batches waiting for it go now.
        if (this.#health.failure(slot.batch.batch_id, outcome)) this.#gate.open();
        if (!outcome.retryable) {
          slot.state = 'dead';
          return;
        }
        this.#health.retried();
        this.#scheduleRetry(outcome.retry_after_ms);
      }
    } finally {
      if (slot.state === 'acked') {
        // Records are no longer needed once the receiver has them; only seq, count (and for the totals, their
        // tally) wait for the commit.
        const b = slot.batch;
        if (this.#totals) slot.tally = tallyOf(b.entries);
        slot.batch = { batch_id: b.batch_id, first_seq: b.first_seq, last_seq: b.last_seq, entries: [] };
      }
      // The slot keeps its place in the window until the commit: acknowledged batches past a failing lower one
      // must not pile up, since a crash resends every batch past the cursor.
      this.#scheduleCommit();
    }
  }

  /** Resolves when `slot` may send: it was chosen as the probe, the outage ended, or the forwarder stops. */
  #turn(slot: Slot): Promise<void> {
    if (this.#sendAbort.signal.aborted) return Promise.resolve();
    const othersSending = this.#slots.some((s) => s !== slot && s.state === 'sending');
    return this.#gate.turn(slot.batch.first_seq, othersSending);
  }

  /** Plans the next probe after a retryable failure; a later Retry-After pushes an already planned one back. */
  #scheduleRetry(retryAfterMs: number | undefined): void {
    const failures = this.#health.consecutiveFailures;
    if (failures === 0) return; // a success came in meanwhile: nothing to wait for
    if (this.#gate.schedule(failures, retryAfterMs)) {
      this.#health.clamped(retryAfterMs as number, this.#cfg.retry.max);
    }
  }

  // ---- committing ------------------------------------------------------------------------------------------

  #scheduleCommit(): void {
    this.#commitChain = this.#commitChain
      .then(() => this.#commit())
      .catch((err: unknown) => {
        this.#health.failed(`committing to the journal failed: ${errText(err)}`);
        this.#log.error(
          { err },
          'Moving the sink cursor in the journal failed; forwarding stops until a restart.',
        );
        this.#cutAbort.abort();
        this.#slotFreed?.();
      });
  }

  /** Commits settled batches at the head, in seq order: runs of acked batches in one ack, dead ones one by one. */
  async #commit(): Promise<void> {
    while (this.#slots.length > 0) {
      const head = this.#slots[0] as Slot;
      if (head.state === 'acked') {
        let n = 0;
        let records = 0;
        let last = head.batch.last_seq;
        for (const s of this.#slots) {
          if (s.state !== 'acked') break;
          n += 1;
          records += s.count;
          last = s.batch.last_seq;
        }
        // A commit after the window's end counts in the next window: the closing comes first.
        this.#totals?.closeIfDue();
        const tallies = this.#totals
          ? this.#slots.slice(0, n).flatMap((s) => (s.tally ? [s.tally] : []))
          : [];
        const receipts = this.#slots
          .slice(0, n)
          .filter((s) => s.count > 0)
          .map((s) => this.#receipt(s, 'delivered'));
        await this.#journal.ack(this.#cfg.id, last, records, {
          state: this.#totals?.onAck(last, tallies),
          receipts,
        });
        const done = this.#slots.splice(0, n);
        this.#health.delivered(done.filter((s) => s.count > 0).length, records);
        this.#slotFreed?.();
      } else if (head.state === 'dead') {
        const outcome = head.outcome as Failure;
        const at = Date.now();
        const letter: DeadLetter = {
          batch_id: head.batch.batch_id,
          sink: this.#cfg.id,
          ...(this.#owner !== undefined ? { owner: this.#owner } : {}),
          at,
          ...(outcome.status !== undefined ? { status: outcome.status } : {}),
          error: outcome.error,
          records: head.batch.entries.map((e) => e.record),
          first_seq: head.batch.first_seq,
          last_seq: head.batch.last_seq,
        };
        await this.#journal.deadLetter(letter, head.batch.last_seq, {
          receipts: [this.#receipt(head, 'dead_lettered')],
        });
        this.#onDeadLetter?.(letter);
        this.#totals?.onDeadLetter(head.batch.last_seq);
        this.#slots.shift();
        this.#health.deadLettered(head.batch.batch_id, head.count, outcome, at);
        this.#slotFreed?.();
      } else {
        return;
      }
    }
  }
}
