// A sink's health as its forwarder sees it: the counters, the last error and when it became history, the alarm
// of the last dead letter, a configuration problem (redirect), the slow-receiver judgement, the state with its
// words for /status, and the log lines of state changes (rate-limited where a failing receiver repeats itself).
// Separate from the forwarder so that what an operator sees is decided in one place, apart from how batches move.
import type { Logger } from 'pino';
import type { JournalStats } from '../journal/types.js';
import { traceIdOf } from './kit/trace.js';
import type { SinkHealth, SinkState, WriteOutcome } from './kit/types.js';
import type { RateLimitSnapshot } from './rate-limit.js';
import { limitedDetail, type RateLimitHealth, rateLimitHealth } from './rate-limit-health.js';

export type ForwarderState = SinkState;

export interface ForwarderAlarm {
  at: number;
  batch_id: string;
  records: number;
  status?: number;
  error: string;
  /** When the batch was replayed and delivered: the alarm is then history. */
  resolved_at?: number;
}

/**
 * A sink's health as the forwarder sees it: the SinkHealth shape every component shares (state, detail, last
 * error, `counters`), plus the delivery details /status shows. The counters are also flat fields (delivered_batches,
 * retries...), which the status document and the tests read.
 */
export interface ForwarderHealth extends SinkHealth {
  /** Selected records after the cursor still in the journal (the journal ledger's `queued`). */
  backlog: number;
  oldest_unacked_age_ms?: number;
  last_ack_at?: number;
  /** Exponentially weighted moving average of successful request latency. */
  latency_ms_ewma?: number;
  batches_in_flight: number;
  consecutive_failures: number;
  cursor: number;
  delivered_batches: number;
  delivered_records: number;
  retries: number;
  dead_lettered_batches: number;
  dead_lettered_records: number;
  /** The last permanent rejection (batch dead-lettered); `resolved_at` once that batch was replayed. */
  last_alarm?: ForwarderAlarm;
  /** The last error, once a success came after it: shown as past, with its time. */
  past_error?: { error: string; at: number; resolved_at: number };
  /** A problem retrying alone cannot fix (a redirect): the configuration must change. */
  config_problem?: { error: string; since: number };
  /**
   * Set when the backlog grew steadily over the last minute while the sink was delivering: the receiver accepts
   * less than comes in (a slow receiver). Rates in records per second over `window_s`.
   */
  backlog_growth?: { records_per_s: number; accepted_per_s: number; window_s: number };
  /**
   * The sink's `rate_limit`, when set: its limits, how often it held an attempt back, and while it does
   * (`limited`), the estimated time until the backlog is drained at the limit, net of what keeps coming in.
   */
  rate_limit?: RateLimitHealth;
}

/** Hooks for metrics; `createForwarderMetrics` in metrics.ts builds them on a prom-client registry. */
export interface ForwarderMetrics {
  attempt(sinkId: string, outcome: 'ok' | 'retryable' | 'permanent', latencyMs?: number): void;
  delivered(sinkId: string, records: number): void;
  deadLettered(sinkId: string, records: number): void;
  alarm(sinkId: string, reason: string): void;
  /** A Retry-After longer than retry.max was clamped (optional: older metric sets lack it). */
  retryAfterClamped?(sinkId: string): void;
}

export type Failure = Extract<WriteOutcome, { ok: false }>;

const EWMA_ALPHA = 0.2;
/** At most one "Retry-After was clamped" line per this interval. */
const CLAMP_LOG_INTERVAL_MS = 60_000;
/** A backlog counts as growing when it rose in at least this share of the sampling steps of the window ... */
const GROWTH_STEADY_SHARE = 0.75;
/** ... and by at least this many records per second on balance (noise from batching stays below it). */
const GROWTH_MIN_RATE = 1;
const REJECTED_IN_A_ROW_FAILING = 3;
/** At most one dead-letter error line per this interval; the others are counted into the next line. */
const DEAD_LOG_INTERVAL_MS = 10_000;

export interface SinkHealthOptions {
  sinkId: string;
  log: Logger;
  metrics?: ForwarderMetrics | undefined;
  /** Consecutive failed attempts after which the state is `failing` rather than `retrying`. */
  failingAfter: number;
  /** How often the backlog is sampled and over how long a growth must last. */
  growth: { sampleMs: number; windowMs: number };
  /** The sink's backlog now (the journal ledger's `queued`). */
  backlog(): number;
}

/** What the forwarder knows only itself, for health(). */
export interface DeliveryView {
  /** The journal ledger of the sink, when the journal has one. */
  ledger: JournalStats['sinks'][string] | undefined;
  /** Seq after which the next batch is cut (the cursor when the ledger has none). */
  next: number;
  batchesInFlight: number;
  /** The rate limiter's figures, when the sink has a rate_limit. */
  rateLimit?: RateLimitSnapshot | undefined;
}

export class SinkHealthTracker {
  readonly #id: string;
  readonly #log: Logger;
  readonly #metrics: ForwarderMetrics | undefined;
  readonly #failingAfter: number;
  readonly #growthSampleMs: number;
  readonly #growthWindowMs: number;
  readonly #backlog: () => number;

  #stopped = true;
  #fatal: string | undefined;
  #consecutiveFailures = 0;
  #lastError: string | undefined;
  #lastErrorAt: number | undefined;
  #lastAckAt: number | undefined;
  #latencyEwma: number | undefined;
  #lastAlarm: ForwarderAlarm | undefined;
  #deliveredBatches = 0;
  #deliveredRecords = 0;
  #retries = 0;
  #deadBatches = 0;
  #deadRecords = 0;
  #wasFailing = false;
  /** Batches rejected permanently since the last success: one bad batch is an alarm, a run of them a failing sink. */
  #rejectedInARow = 0;
  #lastDeadLog = 0;
  #deadUnlogged = 0;
  #lastClampLog = 0;
  #clampsUnlogged = 0;
  #configProblem: { error: string; since: number } | undefined;
  #pastError: { error: string; at: number; resolved_at: number } | undefined;
  #growthTimer: NodeJS.Timeout | undefined;
  #growthSamples: Array<{ t: number; backlog: number; delivered: number; failing: boolean }> = [];

  constructor(opts: SinkHealthOptions) {
    this.#id = opts.sinkId;
    this.#log = opts.log;
    this.#metrics = opts.metrics;
    this.#failingAfter = opts.failingAfter;
    this.#growthSampleMs = opts.growth.sampleMs;
    this.#growthWindowMs = opts.growth.windowMs;
    this.#backlog = opts.backlog;
  }

  /** Failed attempts in a row (retryable ones; a permanent rejection proves the receiver reachable). */
  get consecutiveFailures(): number {
    return this.#consecutiveFailures;
  }

  /** Whether forwarding stopped on an error (it then cuts no more batches until a restart). */
  get fatal(): string | undefined {
    return this.#fatal;
  }

  started(): void {
    this.#stopped = false;
    this.#fatal = undefined;
    this.#growthSamples = [];
    this.#growthTimer = setInterval(() => this.#sampleGrowth(), this.#growthSampleMs);
    this.#growthTimer.unref();
  }

  /** The in-flight work is over: backlog sampling ends. */
  stopping(): void {
    if (this.#growthTimer) clearInterval(this.#growthTimer);
    this.#growthTimer = undefined;
  }

  stopped(): void {
    this.#stopped = true;
  }

  failed(error: string): void {
    this.#fatal = error;
  }

  readFailed(error: string): void {
    this.#lastError = `reading the journal failed: ${error}`;
    this.#lastErrorAt = Date.now();
  }

  retried(): void {
    this.#retries += 1;
  }

  success(latencyMs: number): void {
    this.#metrics?.attempt(this.#id, 'ok', latencyMs);
    this.#latencyEwma =
      this.#latencyEwma === undefined
        ? latencyMs
        : this.#latencyEwma + EWMA_ALPHA * (latencyMs - this.#latencyEwma);
    if (this.#consecutiveFailures > 0) {
      this.#log.info(
        { failures: this.#consecutiveFailures },
        `The sink accepts batches again after ${this.#consecutiveFailures} failed attempt(s); every waiting batch is sent now.`,
      );
    }
    if (this.#configProblem !== undefined) {
      this.#log.info(
        'The receiver accepts batches at the configured url again; the configuration problem is gone.',
      );
    }
    this.#consecutiveFailures = 0;
    this.#wasFailing = false;
    this.#rejectedInARow = 0;
    this.#configProblem = undefined;
    this.#errorIsPast(Date.now());
  }

  /**
   * Counts a failed attempt and logs a change of state. Returns true when a permanent rejection ended a run of
   * retryable failures: the receiver answered, so batches waiting for it may go now.
   */
  failure(batchId: string, outcome: Failure): boolean {
    this.#lastError = outcome.error;
    this.#lastErrorAt = Date.now();
    if (!outcome.retryable) {
      this.#metrics?.attempt(this.#id, 'permanent');
      this.#rejectedInARow += 1;
      if (this.#consecutiveFailures === 0) return false;
      this.#consecutiveFailures = 0;
      return true;
    }
    this.#metrics?.attempt(this.#id, 'retryable');
    this.#consecutiveFailures += 1;
    if (outcome.problem === 'redirect' && this.#configProblem === undefined) {
      // Once per episode: the alarm names the Location; the batches stay queued, none is dead-lettered.
      this.#configProblem = { error: outcome.error, since: this.#lastErrorAt };
      this.#metrics?.alarm(this.#id, 'redirect');
      this.#log.error(
        { batch_id: batchId, trace_id: traceIdOf(batchId), status: outcome.status, error: outcome.error },
        'The receiver redirects batches elsewhere; redirects are not followed. Fix the sink url; batches wait in the journal meanwhile.',
      );
    } else if (this.#consecutiveFailures === 1) {
      this.#log.warn(
        { batch_id: batchId, trace_id: traceIdOf(batchId), status: outcome.status, error: outcome.error },
        'Sending a batch failed; retrying the oldest batch alone until the sink accepts it.',
      );
    } else if (this.#consecutiveFailures >= this.#failingAfter && !this.#wasFailing) {
      this.#wasFailing = true;
      this.#log.error(
        { failures: this.#consecutiveFailures, error: outcome.error },
        `The sink has failed ${this.#consecutiveFailures} attempts in a row; records stay in the journal and retries continue.`,
      );
    }
    return false;
  }

  /** A Retry-After above retry.max was clamped: counted always, logged at most once a minute. */
  clamped(retryAfterMs: number, maxMs: number): void {
    this.#metrics?.retryAfterClamped?.(this.#id);
    const now = Date.now();
    if (now - this.#lastClampLog < CLAMP_LOG_INTERVAL_MS) {
      this.#clampsUnlogged += 1;
      return;
    }
    this.#log.warn(
      {
        retry_after_ms: retryAfterMs,
        retry_max_ms: maxMs,
        ...(this.#clampsUnlogged > 0 ? { more_clamped_since_last_log: this.#clampsUnlogged } : {}),
      },
      `The receiver asked to wait ${Math.round(retryAfterMs / 1000)} s (Retry-After); waiting retry.max = ${Math.round(maxMs / 1000)} s instead.`,
    );
    this.#lastClampLog = now;
    this.#clampsUnlogged = 0;
  }

  /** Acknowledged batches were committed (`batches` counts those that held records). */
  delivered(batches: number, records: number): void {
    this.#deliveredBatches += batches;
    this.#deliveredRecords += records;
    this.#lastAckAt = Date.now();
    this.#metrics?.delivered(this.#id, records);
  }

  /** A permanently rejected batch was committed to dead letters at `at`. */
  deadLettered(batchId: string, records: number, outcome: Failure, at: number): void {
    this.#deadBatches += 1;
    this.#deadRecords += records;
    this.#lastAlarm = { at, batch_id: batchId, records, error: outcome.error };
    if (outcome.status !== undefined) this.#lastAlarm.status = outcome.status;
    this.#metrics?.deadLettered(this.#id, records);
    this.#metrics?.alarm(this.#id, 'dead_letter');
    // Every dead letter is an alarm (counter, health), but a receiver rejecting everything must not flood the log.
    if (at - this.#lastDeadLog >= DEAD_LOG_INTERVAL_MS) {
      this.#log.error(
        {
          batch_id: batchId,
          trace_id: traceIdOf(batchId),
          records,
          status: outcome.status,
          error: outcome.error,
          ...(this.#deadUnlogged > 0 ? { more_batches_since_last_log: this.#deadUnlogged } : {}),
        },
        'The sink rejected a batch permanently; it went to dead letters and forwarding continues. Fix the cause, then replay it.',
      );
      this.#lastDeadLog = at;
      this.#deadUnlogged = 0;
    } else {
      this.#deadUnlogged += 1;
    }
  }

  /** A replay attempt of a dead letter ended with `outcome` (counted, changes no state). */
  replayAttempt(outcome: WriteOutcome): void {
    this.#metrics?.attempt(
      this.#id,
      outcome.ok ? 'ok' : outcome.retryable ? 'retryable' : 'permanent',
      outcome.ok ? outcome.latency_ms : undefined,
    );
  }

  /** A replayed dead letter was delivered and removed from dead letters. */
  replayDelivered(batchId: string, records: number): void {
    this.#metrics?.delivered(this.#id, records);
    // The rejection is history now: the alarm and the error stay visible, but as past, with their times.
    const now = Date.now();
    if (this.#lastAlarm?.batch_id === batchId) this.#lastAlarm.resolved_at = now;
    this.#errorIsPast(now);
  }

  health(view: DeliveryView): ForwarderHealth {
    const { ledger } = view;
    const limit = rateLimitHealth(view.rateLimit, ledger?.queued ?? 0, () => this.#inputRate());
    let state = this.#state();
    if (state === 'connected' && limit?.limited) state = 'rate-limited';
    const h: ForwarderHealth = {
      state,
      detail: this.#detail(state),
      backlog: ledger?.queued ?? 0,
      batches_in_flight: view.batchesInFlight,
      consecutive_failures: this.#consecutiveFailures,
      cursor: ledger?.cursor ?? view.next,
      delivered_batches: this.#deliveredBatches,
      delivered_records: this.#deliveredRecords,
      retries: this.#retries,
      dead_lettered_batches: this.#deadBatches,
      dead_lettered_records: this.#deadRecords,
      counters: {
        delivered_batches: this.#deliveredBatches,
        delivered_records: this.#deliveredRecords,
        retries: this.#retries,
        dead_lettered_batches: this.#deadBatches,
        dead_lettered_records: this.#deadRecords,
      },
    };
    if (ledger?.oldest_unacked_at !== undefined)
      h.oldest_unacked_age_ms = Math.max(0, Date.now() - ledger.oldest_unacked_at);
    if (this.#lastAckAt !== undefined) h.last_ack_at = this.#lastAckAt;
    if (this.#lastError !== undefined) h.last_error = this.#lastError;
    if (this.#lastErrorAt !== undefined) h.last_error_at = this.#lastErrorAt;
    if (this.#latencyEwma !== undefined) h.latency_ms_ewma = Math.round(this.#latencyEwma * 10) / 10;
    if (this.#lastAlarm !== undefined) h.last_alarm = { ...this.#lastAlarm };
    if (this.#pastError !== undefined) h.past_error = { ...this.#pastError };
    if (this.#configProblem !== undefined) h.config_problem = { ...this.#configProblem };
    const growth = this.#growth();
    if (growth) h.backlog_growth = growth;
    if (limit) h.rate_limit = limit;
    if (state === 'rate-limited') h.detail = limitedDetail(limit, h.backlog);
    return h;
  }

  /** Records per second coming in for this sink over the sampled window (0 before two samples exist). */
  #inputRate(): number {
    const s = this.#growthSamples;
    if (s.length < 2) return 0;
    const first = s[0] as (typeof s)[number];
    const last = s[s.length - 1] as (typeof s)[number];
    const seconds = (last.t - first.t) / 1000;
    if (seconds <= 0) return 0;
    return Math.max(0, (last.backlog - first.backlog + last.delivered - first.delivered) / seconds);
  }

  /** The current error becomes history (kept with its time and when it ended). */
  #errorIsPast(now: number): void {
    if (this.#lastError === undefined) return;
    this.#pastError = { error: this.#lastError, at: this.#lastErrorAt ?? now, resolved_at: now };
    this.#lastError = undefined;
    this.#lastErrorAt = undefined;
  }

  #state(): ForwarderState {
    if (this.#stopped) return 'stopped';
    if (this.#fatal !== undefined || this.#consecutiveFailures >= this.#failingAfter) return 'failing';
    if (this.#rejectedInARow >= REJECTED_IN_A_ROW_FAILING) return 'failing';
    if (this.#configProblem !== undefined) return 'failing';
    if (this.#consecutiveFailures > 0) return 'retrying';
    return 'connected';
  }

  #detail(state: ForwarderState): string {
    switch (state) {
      case 'stopped':
        return 'forwarding is stopped';
      case 'failing':
        if (this.#fatal !== undefined) return `forwarding stopped on an error: ${this.#fatal}`;
        if (this.#configProblem !== undefined) {
          return `configuration problem: ${this.#configProblem.error}; retrying with backoff, no batch is dead-lettered`;
        }
        if (
          this.#rejectedInARow >= REJECTED_IN_A_ROW_FAILING &&
          this.#consecutiveFailures < this.#failingAfter
        ) {
          return `the receiver rejected ${this.#rejectedInARow} batches in a row for good; they are in dead letters (last error: ${this.#lastError ?? 'unknown'})`;
        }
        return `${this.#consecutiveFailures} attempts failed in a row; retrying with backoff (last error: ${this.#lastError ?? 'unknown'})`;
      case 'retrying':
        return `the last attempt failed; retrying with backoff (${this.#lastError ?? 'unknown error'})`;
      case 'connected':
        return this.#lastAckAt === undefined ? 'nothing delivered yet' : 'delivering';
      case 'rate-limited':
        return 'rate-limited'; // health() words it with the limits and the drain estimate
    }
  }

  // ---- slow receivers ----------------------------------------------------------------------------------------

  #sampleGrowth(): void {
    const horizon = this.#growthWindowMs + this.#growthSampleMs;
    const now = Date.now();
    this.#growthSamples.push({
      t: now,
      backlog: this.#backlog(),
      delivered: this.#deliveredRecords,
      failing: this.#consecutiveFailures > 0,
    });
    while (this.#growthSamples.length > 0 && now - (this.#growthSamples[0] as { t: number }).t > horizon) {
      this.#growthSamples.shift();
    }
  }

  /**
   * A backlog that rose in most steps of a full window while the sink kept delivering: the receiver is slower
   * than the input. Outages are reported as such (retrying/failing), so a window with failures does not count.
   */
  #growth(): ForwarderHealth['backlog_growth'] {
    const s = this.#growthSamples;
    if (s.length < 3) return undefined;
    const first = s[0] as (typeof s)[number];
    const last = s[s.length - 1] as (typeof s)[number];
    const span = last.t - first.t;
    if (span < this.#growthWindowMs * 0.9) return undefined;
    if (s.some((x) => x.failing)) return undefined;
    let rose = 0;
    for (let i = 1; i < s.length; i++) {
      if ((s[i] as { backlog: number }).backlog > (s[i - 1] as { backlog: number }).backlog) rose += 1;
    }
    const seconds = span / 1000;
    const growth = (last.backlog - first.backlog) / seconds;
    if (rose < (s.length - 1) * GROWTH_STEADY_SHARE || growth < GROWTH_MIN_RATE) return undefined;
    const accepted = (last.delivered - first.delivered) / seconds;
    const round = (x: number) => (x >= 100 ? Math.round(x) : Math.round(x * 10) / 10);
    return { records_per_s: round(growth), accepted_per_s: round(accepted), window_s: Math.round(seconds) };
  }
}
