// One forwarder per sink: cuts batches deterministically from the journal after the sink's cursor, sends up to
// `max_in_flight` of them concurrently, retries retryable failures forever, dead-letters permanent rejections,
// and moves the cursor strictly in order, so nothing is skipped and a crash only ever resends.
// While the receiver fails, the sink retries only its oldest pending batch, one probe at a time (at most about
// one request per second at defaults); the first success sends every waiting batch at once, lowest first.
// A batch holds its place in the max_in_flight window until the cursor has moved past it, so at any moment at most
// max_in_flight batches are past the cursor, which is exactly what a crash can resend.
import type { Logger } from 'pino';
import { PlantgateError } from '../errors.js';
import type { DeadLetter, Journal, JournalEntry } from '../journal/types.js';
import type { CanonicalRecord } from '../model/records.js';
import { linkedSignal } from './abort.js';
import { Backoff, MAX_TIMER_MS, retryDelay } from './backoff.js';
import type { Batch, Sink, SinkHealth, SinkState, WriteOutcome } from './types.js';

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

/** The parts of a sink's configuration the forwarder uses: the fields every sink kind has (config.ts). */
export interface ForwarderSinkConfig {
  id: string;
  batch: { max_records: number; max_bytes: number; max_wait: number };
  max_in_flight: number;
  retry: { initial: number; max: number; probe_interval?: number | undefined };
}

export interface ForwarderOptions {
  journal: Journal;
  sink: Sink;
  gatewayId: string;
  site: string;
  sinkConfig: ForwarderSinkConfig;
  /** Where the sink sends, already masked (its kind's `describe()`), for the start log line. */
  target?: string;
  /** pino child {component:'sink', id}. */
  log: Logger;
  metrics?: ForwarderMetrics;
  /** For tests: the backoff's random source. */
  random?: () => number;
  /** Consecutive failed attempts after which the state is `failing` rather than `retrying` (default 5). */
  failingAfter?: number;
  /** For tests: how often the backlog is sampled and over how long a growth must last (default 5 s and 60 s). */
  growth?: { sampleMs: number; windowMs: number };
}

interface Slot {
  batch: Batch;
  count: number;
  /** Cut because the journal had no more yet (max_wait): its boundaries are persisted before it is sent. */
  partial: boolean;
  /** `waiting`: failed retryably, waiting for its turn at the sink's retry gate. */
  state: 'sending' | 'waiting' | 'acked' | 'dead' | 'aborted';
  outcome?: WriteOutcome;
  done?: Promise<void>;
}

interface InflightState {
  ranges: Array<[number, number]>;
}

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

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    // Node fires a timer of more than 2^31-1 ms after 1 ms: never hand it one.
    const t = setTimeout(done, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
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
  readonly #metrics: ForwarderMetrics | undefined;
  readonly #random: (() => number) | undefined;
  readonly #failingAfter: number;
  readonly #idPrefix: string;
  readonly #stateKey: string;

  #started = false;
  #stopped = true;
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
  /** Slots waiting at the retry gate while the sink fails; the lowest goes first. */
  #waiters: Array<{ slot: Slot; go: () => void }> = [];
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDueAt = 0;
  /** The retry timer fired while no slot was waiting: the next slot to reach the gate goes as the probe. */
  #probeFree = false;
  #lastClampLog = 0;
  #clampsUnlogged = 0;
  #configProblem: { error: string; since: number } | undefined;
  #pastError: { error: string; at: number; resolved_at: number } | undefined;
  readonly #growthSampleMs: number;
  readonly #growthWindowMs: number;
  #growthTimer: NodeJS.Timeout | undefined;
  #growthSamples: Array<{ t: number; backlog: number; delivered: number; failing: boolean }> = [];
  /** Seq after which the next batch is cut. */
  #next = 0;
  /** Boundaries of partial batches from before a restart, to be resent exactly. */
  #restartRanges: Array<[number, number]> = [];
  #commitChain: Promise<void> = Promise.resolve();
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

  constructor(opts: ForwarderOptions) {
    this.#journal = opts.journal;
    this.#sink = opts.sink;
    this.#cfg = opts.sinkConfig;
    this.#target = opts.target;
    this.#log = opts.log;
    this.#metrics = opts.metrics;
    this.#random = opts.random;
    this.#failingAfter = opts.failingAfter ?? 5;
    this.#growthSampleMs = opts.growth?.sampleMs ?? 5000;
    this.#growthWindowMs = opts.growth?.windowMs ?? 60_000;
    this.#idPrefix = `${opts.gatewayId}:${opts.sinkConfig.id}:`;
    this.#stateKey = `fwd:${opts.sinkConfig.id}:inflight`;
    if (opts.sink.id !== opts.sinkConfig.id) {
      throw new PlantgateError(
        'INTERNAL',
        `Sink id ${opts.sink.id} does not match its configuration id ${opts.sinkConfig.id}.`,
      );
    }
  }

  get sinkId(): string {
    return this.#cfg.id;
  }

  /** Starts the sink and the forwarding loop; the journal must be open and the sink registered with setSinks. */
  async start(): Promise<void> {
    if (this.#started) return;
    await this.#sink.start();
    const cursor = this.#journal.cursor(this.#cfg.id);
    const saved = await this.#journal.getState<InflightState>(this.#stateKey);
    this.#restartRanges = (saved?.ranges ?? [])
      .filter(([, last]) => last > cursor)
      .sort((a, b) => a[0] - b[0]);
    this.#next = cursor;
    this.#started = true;
    this.#stopped = false;
    this.#fatal = undefined;
    this.#cutAbort = new AbortController();
    this.#sendAbort = new AbortController();
    this.#growthSamples = [];
    this.#growthTimer = setInterval(() => this.#sampleGrowth(), this.#growthSampleMs);
    this.#growthTimer.unref();
    this.#log.info(
      {
        cursor,
        resend: this.#restartRanges.length,
        ...(this.#target !== undefined ? { target: this.#target } : {}),
      },
      this.#restartRanges.length > 0
        ? `Forwarding started after seq ${cursor}; ${this.#restartRanges.length} batch(es) cut before the restart are resent first with their ids.`
        : `Forwarding started after seq ${cursor}.`,
    );
    this.#loop = this.#run().catch((err: unknown) => {
      this.#fatal = errText(err);
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
    this.#openGate();
    await Promise.all(this.#slots.map((s) => s.done));
    await this.#commitChain;
    if (this.#growthTimer) clearInterval(this.#growthTimer);
    this.#growthTimer = undefined;
    // Whatever was not committed is resent from the journal cursor (and the saved ranges) after the next start.
    this.#slots = [];
    await this.#sink.stop();
    this.#stopped = true;
    this.#log.info({ cursor: this.#journal.cursor(this.#cfg.id) }, 'Forwarding stopped.');
  }

  health(): ForwarderHealth {
    const ledger = this.#journal.stats().sinks[this.#cfg.id];
    const state = this.#state();
    const h: ForwarderHealth = {
      state,
      detail: this.#detail(state),
      backlog: ledger?.queued ?? 0,
      batches_in_flight: this.#slots.filter((s) => s.state === 'sending' || s.state === 'waiting').length,
      consecutive_failures: this.#consecutiveFailures,
      cursor: ledger?.cursor ?? this.#next,
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
    return h;
  }

  /**
   * Re-sends a dead-lettered batch of this sink with its original batch id (one attempt). On 2xx the dead letter
   * is removed and counted delivered. Undefined when no such dead letter exists.
   */
  async replayDeadLetter(batchId: string, signal?: AbortSignal): Promise<WriteOutcome | undefined> {
    // The contract has no lookup by id; dead letters are few (each one an alarm), so a scan is fine.
    const letters = await this.#journal.listDeadLetters(this.#cfg.id, Number.MAX_SAFE_INTEGER);
    const letter = letters.find((l) => l.batch_id === batchId);
    if (!letter) return undefined;
    // A replay on a stopped forwarder (e.g. from the CLI) opens the sink for this one request.
    const ownSink = !this.#started;
    if (ownSink) await this.#sink.start();
    // The sink's own request timeout bounds the attempt; this is the backstop when the caller gives no signal.
    const deadline = linkedSignal(signal ?? new AbortController().signal, 120_000);
    try {
      return await this.#replay(letter, deadline.signal);
    } finally {
      deadline.dispose();
      if (ownSink) await this.#sink.stop();
    }
  }

  async #replay(letter: DeadLetter, signal: AbortSignal): Promise<WriteOutcome> {
    const batchId = letter.batch_id;
    const m = /:(\d+)-(\d+)$/.exec(batchId);
    const batch: Batch = {
      batch_id: letter.batch_id,
      first_seq: m ? Number(m[1]) : 0,
      last_seq: m ? Number(m[2]) : 0,
      records: letter.records,
    };
    const outcome = await this.#sink.write(batch, signal);
    this.#metrics?.attempt(
      this.#cfg.id,
      outcome.ok ? 'ok' : outcome.retryable ? 'retryable' : 'permanent',
      outcome.ok ? outcome.latency_ms : undefined,
    );
    if (outcome.ok) {
      await this.#journal.removeDeadLetter(batchId, 'delivered');
      this.#metrics?.delivered(this.#cfg.id, letter.records.length);
      // The rejection is history now: the alarm and the error stay visible, but as past, with their times.
      const now = Date.now();
      if (this.#lastAlarm?.batch_id === batchId) this.#lastAlarm.resolved_at = now;
      this.#errorIsPast(now);
      this.#log.info(
        { batch_id: batchId, records: letter.records.length },
        'A dead-lettered batch was replayed and delivered.',
      );
    } else {
      this.#log.warn(
        { batch_id: batchId, error: outcome.error },
        'Replaying a dead-lettered batch failed; it stays in dead letters.',
      );
    }
    return outcome;
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
    }
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
    while (!signal.aborted) {
      if (this.#slots.length >= this.#cfg.max_in_flight) {
        await new Promise<void>((resolve) => {
          this.#slotFreed = resolve;
        });
        this.#slotFreed = undefined;
        continue;
      }
      if (this.#fatal !== undefined) return;
      let slot: Slot | undefined;
      try {
        slot = await this.#cut(signal);
        if (slot?.partial) await this.#persistRanges(slot);
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
        this.#lastError = `reading the journal failed: ${errText(err)}`;
        this.#lastErrorAt = Date.now();
        await sleep(readBackoff.next(), signal);
        continue;
      }
      if (!slot) continue;
      if (signal.aborted) return;
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

  /** Reads the next batch after `#next`; undefined when stopping. */
  async #cut(signal: AbortSignal): Promise<Slot | undefined> {
    const { max_records: maxRec, max_bytes: maxBytes } = this.#cfg.batch;
    const start = this.#next;
    const range = this.#restartRanges[0];
    if (range) {
      if (range[0] > start + 1) {
        // Records before the saved partial batch belong to full batches, which re-cut identically; stop at it.
        const before = this.#take(
          await this.#journal.read(this.#cfg.id, start, maxRec, maxBytes),
          maxRec,
          maxBytes,
          range[0],
        );
        if (before.entries.length > 0) return this.#makeSlot(before.entries, false);
      }
      this.#restartRanges.shift();
      const entries: JournalEntry[] = [];
      let after = start;
      // The saved range may hold more than today's limits allow (config changed): read it all, it was sent so.
      for (;;) {
        const got = await this.#journal.read(this.#cfg.id, after, maxRec, maxBytes);
        let past = false;
        for (const e of got) {
          if (e.seq > range[1]) {
            past = true;
            break;
          }
          entries.push(e);
        }
        if (past || got.length === 0) break;
        after = (got.at(-1) as JournalEntry).seq;
      }
      this.#next = range[1];
      return this.#slotFor(entries, range[0], range[1], true);
    }

    // waitFor with the sink id wakes only for records this sink selects, so skipped records cause no spinning.
    let taken = this.#take(await this.#journal.read(this.#cfg.id, start, maxRec, maxBytes), maxRec, maxBytes);
    while (taken.entries.length === 0) {
      if (signal.aborted) return undefined;
      await this.#journal.waitFor(start, signal, this.#cfg.id).catch(() => undefined);
      if (signal.aborted) return undefined;
      taken = this.#take(await this.#journal.read(this.#cfg.id, start, maxRec, maxBytes), maxRec, maxBytes);
    }
    const entries = taken.entries;
    let bytes = taken.bytes;
    let full = taken.full;
    if (!full) {
      // A batch that is not full waits up to max_wait for more records; once sent it is never re-cut.
      const deadline = Date.now() + this.#cfg.batch.max_wait;
      while (!full && !signal.aborted) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        const last = (entries.at(-1) as JournalEntry).seq;
        const wait = linkedSignal(signal, left);
        try {
          await this.#journal.waitFor(last, wait.signal, this.#cfg.id);
        } catch {
          // An aborted wait is not an error here: the deadline or the stop is checked below.
        } finally {
          wait.dispose();
        }
        if (signal.aborted) return undefined;
        const more = await this.#journal.read(this.#cfg.id, last, maxRec - entries.length, maxBytes);
        for (const e of more) {
          if (bytes + e.bytes > maxBytes) {
            full = true;
            break;
          }
          entries.push(e);
          bytes += e.bytes;
          if (entries.length >= maxRec) {
            full = true;
            break;
          }
        }
      }
      if (signal.aborted) return undefined;
    }
    return this.#makeSlot(entries, !full);
  }

  /** The batch rule: the first entries up to max_records whose stored bytes add up to at most max_bytes (at least one). */
  #take(got: JournalEntry[], maxRec: number, maxBytes: number, beforeSeq = Number.POSITIVE_INFINITY) {
    const entries: JournalEntry[] = [];
    let bytes = 0;
    let full = false;
    for (const e of got) {
      if (e.seq >= beforeSeq) {
        full = true;
        break;
      }
      if (entries.length > 0 && bytes + e.bytes > maxBytes) {
        full = true;
        break;
      }
      entries.push(e);
      bytes += e.bytes;
      if (entries.length >= maxRec) {
        full = true;
        break;
      }
    }
    return { entries, bytes, full };
  }

  #makeSlot(entries: JournalEntry[], partial: boolean): Slot {
    const first = (entries[0] as JournalEntry).seq;
    const last = (entries.at(-1) as JournalEntry).seq;
    this.#next = last;
    return this.#slotFor(entries, first, last, partial);
  }

  #slotFor(entries: JournalEntry[], first: number, last: number, partial: boolean): Slot {
    const batch: Batch = {
      batch_id: `${this.#idPrefix}${first}-${last}`,
      first_seq: first,
      last_seq: last,
      records: [],
    };
    if (entries.length > 0 && entries.every((e) => e.json !== undefined)) {
      // The stored JSON goes on the wire as is; records are parsed only if the batch becomes a dead letter.
      batch.records_json = entries.map((e) => e.json as string);
      let parsed: CanonicalRecord[] | undefined;
      Object.defineProperty(batch, 'records', {
        enumerable: true,
        configurable: true,
        get: () => {
          parsed ??= entries.map((e) => e.record);
          return parsed;
        },
      });
    } else {
      batch.records = entries.map((e) => e.record);
    }
    return { batch, count: entries.length, partial, state: 'sending' };
  }

  /** Saves the boundaries of uncommitted partial batches, so a restart resends them exactly (same ids). */
  async #persistRanges(slot: Slot): Promise<void> {
    const cursor = this.#journal.cursor(this.#cfg.id);
    const ranges: Array<[number, number]> = [];
    for (const s of this.#slots) {
      if (s.partial && s.batch.last_seq > cursor) ranges.push([s.batch.first_seq, s.batch.last_seq]);
    }
    for (const r of this.#restartRanges) ranges.push(r);
    ranges.push([slot.batch.first_seq, slot.batch.last_seq]);
    await this.#journal.putState(this.#stateKey, { ranges } satisfies InflightState);
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
        if (this.#consecutiveFailures > 0) {
          // The sink is failing: wait for this batch's turn as the probe, or for a success that ends the outage.
          slot.state = 'waiting';
          await this.#turn(slot);
          if (signal.aborted) {
            slot.state = 'aborted';
            return;
          }
          slot.state = 'sending';
        }
        let outcome: WriteOutcome;
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
        if (outcome.ok) {
          slot.state = 'acked';
          this.#onSuccess(outcome.latency_ms);
          return;
        }
        this.#onFailure(slot, outcome);
        if (!outcome.retryable) {
          slot.state = 'dead';
          return;
        }
        this.#retries += 1;
        this.#scheduleRetry(outcome.retry_after_ms);
      }
    } finally {
      if (slot.state === 'acked') {
        // Records are no longer needed once the receiver has them; only seq and count wait for the commit.
        const b = slot.batch;
        slot.batch = { batch_id: b.batch_id, first_seq: b.first_seq, last_seq: b.last_seq, records: [] };
      }
      // The slot keeps its place in the window until the commit: acknowledged batches past a failing lower one
      // must not pile up, since a crash resends every batch past the cursor.
      this.#scheduleCommit();
    }
  }

  /** Resolves when `slot` may send: it was chosen as the probe, the outage ended, or the forwarder stops. */
  #turn(slot: Slot): Promise<void> {
    if (this.#sendAbort.signal.aborted) return Promise.resolve();
    if (this.#probeFree) {
      this.#probeFree = false;
      return Promise.resolve();
    }
    // No retry planned and nothing in flight whose answer would plan one: this batch is the probe (never deadlock).
    if (this.#retryTimer === undefined && !this.#slots.some((s) => s !== slot && s.state === 'sending')) {
      return Promise.resolve();
    }
    return new Promise<void>((go) => {
      this.#waiters.push({ slot, go });
    });
  }

  /** Plans the next probe after a retryable failure; a later Retry-After pushes an already planned one back. */
  #scheduleRetry(retryAfterMs: number | undefined): void {
    if (this.#consecutiveFailures === 0) return; // a success came in meanwhile: nothing to wait for
    const r = this.#cfg.retry;
    if (retryAfterMs !== undefined && retryAfterMs > r.max) this.#noteClamp(retryAfterMs);
    const delay = retryDelay(
      this.#consecutiveFailures,
      { initialMs: r.initial, maxMs: r.max, probeMs: r.probe_interval ?? Math.min(1000, r.max) },
      retryAfterMs,
      this.#random,
    );
    const due = Date.now() + delay;
    if (this.#retryTimer !== undefined) {
      if (retryAfterMs === undefined || due <= this.#retryDueAt) return;
      clearTimeout(this.#retryTimer);
    }
    this.#probeFree = false;
    this.#retryDueAt = due;
    this.#retryTimer = setTimeout(() => this.#probe(), delay);
  }

  /** The retry timer fired: the lowest waiting batch goes (the cursor can only move past the lowest). */
  #probe(): void {
    this.#retryTimer = undefined;
    if (this.#waiters.length === 0) {
      this.#probeFree = true;
      return;
    }
    let at = 0;
    for (let i = 1; i < this.#waiters.length; i++) {
      if (
        (this.#waiters[i] as { slot: Slot }).slot.batch.first_seq <
        (this.#waiters[at] as { slot: Slot }).slot.batch.first_seq
      )
        at = i;
    }
    const [w] = this.#waiters.splice(at, 1);
    w?.go();
  }

  /** Lets every waiting batch go, lowest first (a success, or the stop). */
  #openGate(): void {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#probeFree = false;
    const all = this.#waiters.splice(0).sort((a, b) => a.slot.batch.first_seq - b.slot.batch.first_seq);
    for (const w of all) w.go();
  }

  #noteClamp(retryAfterMs: number): void {
    this.#metrics?.retryAfterClamped?.(this.#cfg.id);
    const now = Date.now();
    if (now - this.#lastClampLog < CLAMP_LOG_INTERVAL_MS) {
      this.#clampsUnlogged += 1;
      return;
    }
    const max = this.#cfg.retry.max;
    this.#log.warn(
      {
        retry_after_ms: retryAfterMs,
        retry_max_ms: max,
        ...(this.#clampsUnlogged > 0 ? { more_clamped_since_last_log: this.#clampsUnlogged } : {}),
      },
      `The receiver asked to wait ${Math.round(retryAfterMs / 1000)} s (Retry-After); waiting retry.max = ${Math.round(max / 1000)} s instead.`,
    );
    this.#lastClampLog = now;
    this.#clampsUnlogged = 0;
  }

  /** The current error becomes history (kept with its time and when it ended). */
  #errorIsPast(now: number): void {
    if (this.#lastError === undefined) return;
    this.#pastError = { error: this.#lastError, at: this.#lastErrorAt ?? now, resolved_at: now };
    this.#lastError = undefined;
    this.#lastErrorAt = undefined;
  }

  #freeSlot(): void {
    this.#slotFreed?.();
  }

  #onSuccess(latencyMs: number): void {
    this.#metrics?.attempt(this.#cfg.id, 'ok', latencyMs);
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
    // A success is evidence that the receiver is back: nobody waits out a backoff any longer.
    this.#openGate();
  }

  #onFailure(slot: Slot, outcome: Extract<WriteOutcome, { ok: false }>): void {
    this.#lastError = outcome.error;
    this.#lastErrorAt = Date.now();
    if (!outcome.retryable) {
      this.#metrics?.attempt(this.#cfg.id, 'permanent');
      this.#rejectedInARow += 1;
      // The receiver answered: it is reachable, the batch is the problem. Batches waiting for it go now.
      if (this.#consecutiveFailures > 0) {
        this.#consecutiveFailures = 0;
        this.#openGate();
      }
      return;
    }
    this.#metrics?.attempt(this.#cfg.id, 'retryable');
    this.#consecutiveFailures += 1;
    if (outcome.problem === 'redirect' && this.#configProblem === undefined) {
      // Once per episode: the alarm names the Location; the batches stay queued, none is dead-lettered.
      this.#configProblem = { error: outcome.error, since: this.#lastErrorAt };
      this.#metrics?.alarm(this.#cfg.id, 'redirect');
      this.#log.error(
        { batch_id: slot.batch.batch_id, status: outcome.status, error: outcome.error },
        'The receiver redirects batches elsewhere; redirects are not followed. Fix the sink url; batches wait in the journal meanwhile.',
      );
    } else if (this.#consecutiveFailures === 1) {
      this.#log.warn(
        { batch_id: slot.batch.batch_id, status: outcome.status, error: outcome.error },
        'Sending a batch failed; retrying the oldest batch alone until the sink accepts it.',
      );
    } else if (this.#consecutiveFailures >= this.#failingAfter && !this.#wasFailing) {
      this.#wasFailing = true;
      this.#log.error(
        { failures: this.#consecutiveFailures, error: outcome.error },
        `The sink has failed ${this.#consecutiveFailures} attempts in a row; records stay in the journal and retries continue.`,
      );
    }
  }

  // ---- slow receivers ----------------------------------------------------------------------------------------

  #sampleGrowth(): void {
    const ledger = this.#journal.stats().sinks[this.#cfg.id];
    const horizon = this.#growthWindowMs + this.#growthSampleMs;
    const now = Date.now();
    this.#growthSamples.push({
      t: now,
      backlog: ledger?.queued ?? 0,
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

  // ---- committing ------------------------------------------------------------------------------------------

  #scheduleCommit(): void {
    this.#commitChain = this.#commitChain
      .then(() => this.#commit())
      .catch((err: unknown) => {
        this.#fatal = `committing to the journal failed: ${errText(err)}`;
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
        await this.#journal.ack(this.#cfg.id, last, records);
        const done = this.#slots.splice(0, n);
        const sent = done.filter((s) => s.count > 0).length;
        this.#deliveredBatches += sent;
        this.#deliveredRecords += records;
        this.#lastAckAt = Date.now();
        this.#metrics?.delivered(this.#cfg.id, records);
        this.#freeSlot();
      } else if (head.state === 'dead') {
        const outcome = head.outcome as Extract<WriteOutcome, { ok: false }>;
        const at = Date.now();
        await this.#journal.deadLetter(
          {
            batch_id: head.batch.batch_id,
            sink: this.#cfg.id,
            at,
            ...(outcome.status !== undefined ? { status: outcome.status } : {}),
            error: outcome.error,
            records: head.batch.records,
          },
          head.batch.last_seq,
        );
        this.#slots.shift();
        this.#deadBatches += 1;
        this.#deadRecords += head.count;
        this.#lastAlarm = { at, batch_id: head.batch.batch_id, records: head.count, error: outcome.error };
        if (outcome.status !== undefined) this.#lastAlarm.status = outcome.status;
        this.#metrics?.deadLettered(this.#cfg.id, head.count);
        this.#metrics?.alarm(this.#cfg.id, 'dead_letter');
        // Every dead letter is an alarm (counter, health), but a receiver rejecting everything must not flood the log.
        if (at - this.#lastDeadLog >= DEAD_LOG_INTERVAL_MS) {
          this.#log.error(
            {
              batch_id: head.batch.batch_id,
              records: head.count,
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
        this.#freeSlot();
      } else {
        return;
      }
    }
  }
}
