// The store-and-forward journal's contract. The journal knows records and sink ids, never a sink's protocol.
import type { Logger } from 'pino';
import type { CanonicalRecord, RawSample } from '../model/records.js';

export type WhenFull = 'drop_oldest' | 'block';

export interface JournalOptions {
  /** Directory of the LevelDB store. */
  dir: string;
  /** Upper bound for the journal's records (key + value bytes). */
  maxBytes: number;
  /** Optional upper age of records (ms); older records are dropped and counted (reason `max_age`). */
  maxAgeMs?: number;
  whenFull: WhenFull;
  /** Group-commit interval: appends arriving within it share one synced write. */
  commitIntervalMs: number;
  /** Parent logger; the journal logs through a child `{component: 'journal'}`. Silent when absent. */
  log?: Logger;
}

/** A sink's view of which records it takes. */
export interface SinkSelector {
  id: string;
  select(record: CanonicalRecord): boolean;
}

export interface JournalEntry {
  seq: number;
  record: CanonicalRecord;
  /** Stored size (key + value), for batch byte limits. */
  bytes: number;
  /**
   * Optional: the record's JSON text exactly as stored (when the stored value is JSON of the record), so the
   * forwarder can build request bodies without stringifying the record again. Must parse to `record`.
   */
  json?: string;
}

export interface SinkLedger {
  /** Records selected by this sink that entered the journal. */
  ingested: number;
  delivered: number;
  /** Selected records after the cursor still in the journal. */
  queued: number;
  dead_lettered: number;
  /** By reason: `max_bytes`, `max_age` (readings only: events are never dropped), `purged` (dead letters purged). */
  dropped: Record<string, number>;
}

export interface JournalStats {
  /** Records in the journal now (exact). */
  records: number;
  /** Their stored size, key + value bytes. */
  bytes: number;
  /** Seq of the oldest record still in the journal; 0 when it is empty. */
  first_seq: number;
  last_seq: number;
  /** Epoch ms at which the oldest record in the journal was appended. */
  oldest_ts?: number;
  /** Records ever appended to this store (cumulative; for the pipeline ledger `received = ingested + quarantined`). */
  appended?: number;
  sinks: Record<string, SinkLedger & { cursor: number; oldest_unacked_at?: number }>;
  /**
   * `total` and `by_reason` are cumulative (every entry ever quarantined); `held`/`held_by_reason` are the entries
   * stored now; `replayed` and `purged` count removals by outcome.
   */
  quarantine: {
    total: number;
    by_reason: Record<string, number>;
    held?: number;
    held_by_reason?: Record<string, number>;
    replayed?: number;
    purged?: number;
  };
  dead_letters: { batches: number; records: number };
  /** True while appends wait for space (`block`, or `drop_oldest` with only events left to drop). */
  blocked: boolean;
  /** Set when the store was found damaged at open (or during the previous run) and moved aside; a fresh store is in use. */
  damaged?: { moved_to: string; at: number; error: string };
  /** Set while writes fail (e.g. the disk is full): appends are rejected (`JOURNAL_FULL` for a full disk). */
  write_error?: { at: number; error: string };
}

export interface QuarantineEntry {
  id: number;
  /** Epoch ms when it was quarantined. */
  at: number;
  source: { id: string; type: string };
  reason: string;
  detail: string;
  /** The raw sample exactly as the adapter emitted it (Date and bigint encoded), or a raw payload. */
  sample?: RawSample;
  raw?: string;
}

export interface DeadLetter {
  batch_id: string;
  sink: string;
  at: number;
  status?: number;
  error: string;
  records: CanonicalRecord[];
}

export interface Journal {
  open(): Promise<void>;
  /** Flushes pending commits, persists cursors and counters, closes the store. Idempotent. */
  close(): Promise<void>;

  /**
   * Registers (or re-registers after reload) the sinks; a new sink starts at the current end of the journal, a sink
   * left out is forgotten (its cursor no longer holds records back). Call it after `open()` and before `append()`.
   */
  setSinks(sinks: readonly SinkSelector[]): Promise<void>;

  /**
   * Appends records; resolves after the group commit that holds them is synced to disk.
   * With `block` and a full journal it waits for space (rejects with ABORTED when `signal` aborts).
   */
  append(records: readonly CanonicalRecord[], signal?: AbortSignal): Promise<void>;

  /** Reads up to the limits, for one sink, the selected records after `afterSeq` (reading from that key forward). */
  read(sinkId: string, afterSeq: number, maxRecords: number, maxBytes: number): Promise<JournalEntry[]>;
  /**
   * Resolves when a record after `afterSeq` exists (or the signal aborts). With `sinkId`, only a record that sink
   * selects counts, so a sink whose records are rare does not spin over records it skips.
   */
  waitFor(afterSeq: number, signal: AbortSignal, sinkId?: string): Promise<void>;
  /**
   * Moves the sink's cursor to `seq` (records up to it delivered); persisted, synced; a regression is ignored.
   * `delivered` is the caller's count; the ledger counts the selected records still in the journal between the
   * old cursor and `seq` (a record dropped meanwhile stays counted as dropped), and a mismatch is logged.
   */
  ack(sinkId: string, seq: number, delivered: number): Promise<void>;
  cursor(sinkId: string): number;

  /** Stores a batch the sink rejected permanently and moves the cursor past it. */
  deadLetter(letter: DeadLetter, lastSeq: number): Promise<void>;
  listDeadLetters(sinkId?: string, limit?: number): Promise<DeadLetter[]>;
  /** Removes a dead letter after it has been delivered by replay (counted delivered) or purged. */
  removeDeadLetter(batchId: string, outcome: 'delivered' | 'purged'): Promise<DeadLetter | undefined>;

  /** Quarantines entries; resolves once synced. */
  quarantine(entries: ReadonlyArray<Omit<QuarantineEntry, 'id'>>): Promise<void>;
  listQuarantine(opts?: { reason?: string; afterId?: number; limit?: number }): Promise<QuarantineEntry[]>;
  getQuarantine(id: number): Promise<QuarantineEntry | undefined>;
  /** Removes quarantine entries (after replay or purge); counted by outcome. */
  removeQuarantine(ids: readonly number[], outcome: 'replayed' | 'purged'): Promise<number>;

  /** Small durable key-value state for derived events (window state), written with the next commit. */
  getState<T>(key: string): Promise<T | undefined>;
  putState(key: string, value: unknown): Promise<void>;

  stats(): JournalStats;
}
