// The internal state one LevelJournal shares with its modules (commit loop, ledger, side stores, reader): the open
// store, the live meta and sink ledgers, the work waiting for the commit loop, and the bookkeeping of bounds and
// failures. Not exported from level-journal.ts: callers see only the Journal API.
import type { Logger } from 'pino';
import { PlantgateError } from '../kit/errors.js';
import { AbortFanout } from './abort-fanout.js';
import { cloneMeta, cloneSink, type Db, type MetaDoc, newMeta, type SinkDoc } from './layout.js';
import { OperationQueue } from './queue.js';
import { errText, levelCode, noteCorruption } from './store-files.js';
import type { JournalOptions, KeptBound, SinkSelector } from './types.js';
import { DEFAULT_DEAD_LETTER_BOUND, DEFAULT_QUARANTINE_BOUND } from './types.js';

/** Options beyond the backend-neutral contract, for tuning and benchmarks. */
export interface LevelJournalOptions extends JournalOptions {
  /**
   * `eager` (default): a commit starts as soon as the previous one finished and work is waiting, so appends that
   * arrive during a commit share the next one. `interval`: commits start at most every `commitIntervalMs`, which
   * bounds the fsync rate at the cost of latency and, with few concurrent appenders, throughput.
   */
  commitPolicy?: 'eager' | 'interval';
  /** Upper bound of records in one commit (bounds memory and latency of a commit). */
  maxCommitRecords?: number;
  /** Deleted or dropped records after which the deleted key range is compacted in the background. */
  compactEvery?: number;
  /**
   * LevelDB's open-file limit (default 74, LevelDB's minimum: 64 cached tables). Open table files are
   * memory-mapped, so this bounds the file pages a read through a large backlog leaves mapped (~2 MiB a table).
   */
  maxOpenFiles?: number;
  /**
   * LevelDB's table file size (LevelDB's default: 2 MiB). With at most 64 tables open and mapped, mapped file pages
   * stay under 64 times this; 1 MiB halves that but costs a third of the sustained append rate (measured).
   */
  maxFileSize?: number;
  /** Delivery receipts kept per sink (the oldest go first); default 10,000. */
  receiptsPerSink?: number;
}

/** What one read returned: lets the ack that follows count delivered records without rescanning. */
export interface ReadMark {
  after: number;
  to: number;
  count: number;
  firstAt: number;
}

export interface SinkRuntime {
  id: string;
  doc: SinkDoc;
  selector: SinkSelector | undefined;
  reads: ReadMark[];
}

export type Op = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

export interface Waiter {
  after: number;
  sink: string | undefined;
  resolve: () => void;
  cleanup: () => void;
}
/** The current episode of byte-bound drops of quarantine or dead letters (see KeptStats.dropping_since). */
export interface Episode {
  since: number;
  last: number;
  logged: number;
}

/** The in-progress view of one commit; it replaces the live state only after the synced write succeeded. */
export interface Draft {
  meta: MetaDoc;
  sinks: Map<string, SinkDoc>;
  selectors: Map<string, SinkSelector>;
  removed: string[];
  /** Sinks (re)created in this commit: what their runtime remembered of earlier reads no longer applies. */
  recreated: Set<string>;
  first: { seq: number; at: number } | undefined;
  firstDirty: boolean;
  maxDropped: number;
  /** Entries this commit dropped to keep the quarantine / dead-letter byte bounds (for /status and the log). */
  keptDrops: { q: number; dl: number };
  /** Entries this commit removed other than by the byte bound (replay, purge, delivery, age). */
  keptFreed: { q: boolean; dl: boolean };
}

/** Quarantine entries or dead letters one bound pass drops at most (more are due at the next commit). */
export const MAX_KEPT_DROP_PER_PASS = 10_000;

export class JournalCore {
  readonly opts: LevelJournalOptions;
  readonly log: Logger;
  db: Db | undefined;
  meta: MetaDoc = newMeta();
  sinks = new Map<string, SinkRuntime>();
  first: { seq: number; at: number } | undefined;
  opened = false;
  closed = false;
  damaged: MetaDoc['damaged'];

  // Work waiting for the commit loop.
  readonly queue = new OperationQueue();
  /** State put since the last commit took it (latest value per key), and the values the running commit writes. */
  states = new Map<string, string>();
  inflightStates = new Map<string, string>();
  ageDue = false;
  /** When the oldest reading not yet dropped turns older than max_age; undefined while none is waiting. */
  ageNextAt: number | undefined = 0;
  deletionBacklog = false;

  // Bounds of quarantine and dead letters.
  readonly qBound: KeptBound;
  readonly dlBound: KeptBound;
  keptAgeDue = false;
  /** When the oldest quarantine entry / dead letter turns too old; 0: check at the next tick; undefined: none held. */
  qAgeNextAt: number | undefined = 0;
  dlAgeNextAt: number | undefined = 0;
  qEpisode: Episode | undefined;
  dlEpisode: Episode | undefined;

  // Commit loop state.
  loop: Promise<void> | undefined;
  lastCommitStart = 0;
  /** The head append does not fit and only an ack, a sink change or an age drop can make room. */
  stalled = false;
  blocked = false;
  blockedSince = 0;
  dropEpoch = 0;
  clearChain: Promise<void> = Promise.resolve();
  compaction: Promise<void> | undefined;
  compactedThrough = 0;
  waiters = new Set<Waiter>();
  readonly abortFanout = new AbortFanout();
  lastDropLogAt = 0;
  droppedSinceLog = 0;
  /** Set while the last commit failed (a full disk, an I/O error); cleared by the next successful one. */
  writeError: { at: number; error: string } | undefined;
  writeErrorLoggedAt = 0;
  failures = 0;
  counters = { commits: 0, committed_records: 0, deletion_passes: 0, drop_passes: 0, compactions: 0 };

  constructor(opts: LevelJournalOptions, log: Logger) {
    this.opts = opts;
    this.log = log;
    this.qBound = opts.quarantine ?? DEFAULT_QUARANTINE_BOUND;
    this.dlBound = opts.deadLetters ?? DEFAULT_DEAD_LETTER_BOUND;
  }

  /** The open store, for the commit loop and its passes (which run only while it is open). */
  get store(): Db {
    return this.db as Db;
  }

  assertOpen(): void {
    if (this.closed || !this.opened) throw this.closedError();
  }
  openDb(): Db {
    this.assertOpen();
    return this.db as Db;
  }
  closedError(): PlantgateError {
    return new PlantgateError(
      'JOURNAL_CLOSED',
      this.closed ? 'The journal is closed.' : 'The journal is not open yet.',
    );
  }
  sink(id: string): SinkRuntime {
    const rt = this.sinks.get(id);
    if (!rt) throw new PlantgateError('INTERNAL', `Sink "${id}" is not registered with the journal.`);
    return rt;
  }
  wrapDbError(err: unknown, what: string): unknown {
    if (err instanceof PlantgateError) return err;
    if (this.closed) return this.closedError();
    if (levelCode(err) === 'LEVEL_CORRUPTION') {
      noteCorruption(this.opts.dir, err, this.log);
      return new PlantgateError(
        'JOURNAL_DAMAGED',
        `The journal store is damaged (${what}): ${errText(err)}.`,
        {
          cause: err,
        },
      );
    }
    return new PlantgateError('INTERNAL', `Journal ${what} failed: ${errText(err)}.`, {
      cause: err,
      retryable: true,
    });
  }
  waitSatisfied(after: number, sink: string | undefined): boolean {
    if (sink === undefined) return this.meta.last_seq > after;
    const rt = this.sinks.get(sink);
    return rt !== undefined && rt.doc.last_selected > after;
  }

  newDraft(): Draft {
    const sinks = new Map<string, SinkDoc>();
    const selectors = new Map<string, SinkSelector>();
    for (const rt of this.sinks.values()) {
      sinks.set(rt.id, cloneSink(rt.doc));
      if (rt.selector) selectors.set(rt.id, rt.selector);
    }
    return {
      meta: cloneMeta(this.meta),
      sinks,
      selectors,
      removed: [],
      recreated: new Set(),
      first: this.first,
      firstDirty: false,
      maxDropped: 0,
      keptDrops: { q: 0, dl: 0 },
      keptFreed: { q: false, dl: false },
    };
  }
}
