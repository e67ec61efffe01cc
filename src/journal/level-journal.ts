// The store-and-forward journal on LevelDB (classic-level): group-committed synced appends, per-sink cursors and
// ledgers persisted atomically with the changes that move them, range deletion behind the slowest cursor, bounds
// with drop_oldest or block, quarantine, dead letters and small derived-event state, all in one store.
// This class is the Journal API: it checks a call, queues it for the commit loop (commit.ts) or reads the store.
// Its parts: layout.ts (keys, values, counting scans), store-files.ts (modes, damage, owner, lock error), load.ts
// (open), ledger.ts (cursors, deletion and drop passes), appends.ts, quarantine.ts, dead-letters.ts,
// side-stores.ts (their bounds, state), reader.ts; core.ts holds the state they share, queue.ts the requests.
import { type Logger, pino } from 'pino';
import { PlantgateError } from '../kit/errors.js';
import type { CanonicalRecord } from '../model/records.js';
import { settleAppend } from './appends.js';
import { enqueue, kick } from './commit.js';
import { JournalCore, type LevelJournalOptions, type Waiter } from './core.js';
import { getDeadLetter, listDeadLetters, pageDeadLetters } from './dead-letters.js';
import { countLive, HEADER_LEN, KEY_LEN, MAX_SINKS, storedBytes } from './layout.js';
import { openJournalStore } from './load.js';
import { getQuarantine, listQuarantine, pageQuarantine } from './quarantine.js';
import type { PendingAppend } from './queue.js';
import { readSink, readTail } from './reader.js';
import { latestReceipts, receiptForSeq } from './receipts.js';
import { getState, keptAgeCheckDue, keptStats, stageState } from './side-stores.js';
import { errText, holdPrivateUmask, releasePrivateUmask, removeOwner } from './store-files.js';
import type {
  CommitExtras,
  DeadLetter,
  Journal,
  JournalEntry,
  JournalStats,
  Page,
  QuarantineEntry,
  Receipt,
  SinkSelector,
} from './types.js';

export type { LevelJournalOptions } from './core.js';
export { JournalInUseError } from './store-files.js';

export class LevelJournal implements Journal {
  readonly #core: JournalCore;
  #sinksSet = false;
  #closing: Promise<void> | undefined;
  #umaskHeld = false;
  #ageTimer: NodeJS.Timeout | undefined;
  #keptTimer: NodeJS.Timeout | undefined;

  constructor(opts: LevelJournalOptions) {
    const log: Logger = opts.log ?? pino({ level: 'silent' });
    // A caller may already hand over the journal's child; binding `component` twice would print it twice.
    this.#core = new JournalCore(
      opts,
      log.bindings().component === 'journal' ? log : log.child({ component: 'journal' }),
    );
  }

  // ---- lifecycle ------------------------------------------------------------------------------------------------

  async open(): Promise<void> {
    const c = this.#core;
    if (c.opened) return;
    if (c.closed)
      throw new PlantgateError('JOURNAL_CLOSED', 'The journal was closed and cannot be reopened.');
    if (!this.#umaskHeld) {
      holdPrivateUmask();
      this.#umaskHeld = true;
    }
    try {
      await openJournalStore(c);
    } catch (err) {
      this.#releaseUmask();
      throw err;
    }
    c.opened = true;
    if (c.opts.maxAgeMs !== undefined && c.opts.maxAgeMs > 0) {
      const period = Math.max(50, Math.min(1000, Math.floor(c.opts.maxAgeMs / 10)));
      this.#ageTimer = setInterval(() => this.#checkAge(), period);
      this.#ageTimer.unref();
    }
    const keptAges = [c.qBound.maxAgeMs ?? 0, c.dlBound.maxAgeMs ?? 0].filter((a) => a > 0);
    if (keptAges.length > 0) {
      const period = Math.max(50, Math.min(60_000, Math.floor(Math.min(...keptAges) / 10)));
      this.#keptTimer = setInterval(() => this.#checkKeptAge(), period);
      this.#keptTimer.unref();
    }
    c.log.info(
      { dir: c.opts.dir, records: c.meta.records, bytes: c.meta.bytes, last_seq: c.meta.last_seq },
      'Journal opened.',
    );
  }

  #releaseUmask(): void {
    if (!this.#umaskHeld) return;
    this.#umaskHeld = false;
    releasePrivateUmask();
  }

  async close(): Promise<void> {
    if (this.#closing) return this.#closing;
    const c = this.#core;
    c.closed = true;
    this.#closing = (async () => {
      if (this.#ageTimer) clearInterval(this.#ageTimer);
      if (this.#keptTimer) clearInterval(this.#keptTimer);
      // Flush everything that can be flushed; appends that wait for space cannot, and are told so.
      while (c.loop) await c.loop;
      const closedErr = () =>
        new PlantgateError('JOURNAL_CLOSED', 'The journal was closed before this append fit.');
      for (const a of c.queue.take('append')) settleAppend(a, closedErr());
      for (const w of c.waiters) {
        w.cleanup();
        w.resolve();
      }
      c.waiters.clear();
      await c.clearChain;
      if (c.compaction) await c.compaction;
      if (c.db) {
        removeOwner(c.opts.dir);
        await c.db.close();
      }
      this.#releaseUmask();
      if (c.opened) c.log.info({ last_seq: c.meta.last_seq, records: c.meta.records }, 'Journal closed.');
    })();
    return this.#closing;
  }

  // ---- public operations ----------------------------------------------------------------------------------------

  async setSinks(sinks: readonly SinkSelector[]): Promise<void> {
    const c = this.#core;
    c.assertOpen();
    const ids = new Set<string>();
    for (const s of sinks) {
      if (ids.has(s.id)) throw new PlantgateError('CONFIG_INVALID', `Sink "${s.id}" is registered twice.`);
      ids.add(s.id);
    }
    if (ids.size > MAX_SINKS) {
      throw new PlantgateError(
        'CONFIG_INVALID',
        `The journal supports at most ${MAX_SINKS} sinks; ${ids.size} given.`,
      );
    }
    this.#sinksSet = true;
    return new Promise((resolve, reject) =>
      enqueue(c, { kind: 'sinks', sinks: [...sinks], resolve, reject }),
    );
  }

  append(records: readonly CanonicalRecord[], signal?: AbortSignal): Promise<void> {
    const c = this.#core;
    if (c.closed || !c.opened) return Promise.reject(c.closedError());
    if (!this.#sinksSet) {
      return Promise.reject(new PlantgateError('INTERNAL', 'Journal.append() was called before setSinks().'));
    }
    if (records.length === 0) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortedError());
    const values: string[] = new Array(records.length);
    let bytes = 0;
    try {
      for (let i = 0; i < records.length; i++) {
        const json = JSON.stringify(records[i]);
        values[i] = json;
        bytes += KEY_LEN + HEADER_LEN + Buffer.byteLength(json);
      }
    } catch (err) {
      // Canonical records are plain JSON; anything else is a bug upstream, reported to the caller, not thrown.
      return Promise.reject(
        new PlantgateError('INTERNAL', `A record is not JSON: ${errText(err)}.`, { cause: err }),
      );
    }
    if (bytes > c.opts.maxBytes) {
      return Promise.reject(
        new PlantgateError(
          'JOURNAL_FULL',
          `An append of ${records.length} records (${bytes} bytes) is larger than the whole journal (max_bytes ${c.opts.maxBytes}).`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const a: PendingAppend = {
        kind: 'append',
        records,
        values,
        bytes,
        resolve,
        reject,
        signal,
        unwatch: undefined,
      };
      if (signal) {
        const abort = () => {
          const i = c.queue.appends.indexOf(a);
          // Once taken into a commit an append cannot be withdrawn; it resolves with that commit.
          if (i < 0) return;
          c.queue.appends.splice(i, 1);
          settleAppend(a, abortedError());
          if (i === 0) {
            c.stalled = false;
            kick(c);
          }
        };
        // Settling the append (or taking it into a commit) detaches it from the signal.
        a.unwatch = c.abortFanout.watch(signal, abort);
      }
      enqueue(c, a);
    });
  }

  read(sinkId: string, afterSeq: number, maxRecords: number, maxBytes: number): Promise<JournalEntry[]> {
    return readSink(this.#core, sinkId, afterSeq, maxRecords, maxBytes);
  }

  waitFor(afterSeq: number, signal: AbortSignal, sinkId?: string): Promise<void> {
    const c = this.#core;
    if (c.waitSatisfied(afterSeq, sinkId) || signal.aborted || c.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => {
        c.waiters.delete(w);
        resolve();
      };
      const w: Waiter = {
        after: afterSeq,
        sink: sinkId,
        resolve,
        cleanup: () => unwatch(),
      };
      const unwatch = c.abortFanout.watch(signal, onAbort);
      c.waiters.add(w);
    });
  }

  ack(sinkId: string, seq: number, delivered: number, extras?: CommitExtras): Promise<void> {
    const c = this.#core;
    if (c.closed || !c.opened) return Promise.reject(c.closedError());
    const staged = stageState(c, extras?.state);
    if (staged) return staged;
    const receipts = extras?.receipts;
    return new Promise((resolve, reject) =>
      enqueue(c, {
        kind: 'ack',
        sink: sinkId,
        seq,
        delivered,
        ...(receipts ? { receipts } : {}),
        resolve,
        reject,
      }),
    );
  }

  cursor(sinkId: string): number {
    return this.#core.sink(sinkId).doc.cursor;
  }

  deadLetter(letter: DeadLetter, lastSeq: number, extras?: CommitExtras): Promise<void> {
    const c = this.#core;
    if (c.closed || !c.opened) return Promise.reject(c.closedError());
    const staged = stageState(c, extras?.state);
    if (staged) return staged;
    const receipts = extras?.receipts;
    return new Promise((resolve, reject) =>
      enqueue(c, { kind: 'deadLetter', letter, lastSeq, ...(receipts ? { receipts } : {}), resolve, reject }),
    );
  }

  listDeadLetters(sinkId?: string, limit = 100): Promise<DeadLetter[]> {
    return listDeadLetters(this.#core, sinkId, limit);
  }

  pageDeadLetters(opts: { after?: string; limit: number; sink?: string }): Promise<Page<DeadLetter, string>> {
    return pageDeadLetters(this.#core, opts);
  }

  getDeadLetter(batchId: string): Promise<DeadLetter | undefined> {
    return getDeadLetter(this.#core, batchId);
  }

  async *exportDeadLetters(opts: { sink?: string; pageSize?: number } = {}): AsyncGenerator<DeadLetter> {
    let after: string | undefined;
    for (;;) {
      const page = await this.pageDeadLetters({ after, limit: opts.pageSize ?? 100, sink: opts.sink });
      yield* page.items;
      if (page.next === undefined) return;
      after = page.next;
    }
  }

  removeDeadLetter(
    batchId: string,
    outcome: 'delivered' | 'purged',
    extras?: CommitExtras,
  ): Promise<DeadLetter | undefined> {
    const c = this.#core;
    if (c.closed || !c.opened) return Promise.reject(c.closedError());
    const staged = stageState(c, extras?.state);
    if (staged) return staged;
    const receipts = extras?.receipts;
    return new Promise((resolve, reject) =>
      enqueue(c, { kind: 'dlRemoval', batchId, outcome, ...(receipts ? { receipts } : {}), resolve, reject }),
    );
  }

  async receipts(sinkId: string, query: { seq: number } | { latest: number }): Promise<Receipt[]> {
    const c = this.#core;
    if (c.closed || !c.opened) throw c.closedError();
    if ('seq' in query) {
      const r = await receiptForSeq(c, sinkId, query.seq);
      return r ? [r] : [];
    }
    return latestReceipts(c, sinkId, query.latest);
  }

  quarantine(entries: ReadonlyArray<Omit<QuarantineEntry, 'id'>>): Promise<void> {
    const c = this.#core;
    if (c.closed || !c.opened) return Promise.reject(c.closedError());
    if (entries.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => enqueue(c, { kind: 'quarantine', entries, resolve, reject }));
  }

  listQuarantine(
    opts: { reason?: string; afterId?: number; limit?: number } = {},
  ): Promise<QuarantineEntry[]> {
    return listQuarantine(this.#core, opts);
  }

  pageQuarantine(opts: {
    after?: number;
    limit: number;
    reason?: string;
  }): Promise<Page<QuarantineEntry, number>> {
    return pageQuarantine(this.#core, opts);
  }

  async *exportQuarantine(
    opts: { reason?: string; pageSize?: number } = {},
  ): AsyncGenerator<QuarantineEntry> {
    let after: number | undefined;
    for (;;) {
      const page = await this.pageQuarantine({ after, limit: opts.pageSize ?? 100, reason: opts.reason });
      yield* page.items;
      if (page.next === undefined) return;
      after = page.next;
    }
  }

  getQuarantine(id: number): Promise<QuarantineEntry | undefined> {
    return getQuarantine(this.#core, id);
  }

  removeQuarantine(ids: readonly number[], outcome: 'replayed' | 'purged'): Promise<number> {
    const c = this.#core;
    if (c.closed || !c.opened) return Promise.reject(c.closedError());
    if (ids.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => enqueue(c, { kind: 'qRemoval', ids, outcome, resolve, reject }));
  }

  getState<T>(key: string): Promise<T | undefined> {
    return getState<T>(this.#core, key);
  }

  putState(key: string, value: unknown): Promise<void> {
    const c = this.#core;
    if (c.closed || !c.opened) return Promise.reject(c.closedError());
    const json = JSON.stringify(value);
    if (json === undefined)
      return Promise.reject(new PlantgateError('INTERNAL', `State "${key}" is not JSON.`));
    c.states.set(key, json);
    return new Promise((resolve, reject) => enqueue(c, { kind: 'state', resolve, reject }));
  }

  stats(): JournalStats {
    const c = this.#core;
    const m = c.meta;
    const sinks: JournalStats['sinks'] = {};
    for (const rt of c.sinks.values()) {
      const d = rt.doc;
      const mark = d.queued > 0 ? rt.reads.find((r) => r.after === d.cursor) : undefined;
      sinks[rt.id] = {
        ingested: d.ingested,
        delivered: d.delivered,
        queued: d.queued,
        dead_lettered: d.dead_lettered,
        dropped: { ...d.dropped },
        cursor: d.cursor,
        ...(mark ? { oldest_unacked_at: mark.firstAt } : {}),
      };
    }
    return {
      records: m.records,
      bytes: m.bytes,
      first_seq: m.records > 0 ? (c.first?.seq ?? 0) : 0,
      last_seq: m.last_seq,
      ...(m.records > 0 && c.first ? { oldest_ts: c.first.at } : {}),
      appended: m.appended,
      sinks,
      quarantine: {
        total: m.q_total,
        by_reason: { ...m.q_by_reason },
        held: m.q_held,
        held_by_reason: { ...m.q_held_by_reason },
        replayed: m.q_replayed,
        purged: m.q_purged,
        ...keptStats(c, 'quarantine'),
      },
      dead_letters: {
        batches: m.dl_batches,
        records: m.dl_records,
        dropped_records: m.dl_dropped_records,
        ...keptStats(c, 'dead_letters'),
      },
      blocked: c.blocked,
      ...(c.damaged ? { damaged: { ...c.damaged } } : {}),
      ...(c.writeError ? { write_error: { ...c.writeError } } : {}),
    };
  }

  /**
   * Recounts the records and bytes in the store and compares them with the counters (slow: scans the whole
   * journal). For tests and an operator's consistency check.
   */
  async check(): Promise<{
    records: number;
    bytes: number;
    counted_records: number;
    counted_bytes: number;
    quarantine_bytes: number;
    counted_quarantine_bytes: number;
    dead_letter_bytes: number;
    counted_dead_letter_bytes: number;
  }> {
    const c = this.#core;
    const db = c.openDb();
    // Wait for the commit loop so the counters and the store describe the same moment.
    while (c.loop) await c.loop;
    const m = c.meta;
    const live = await countLive(db, m);
    const qBytes = await storedBytes(db, 'q!', 'q"');
    const dlBytes = await storedBytes(db, 'd!', 'd"');
    return {
      records: m.records,
      bytes: m.bytes,
      counted_records: live.records,
      counted_bytes: live.bytes,
      quarantine_bytes: m.q_bytes,
      counted_quarantine_bytes: qBytes,
      dead_letter_bytes: m.dl_bytes,
      counted_dead_letter_bytes: dlBytes,
    };
  }

  /** Internal counters for benchmarks and tests: commits, records per commit, deletion and drop passes. */
  diagnostics(): {
    commits: number;
    committed_records: number;
    avg_commit_records: number;
    deletion_passes: number;
    drop_passes: number;
    compactions: number;
  } {
    const k = this.#core.counters;
    return { ...k, avg_commit_records: k.commits > 0 ? k.committed_records / k.commits : 0 };
  }

  /**
   * Read-only: the last `limit` records still in the journal (any sink, dropped readings skipped), oldest first.
   * The ingest path recovers the ids of the most recent appends from it at start (DuplicateFilter in ingest.ts).
   */
  readTail(limit: number): Promise<JournalEntry[]> {
    return readTail(this.#core, limit);
  }

  // ---- timers -----------------------------------------------------------------------------------------------------

  #checkAge(): void {
    const c = this.#core;
    const maxAge = c.opts.maxAgeMs;
    if (maxAge === undefined || c.closed) return;
    if (c.ageNextAt !== undefined && Date.now() >= c.ageNextAt) {
      c.ageDue = true;
      c.stalled = false;
      kick(c);
    }
  }

  #checkKeptAge(): void {
    const c = this.#core;
    if (c.closed) return;
    if (keptAgeCheckDue(c, Date.now())) {
      c.keptAgeDue = true;
      kick(c);
    }
  }
}

function abortedError(): PlantgateError {
  return new PlantgateError('ABORTED', 'The append was aborted while it waited for room in the journal.');
}
