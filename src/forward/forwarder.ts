// One forwarder per sink: cuts batches deterministically from the journal after the sink's cursor, sends up to
// `max_in_flight` of them concurrently, retries retryable failures forever with backoff, dead-letters permanent
// rejections, and moves the cursor strictly in order, so nothing is skipped and a crash only ever resends.
import type { Logger } from 'pino';
import { PlantgateError } from '../errors.js';
import type { DeadLetter, Journal, JournalEntry } from '../journal/types.js';
import type { CanonicalRecord } from '../model/records.js';
import { linkedSignal } from './abort.js';
import { Backoff } from './backoff.js';
import type { Batch, Sink, WriteOutcome } from './types.js';

export type ForwarderState = 'connected' | 'retrying' | 'failing' | 'stopped';

export interface ForwarderAlarm {
  at: number;
  batch_id: string;
  records: number;
  status?: number;
  error: string;
}

export interface ForwarderHealth {
  state: ForwarderState;
  /** The state in words for /status. */
  detail: string;
  /** Selected records after the cursor still in the journal (the journal ledger's `queued`). */
  backlog: number;
  oldest_unacked_age_ms?: number;
  last_ack_at?: number;
  last_error?: string;
  last_error_at?: number;
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
  /** The last permanent rejection (batch dead-lettered). */
  last_alarm?: ForwarderAlarm;
}

/** Hooks for metrics; `createForwarderMetrics` in metrics.ts builds them on a prom-client registry. */
export interface ForwarderMetrics {
  attempt(sinkId: string, outcome: 'ok' | 'retryable' | 'permanent', latencyMs?: number): void;
  delivered(sinkId: string, records: number): void;
  deadLettered(sinkId: string, records: number): void;
  alarm(sinkId: string, reason: string): void;
}

/** The parts of a sink's configuration the forwarder uses (an `HttpSinkConfig` fits). */
export interface ForwarderSinkConfig {
  id: string;
  batch: { max_records: number; max_bytes: number; max_wait: number };
  max_in_flight: number;
  retry: { initial: number; max: number };
}

export interface ForwarderOptions {
  journal: Journal;
  sink: Sink;
  gatewayId: string;
  site: string;
  sinkConfig: ForwarderSinkConfig;
  /** pino child {component:'sink', id}. */
  log: Logger;
  metrics?: ForwarderMetrics;
  /** For tests: the backoff's random source. */
  random?: () => number;
  /** Consecutive failed attempts after which the state is `failing` rather than `retrying` (default 5). */
  failingAfter?: number;
}

interface Slot {
  batch: Batch;
  count: number;
  /** Cut because the journal had no more yet (max_wait): its boundaries are persisted before it is sent. */
  partial: boolean;
  state: 'sending' | 'acked' | 'dead' | 'aborted';
  outcome?: WriteOutcome;
  done?: Promise<void>;
}

interface InflightState {
  ranges: Array<[number, number]>;
}

const EWMA_ALPHA = 0.2;
const REJECTED_IN_A_ROW_FAILING = 3;
/** At most one dead-letter error line per this interval; the others are counted into the next line. */
const DEAD_LOG_INTERVAL_MS = 10_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
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

  /** Batches cut and not yet committed to the journal, in seq order. */
  #slots: Slot[] = [];
  /** Sent batches still holding records (at most max_in_flight). */
  #sending = 0;
  #slotFreed: (() => void) | undefined;
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
    this.#log = opts.log;
    this.#metrics = opts.metrics;
    this.#random = opts.random;
    this.#failingAfter = opts.failingAfter ?? 5;
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
    this.#log.info(
      { cursor, resend: this.#restartRanges.length },
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
    await Promise.all(this.#slots.map((s) => s.done));
    await this.#commitChain;
    // Whatever was not committed is resent from the journal cursor (and the saved ranges) after the next start.
    this.#slots = [];
    this.#sending = 0;
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
      batches_in_flight: this.#slots.filter((s) => s.state === 'sending').length,
      consecutive_failures: this.#consecutiveFailures,
      cursor: ledger?.cursor ?? this.#next,
      delivered_batches: this.#deliveredBatches,
      delivered_records: this.#deliveredRecords,
      retries: this.#retries,
      dead_lettered_batches: this.#deadBatches,
      dead_lettered_records: this.#deadRecords,
    };
    if (ledger?.oldest_unacked_at !== undefined)
      h.oldest_unacked_age_ms = Math.max(0, Date.now() - ledger.oldest_unacked_at);
    if (this.#lastAckAt !== undefined) h.last_ack_at = this.#lastAckAt;
    if (this.#lastError !== undefined) h.last_error = this.#lastError;
    if (this.#lastErrorAt !== undefined) h.last_error_at = this.#lastErrorAt;
    if (this.#latencyEwma !== undefined) h.latency_ms_ewma = Math.round(this.#latencyEwma * 10) / 10;
    if (this.#lastAlarm !== undefined) h.last_alarm = { ...this.#lastAlarm };
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
    if (this.#consecutiveFailures > 0) return 'retrying';
    return 'connected';
  }

  #detail(state: ForwarderState): string {
    switch (state) {
      case 'stopped':
        return 'forwarding is stopped';
      case 'failing':
        if (this.#fatal !== undefined) return `forwarding stopped on an error: ${this.#fatal}`;
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
      if (this.#sending >= this.#cfg.max_in_flight) {
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
      this.#sending += 1;
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
    const backoff = new Backoff({
      initialMs: this.#cfg.retry.initial,
      maxMs: this.#cfg.retry.max,
      ...(this.#random ? { random: this.#random } : {}),
    });
    try {
      for (;;) {
        if (signal.aborted) {
          slot.state = 'aborted';
          return;
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
          this.#onSuccess(outcome.latency_ms);
          slot.state = 'acked';
          return;
        }
        this.#onFailure(slot, outcome);
        if (!outcome.retryable) {
          slot.state = 'dead';
          return;
        }
        this.#retries += 1;
        await sleep(backoff.next(outcome.retry_after_ms), signal);
      }
    } finally {
      if (slot.state === 'acked') {
        // Records are no longer needed once the receiver has them; only seq and count wait for the commit.
        const b = slot.batch;
        slot.batch = { batch_id: b.batch_id, first_seq: b.first_seq, last_seq: b.last_seq, records: [] };
      }
      // A dead batch keeps its records (and its place in the in-flight bound) until they are stored as a dead letter.
      if (slot.state !== 'dead') this.#freeSlot();
      this.#scheduleCommit();
    }
  }

  #freeSlot(): void {
    this.#sending -= 1;
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
        `The sink accepts batches again after ${this.#consecutiveFailures} failed attempt(s).`,
      );
    }
    this.#consecutiveFailures = 0;
    this.#wasFailing = false;
    this.#rejectedInARow = 0;
  }

  #onFailure(slot: Slot, outcome: Extract<WriteOutcome, { ok: false }>): void {
    this.#lastError = outcome.error;
    this.#lastErrorAt = Date.now();
    if (!outcome.retryable) {
      this.#metrics?.attempt(this.#cfg.id, 'permanent');
      this.#rejectedInARow += 1;
      return;
    }
    this.#metrics?.attempt(this.#cfg.id, 'retryable');
    this.#consecutiveFailures += 1;
    if (this.#consecutiveFailures === 1) {
      this.#log.warn(
        { batch_id: slot.batch.batch_id, status: outcome.status, error: outcome.error },
        'Sending a batch failed; retrying with backoff until the sink accepts it.',
      );
    } else if (this.#consecutiveFailures >= this.#failingAfter && !this.#wasFailing) {
      this.#wasFailing = true;
      this.#log.error(
        { failures: this.#consecutiveFailures, error: outcome.error },
        `The sink has failed ${this.#consecutiveFailures} attempts in a row; records stay in the journal and retries continue.`,
      );
    }
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
