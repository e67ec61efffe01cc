// The store-and-forward journal's contract. The journal knows records and sink ids, never a sink's protocol.
import type { Logger } from 'pino';
import type { CanonicalRecord, RawSample } from '../model/records.js';

export type WhenFull = 'drop_oldest' | 'block';

/** What a full quarantine or dead-letter store gives up: its oldest entries, or the entry that does not fit. */
export type KeptWhenFull = 'drop_oldest' | 'drop_newest';

/**
 * The bound of the quarantine or of the dead letters, separate from `maxBytes` (which bounds records only).
 * Entries dropped to keep it are counted persistently by cause (`max_bytes`, `max_age`), never silently lost.
 */
export interface KeptBound {
  /** Upper bound of the stored entries (key + value bytes). */
  maxBytes: number;
  /** Entries older than this (ms since quarantined / dead-lettered) are dropped; no age limit when absent or 0. */
  maxAgeMs?: number;
  whenFull: KeptWhenFull;
}

/** Used when `JournalOptions.quarantine` is absent: 64 MiB, 30 days, drop oldest. */
export const DEFAULT_QUARANTINE_BOUND: KeptBound = {
  maxBytes: 64 * 1024 ** 2,
  maxAgeMs: 30 * 86_400_000,
  whenFull: 'drop_oldest',
};
/** Used when `JournalOptions.deadLetters` is absent: 256 MiB, no age limit (an operator decides), drop oldest. */
export const DEFAULT_DEAD_LETTER_BOUND: KeptBound = { maxBytes: 256 * 1024 ** 2, whenFull: 'drop_oldest' };

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
  /** Bound of the quarantine; DEFAULT_QUARANTINE_BOUND when absent. */
  quarantine?: KeptBound;
  /** Bound of the dead letters; DEFAULT_DEAD_LETTER_BOUND when absent. */
  deadLetters?: KeptBound;
  /** Parent logger; the journal logs through a child `{component: 'journal'}`. Silent when absent. */
  log?: Logger;
}

/** A sink's view of which records it takes. */
/**
 * A state value (getState/putState) written in the same synced commit as the request that carries it, so a
 * sink's own bookkeeping (its reconciliation totals) never disagrees with its cursor after a crash.
 */
export interface StateWrite {
  key: string;
  value: unknown;
}

/** What happened to one batch of one sink, kept after its records left the journal. */
export interface Receipt {
  batch_id: string;
  sink: string;
  first_seq: number;
  last_seq: number;
  records: number;
  /** Attempts it took (1 when the first one succeeded); for a replay, the replay's own. */
  attempts: number;
  /** `delivered`; `dead_lettered` (rejected for good); `replayed` (a dead letter delivered later). */
  outcome: 'delivered' | 'dead_lettered' | 'replayed';
  /** The receiver's answer code, when it has one (HTTP status). */
  status?: number;
  /** When it was acknowledged (or rejected), epoch ms. */
  at: number;
  /** The trace id its requests carried (W3C traceparent). */
  trace_id?: string;
}

/** Written in the same synced commit as the request that carries them. */
export interface CommitExtras {
  state?: StateWrite | undefined;
  receipts?: readonly Receipt[] | undefined;
}

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
  /**
   * By reason: `max_bytes`, `max_age` (readings only: events are never dropped), `purged` (dead letters purged),
   * `dead_letters_max_bytes` / `dead_letters_max_age` (records of dead letters dropped by the dead-letter bound).
   */
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
  } & KeptStats;
  /** `batches`/`records` are held now; `dropped` counts batches dropped by the bound, `dropped_records` their records. */
  dead_letters: { batches: number; records: number; dropped_records?: number } & KeptStats;
  /** True while appends wait for space (`block`, or `drop_oldest` with only events left to drop). */
  blocked: boolean;
  /** Set when the store was found damaged at open (or during the previous run) and moved aside; a fresh store is in use. */
  damaged?: { moved_to: string; at: number; error: string };
  /** Set while writes fail (e.g. the disk is full): appends are rejected (`JOURNAL_FULL` for a full disk). */
  write_error?: { at: number; error: string };
}

/**
 * The bound of the quarantine or dead letters as stats show it. `total = held + replayed + purged + dropped` for the
 * quarantine (entries refused by drop_newest are counted in `total` and `dropped`).
 */
export interface KeptStats {
  /** Stored size now (key + value bytes). */
  bytes?: number;
  max_bytes?: number;
  max_age_ms?: number;
  when_full?: KeptWhenFull;
  /** Entries (dead letters: batches) dropped by the bound, cumulative and persisted, by cause: `max_bytes`, `max_age`. */
  dropped?: Record<string, number>;
  /**
   * Set while the store is at its bound and dropping: a `max_bytes` drop (or refusal) happened in the last 10
   * minutes and no replay, purge or age drop has made room since. Epoch ms when this episode began. /status is
   * degraded meanwhile.
   */
  dropping_since?: number;
}

export interface QuarantineEntry {
  id: number;
  /** Epoch ms when it was quarantined. */
  at: number;
  source: { id: string; type: string };
  reason: string;
  detail: string;
  /** The team that owns it (the signal's, the source's or the gateway's owner); absent in entries from before owners. */
  owner?: string;
  /** The raw sample exactly as the adapter emitted it (Date and bigint encoded), or a raw payload. */
  sample?: RawSample;
  raw?: string;
}

export interface DeadLetter {
  batch_id: string;
  sink: string;
  /** The team that owns it (the sink's or the gateway's owner); absent in letters from before owners. */
  owner?: string;
  at: number;
  status?: number;
  error: string;
  records: CanonicalRecord[];
  /**
   * Seqs of the batch's first and last record. Letters stored before these fields existed lack them; their seqs
   * are in the batch id (`<gateway>:<sink>:<first>-<last>`).
   */
  first_seq?: number;
  last_seq?: number;
}

/**
 * One page of a listing: at most `limit` items in store order, and `next`, the cursor to pass as `after` for the
 * following page. `next` is absent only when the listing is exhausted; a page may hold fewer than `limit` items
 * (even none) and still have a `next` when a filter skipped many entries (a page bounds the entries it scans).
 */
export interface Page<T, C> {
  items: T[];
  next?: C;
}

/** Largest `limit` a page accepts; a larger or non-integer limit is refused (`INVALID_ARGUMENT`), never clamped silently. */
export const MAX_PAGE_LIMIT = 10_000;

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
   * `extras` (a state value, delivery receipts) are written in the same synced commit as the cursor.
   */
  ack(sinkId: string, seq: number, delivered: number, extras?: CommitExtras): Promise<void>;
  cursor(sinkId: string): number;

  /** Stores a batch the sink rejected permanently and moves the cursor past it (with `extras` in that commit). */
  deadLetter(letter: DeadLetter, lastSeq: number, extras?: CommitExtras): Promise<void>;
  listDeadLetters(sinkId?: string, limit?: number): Promise<DeadLetter[]>;
  /**
   * A page of dead letters in batch-id order (the store's key order; batch ids compare as text), optionally of one
   * sink. `after` is the `next` of the previous page (a batch id); `limit` is 1..MAX_PAGE_LIMIT.
   */
  pageDeadLetters(opts: { after?: string; limit: number; sink?: string }): Promise<Page<DeadLetter, string>>;
  /** One dead letter by batch id. */
  getDeadLetter(batchId: string): Promise<DeadLetter | undefined>;
  /** Every dead letter (of one sink), read page by page: an export never holds more than one page in memory. */
  exportDeadLetters(opts?: { sink?: string; pageSize?: number }): AsyncIterable<DeadLetter>;
  /** Removes a dead letter after it has been delivered by replay (counted delivered) or purged. */
  removeDeadLetter(
    batchId: string,
    outcome: 'delivered' | 'purged',
    extras?: CommitExtras,
  ): Promise<DeadLetter | undefined>;

  /**
   * Delivery receipts of one sink: the one whose batch holds `seq`, or the newest `latest` (newest first). Kept
   * per sink up to a bound (the oldest go), written with the commit of what they record.
   */
  receipts(sinkId: string, query: { seq: number } | { latest: number }): Promise<Receipt[]>;

  /** Quarantines entries; resolves once synced. */
  quarantine(entries: ReadonlyArray<Omit<QuarantineEntry, 'id'>>): Promise<void>;
  listQuarantine(opts?: { reason?: string; afterId?: number; limit?: number }): Promise<QuarantineEntry[]>;
  /**
   * A page of quarantine entries in id order, optionally of one reason. `after` is the `next` of the previous page
   * (an entry id; entries with a larger id follow); `limit` is 1..MAX_PAGE_LIMIT.
   */
  pageQuarantine(opts: {
    after?: number;
    limit: number;
    reason?: string;
  }): Promise<Page<QuarantineEntry, number>>;
  /** Every quarantine entry (of one reason), read page by page: an export never holds more than one page in memory. */
  exportQuarantine(opts?: { reason?: string; pageSize?: number }): AsyncIterable<QuarantineEntry>;
  getQuarantine(id: number): Promise<QuarantineEntry | undefined>;
  /** Removes quarantine entries (after replay or purge); counted by outcome. */
  removeQuarantine(ids: readonly number[], outcome: 'replayed' | 'purged'): Promise<number>;

  /** Small durable key-value state for derived events (window state), written with the next commit. */
  getState<T>(key: string): Promise<T | undefined>;
  putState(key: string, value: unknown): Promise<void>;

  stats(): JournalStats;
}
