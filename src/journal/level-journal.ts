// The store-and-forward journal on LevelDB (classic-level): group-committed synced appends, per-sink cursors and
// ledgers persisted atomically with the changes that move them, range deletion behind the slowest cursor, bounds
// with drop_oldest or block, quarantine, dead letters and small derived-event state, all in one store.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { ClassicLevel } from 'classic-level';
import { type Logger, pino } from 'pino';
import { PlantgateError } from '../kit/errors.js';
import type { CanonicalRecord } from '../model/records.js';
import { AbortFanout } from './abort-fanout.js';
import { ENTRY_OVERHEAD, noteIteratorGarbage } from './native-garbage.js';
import { decodeTagged, encodeTagged } from './tagged-json.js';
import type {
  DeadLetter,
  Journal,
  JournalEntry,
  JournalOptions,
  JournalStats,
  KeptBound,
  KeptStats,
  Page,
  QuarantineEntry,
  SinkSelector,
} from './types.js';
import { DEFAULT_DEAD_LETTER_BOUND, DEFAULT_QUARANTINE_BOUND, MAX_PAGE_LIMIT } from './types.js';

/**
 * The store's LevelDB lock is held by another process (or this one opened it twice): not damage, nothing is moved.
 * Its code stays `INTERNAL` until errors.ts has a dedicated one; test with `instanceof`.
 */
export class JournalInUseError extends PlantgateError {
  constructor(message: string, cause: unknown) {
    super('JOURNAL_LOCKED', message, { cause, retryable: true });
  }
}

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
}

// ---- key and value layout -------------------------------------------------------------------------------------
// j!<seq, 16 hex>   journal record: <mask 8 hex><kind r|e><append time ms, 12 hex><record JSON>
// c!<sink>          sink cursor and ledger (JSON)
// m!journal         journal meta: last seq, counters, deletion and drop frontiers (JSON)
// q!<id, 16 hex>    quarantine entry (tagged JSON)
// d!<batch id>      dead letter (JSON)
// t!<at, 12 hex><batch id>   time index of the dead letters (empty value): oldest first for the bound and paging
// s!<key>           derived-event state (JSON)
const J = 'j!';
const J_END = 'j"';
const KEY_LEN = 18;
const HEADER_LEN = 21;
const META_KEY = 'm!journal';
const MAX_SINKS = 30;
const OWNER_FILE = 'plantgate-owner.json';
const DAMAGE_MARKER = 'plantgate-damaged.json';
const CH_E = 101; // 'e'

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}
/** Key of a dead letter in the time index: oldest first, then by batch id. */
function timeKey(at: number, batchId: string): string {
  const t = Number.isFinite(at) ? Math.min(Math.max(0, Math.floor(at)), 2 ** 48 - 1) : 0;
  return `t!${t.toString(16).padStart(12, '0')}${batchId}`;
}
function seqKey(seq: number): string {
  return J + hex16(seq);
}
/** Parses `len` hex digits of `s` from `start` without allocating a substring (hot path of read). */
function hexAt(s: string, start: number, len: number): number {
  let n = 0;
  for (let i = start; i < start + len; i++) {
    const c = s.charCodeAt(i);
    n = n * 16 + (c <= 57 ? c - 48 : c - 87);
  }
  return n;
}
const seqOf = (k: string): number => hexAt(k, 2, 16);
const maskOf = (v: string): number => hexAt(v, 0, 8);
const isEvent = (v: string): boolean => v.charCodeAt(8) === CH_E;
const atOf = (v: string): number => hexAt(v, 9, 12);
const storedSize = (k: string, v: string): number => k.length + Buffer.byteLength(v);
/**
 * What a closed iterator keeps in native memory until it is collected (see native-garbage.ts): the entries of its
 * last step, and the slots reserved for the largest step (1000 entries here).
 */
function chunkFootprint(chunk: ReadonlyArray<[string, string]>): number {
  let n = 1000 * ENTRY_OVERHEAD;
  for (const [k, v] of chunk) n += k.length + v.length;
  return n;
}

interface MetaDoc {
  v: 1;
  last_seq: number;
  last_at: number;
  records: number;
  bytes: number;
  appended: number;
  /** Every record with seq <= this is deleted (behind every cursor). */
  deleted_through: number;
  /** Every reading with seq <= this is deleted (dropped); events below it may remain. */
  drop_frontier: number;
  next_q_id: number;
  q_total: number;
  q_by_reason: Record<string, number>;
  q_held: number;
  q_held_by_reason: Record<string, number>;
  q_replayed: number;
  q_purged: number;
  dl_batches: number;
  dl_records: number;
  /** Present (1) once the bounds of quarantine and dead letters are tracked; an older store is recounted at open. */
  kept_v?: 1;
  /** Stored bytes of the quarantine entries (key + value). */
  q_bytes: number;
  /** Every quarantine id below this was dropped or removed: the bound's drops start scanning here. */
  q_low: number;
  /** Quarantine entries dropped by the bound, by cause (`max_bytes`, `max_age`). */
  q_dropped: Record<string, number>;
  /** Stored bytes of the dead letters (key + value; the time index is not counted). */
  dl_bytes: number;
  /** Dead-letter batches dropped by the bound, by cause, and the records they held. */
  dl_dropped: Record<string, number>;
  dl_dropped_records: number;
  damaged?: { moved_to: string; at: number; error: string };
}

interface SinkDoc {
  bit: number;
  cursor: number;
  /** Seq of the newest record this sink selected; <= cursor means nothing is waiting for it. */
  last_selected: number;
  ingested: number;
  delivered: number;
  queued: number;
  dead_lettered: number;
  dropped: Record<string, number>;
}

interface StoredDeadLetter {
  letter: DeadLetter;
  /** Records counted `dead_lettered` for the sink when it was stored. */
  counted: number;
}

/** What one read returned: lets the ack that follows count delivered records without rescanning. */
interface ReadMark {
  after: number;
  to: number;
  count: number;
  firstAt: number;
}

interface SinkRuntime {
  id: string;
  doc: SinkDoc;
  selector: SinkSelector | undefined;
  reads: ReadMark[];
}

function newMeta(): MetaDoc {
  return {
    v: 1,
    last_seq: 0,
    last_at: 0,
    records: 0,
    bytes: 0,
    appended: 0,
    deleted_through: 0,
    drop_frontier: 0,
    next_q_id: 1,
    q_total: 0,
    q_by_reason: {},
    q_held: 0,
    q_held_by_reason: {},
    q_replayed: 0,
    q_purged: 0,
    dl_batches: 0,
    dl_records: 0,
    kept_v: 1,
    q_bytes: 0,
    q_low: 1,
    q_dropped: {},
    dl_bytes: 0,
    dl_dropped: {},
    dl_dropped_records: 0,
  };
}
function cloneMeta(m: MetaDoc): MetaDoc {
  return {
    ...m,
    q_by_reason: { ...m.q_by_reason },
    q_held_by_reason: { ...m.q_held_by_reason },
    q_dropped: { ...m.q_dropped },
    dl_dropped: { ...m.dl_dropped },
  };
}
function cloneSink(d: SinkDoc): SinkDoc {
  return { ...d, dropped: { ...d.dropped } };
}
function bump(map: Record<string, number>, key: string, by: number): void {
  const n = (map[key] ?? 0) + by;
  if (n === 0) delete map[key];
  else map[key] = n;
}

type Op = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };
type ChainedBatchLike = { put(key: string, value: string): unknown };

interface Settle<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}
interface PendingAppend extends Settle<void> {
  records: readonly CanonicalRecord[];
  values: string[];
  bytes: number;
  signal: AbortSignal | undefined;
  /** Stops watching `signal` (one shared listener per signal, see abort-fanout.ts). */
  unwatch: (() => void) | undefined;
}
interface PendingAck extends Settle<void> {
  sink: string;
  seq: number;
  delivered: number;
}
interface PendingDeadLetter extends Settle<void> {
  letter: DeadLetter;
  lastSeq: number;
}
interface Waiter {
  after: number;
  sink: string | undefined;
  resolve: () => void;
  cleanup: () => void;
}

/** The in-progress view of one commit; it replaces the live state only after the synced write succeeded. */
interface Draft {
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

const MAX_DELETE_PER_PASS = 200_000;
/** Quarantine entries or dead letters one bound pass drops at most (more are due at the next commit). */
const MAX_KEPT_DROP_PER_PASS = 10_000;
/** A quarantine or dead-letter store counts as dropping at its bound for this long after its last byte-bound drop. */
const KEPT_EPISODE_MS = 10 * 60_000;
const MAX_DROP_PER_PASS = 50_000;
const MAX_COMMIT_BYTES = 8 * 1024 * 1024;
const READ_MARKS = 32;
/**
 * Bytes one native iterator step may fetch. classic-level's default (16 KiB, about 70 records) makes a
 * 1000-record read cross to the thread pool 15 times; 1 MiB bounds the memory of one step all the same.
 */
const HWM = 1024 * 1024;

function levelCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const inner = e?.cause?.code;
  if (typeof inner === 'string' && e?.code === 'LEVEL_DATABASE_NOT_OPEN') return inner;
  return typeof e?.code === 'string' ? e.code : undefined;
}
function errText(err: unknown): string {
  const e = err as { message?: unknown; cause?: { message?: unknown } } | undefined;
  const inner = e?.cause?.message;
  const outer = typeof e?.message === 'string' ? e.message : String(err);
  return typeof inner === 'string' ? `${outer}: ${inner}` : outer;
}
function utcStamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('.', '');
}

/**
 * A journal entry whose record is parsed only when someone asks for it: the forwarder sends the stored JSON
 * as is and needs the parsed record only for dead letters, so draining a backlog skips JSON.parse entirely.
 */
class StoredEntry implements JournalEntry {
  #record: CanonicalRecord | undefined;
  constructor(
    readonly seq: number,
    readonly bytes: number,
    readonly json: string,
  ) {}
  get record(): CanonicalRecord {
    this.#record ??= JSON.parse(this.json) as CanonicalRecord;
    return this.#record;
  }
}

export class LevelJournal implements Journal {
  readonly #opts: LevelJournalOptions;
  readonly #log: Logger;
  #db: ClassicLevel<string, string> | undefined;
  #meta: MetaDoc = newMeta();
  #sinks = new Map<string, SinkRuntime>();
  #first: { seq: number; at: number } | undefined;
  #sinksSet = false;
  #opened = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #umaskHeld = false;
  #damaged: MetaDoc['damaged'];

  // Work waiting for the commit loop.
  #appends: PendingAppend[] = [];
  #acks: PendingAck[] = [];
  #deadLetters: PendingDeadLetter[] = [];
  #quarantines: Array<Settle<void> & { entries: ReadonlyArray<Omit<QuarantineEntry, 'id'>> }> = [];
  #qRemovals: Array<Settle<number> & { ids: readonly number[]; outcome: 'replayed' | 'purged' }> = [];
  #dlRemovals: Array<Settle<DeadLetter | undefined> & { batchId: string; outcome: 'delivered' | 'purged' }> =
    [];
  #sinkChanges: Array<Settle<void> & { sinks: readonly SinkSelector[] }> = [];
  #states = new Map<string, string>();
  #stateWaiters: Array<Settle<void>> = [];
  #inflightStates = new Map<string, string>();
  #ageDue = false;
  /** When the oldest reading not yet dropped turns older than max_age; undefined while none is waiting. */
  #ageNextAt: number | undefined = 0;
  #deletionBacklog = false;
  readonly #qBound: KeptBound;
  readonly #dlBound: KeptBound;
  #keptTimer: NodeJS.Timeout | undefined;
  #keptAgeDue = false;
  /** When the oldest quarantine entry / dead letter turns too old; 0: check at the next tick; undefined: none held. */
  #qAgeNextAt: number | undefined = 0;
  #dlAgeNextAt: number | undefined = 0;
  /** The current episode of byte-bound drops (see KeptStats.dropping_since). */
  #qEpisode: { since: number; last: number; logged: number } | undefined;
  #dlEpisode: { since: number; last: number; logged: number } | undefined;

  // Commit loop state.
  #loop: Promise<void> | undefined;
  #lastCommitStart = 0;
  /** The head append does not fit and only an ack, a sink change or an age drop can make room. */
  #stalled = false;
  #blocked = false;
  #blockedSince = 0;
  #dropEpoch = 0;
  #clearChain: Promise<void> = Promise.resolve();
  #compaction: Promise<void> | undefined;
  #compactedThrough = 0;
  #ageTimer: NodeJS.Timeout | undefined;
  #waiters = new Set<Waiter>();
  readonly #abortFanout = new AbortFanout();
  #lastDropLogAt = 0;
  #droppedSinceLog = 0;
  /** Set while the last commit failed (a full disk, an I/O error); cleared by the next successful one. */
  #writeError: { at: number; error: string } | undefined;
  #writeErrorLoggedAt = 0;
  #failures = 0;
  #counters = { commits: 0, committed_records: 0, deletion_passes: 0, drop_passes: 0, compactions: 0 };

  constructor(opts: LevelJournalOptions) {
    this.#opts = opts;
    const log = opts.log ?? pino({ level: 'silent' });
    // A caller may already hand over the journal's child; binding `component` twice would print it twice.
    this.#log = log.bindings().component === 'journal' ? log : log.child({ component: 'journal' });
    this.#qBound = opts.quarantine ?? DEFAULT_QUARANTINE_BOUND;
    this.#dlBound = opts.deadLetters ?? DEFAULT_DEAD_LETTER_BOUND;
  }

  // ---- lifecycle ------------------------------------------------------------------------------------------------

  async open(): Promise<void> {
    if (this.#opened) return;
    if (this.#closed)
      throw new PlantgateError('JOURNAL_CLOSED', 'The journal was closed and cannot be reopened.');
    if (!this.#umaskHeld) {
      holdPrivateUmask();
      this.#umaskHeld = true;
    }
    try {
      await this.#openInner();
    } catch (err) {
      this.#releaseUmask();
      throw err;
    }
  }

  #releaseUmask(): void {
    if (!this.#umaskHeld) return;
    this.#umaskHeld = false;
    releasePrivateUmask();
  }

  /**
   * The store's directory (and any parent it creates, such as a missing storage.dir) is 0700 and every file in it
   * 0600, whatever the umask: records and quarantined payloads are plant data. Files LevelDB creates later are
   * private through the umask held while the journal is open; this pass also fixes a store an older version left
   * readable.
   */
  #makePrivate(dir: string): void {
    try {
      const created = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
      if (created !== undefined) {
        // Every directory mkdir created, from the first one down to the store's own.
        for (let d = dir; d.length >= created.length; d = dirname(d)) {
          chmodSync(d, PRIVATE_DIR);
          if (d === created) break;
        }
      }
      if ((statSync(dir).mode & 0o777) !== PRIVATE_DIR) chmodSync(dir, PRIVATE_DIR);
      for (const f of readdirSync(dir, { withFileTypes: true })) {
        if (!f.isFile()) continue;
        const path = join(dir, f.name);
        if ((statSync(path).mode & 0o777) !== PRIVATE_FILE) chmodSync(path, PRIVATE_FILE);
      }
    } catch (err) {
      // Not fatal: the journal works, but the operator must know its files may be readable by others.
      this.#log.warn(
        { err, dir },
        `The journal directory ${dir} could not be made private (0700, files 0600): ${errText(err)}.`,
      );
    }
  }

  async #openInner(): Promise<void> {
    const dir = this.#opts.dir;
    // Before LevelDB creates it, so that a missing storage.dir is created private too.
    if (!existsSync(dir)) this.#makePrivate(dir);
    let damage: string | undefined = this.#precheckDamage(dir);
    if (damage === undefined) {
      try {
        await this.#openStore();
      } catch (err) {
        const code = levelCode(err);
        if (code === 'LEVEL_LOCKED') throw this.#inUseError(err);
        if (code !== 'LEVEL_CORRUPTION' && !(err instanceof SyntaxError)) {
          throw new PlantgateError(
            'JOURNAL_DAMAGED',
            `The journal at ${dir} could not be opened: ${errText(err)}.`,
            {
              cause: err,
              retryable: true,
            },
          );
        }
        damage = errText(err);
      }
    }
    if (damage !== undefined) {
      const movedTo = this.#moveAside(dir, damage);
      try {
        await this.#openStore();
      } catch (err) {
        throw new PlantgateError(
          'JOURNAL_DAMAGED',
          `The damaged journal was moved to ${movedTo}, but a fresh journal at ${dir} could not be opened: ${errText(err)}.`,
          { cause: err },
        );
      }
      this.#damaged = { moved_to: movedTo, at: Date.now(), error: damage };
      this.#meta.damaged = this.#damaged;
      await this.#db?.put(META_KEY, JSON.stringify(this.#meta), { sync: true });
    }
    this.#damaged = this.#meta.damaged;
    this.#writeOwner();
    this.#makePrivate(dir);
    this.#opened = true;
    if (this.#opts.maxAgeMs !== undefined && this.#opts.maxAgeMs > 0) {
      const period = Math.max(50, Math.min(1000, Math.floor(this.#opts.maxAgeMs / 10)));
      this.#ageTimer = setInterval(() => this.#checkAge(), period);
      this.#ageTimer.unref();
    }
    const keptAges = [this.#qBound.maxAgeMs ?? 0, this.#dlBound.maxAgeMs ?? 0].filter((a) => a > 0);
    if (keptAges.length > 0) {
      const period = Math.max(50, Math.min(60_000, Math.floor(Math.min(...keptAges) / 10)));
      this.#keptTimer = setInterval(() => this.#checkKeptAge(), period);
      this.#keptTimer.unref();
    }
    this.#log.info(
      { dir, records: this.#meta.records, bytes: this.#meta.bytes, last_seq: this.#meta.last_seq },
      'Journal opened.',
    );
  }

  async close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      if (this.#ageTimer) clearInterval(this.#ageTimer);
      if (this.#keptTimer) clearInterval(this.#keptTimer);
      // Flush everything that can be flushed; appends that wait for space cannot, and are told so.
      while (this.#loop) await this.#loop;
      const closedErr = () =>
        new PlantgateError('JOURNAL_CLOSED', 'The journal was closed before this append fit.');
      for (const a of this.#appends.splice(0)) this.#settleAppend(a, closedErr());
      for (const w of this.#waiters) {
        w.cleanup();
        w.resolve();
      }
      this.#waiters.clear();
      await this.#clearChain;
      if (this.#compaction) await this.#compaction;
      if (this.#db) {
        try {
          rmSync(`${this.#opts.dir}/${OWNER_FILE}`, { force: true });
        } catch {
          // Only informative; a stale owner file is overwritten on the next open.
        }
        await this.#db.close();
      }
      this.#releaseUmask();
      if (this.#opened)
        this.#log.info({ last_seq: this.#meta.last_seq, records: this.#meta.records }, 'Journal closed.');
    })();
    return this.#closing;
  }

  #precheckDamage(dir: string): string | undefined {
    if (!existsSync(dir)) return undefined;
    if (existsSync(`${dir}/${DAMAGE_MARKER}`)) {
      try {
        const m = JSON.parse(readFileSync(`${dir}/${DAMAGE_MARKER}`, 'utf8')) as { error?: string };
        return `damage found during a previous run: ${m.error ?? 'unknown'}`;
      } catch {
        return 'damage found during a previous run';
      }
    }
    const files = readdirSync(dir);
    // Without CURRENT, LevelDB would silently start an empty store next to the old tables.
    if (!files.includes('CURRENT') && files.some((f) => f.startsWith('MANIFEST-') || f.endsWith('.ldb'))) {
      return 'the CURRENT file is missing';
    }
    return undefined;
  }

  #moveAside(dir: string, reason: string): string {
    const at = new Date();
    let target = `${dir}.damaged-${utcStamp(at)}`;
    for (let i = 1; existsSync(target); i++) target = `${dir}.damaged-${utcStamp(at)}-${i}`;
    try {
      renameSync(dir, target);
    } catch (err) {
      throw new PlantgateError(
        'JOURNAL_DAMAGED',
        `The journal at ${dir} is damaged (${reason}) and could not be moved aside to ${target}: ${errText(err)}.`,
        { cause: err },
      );
    }
    this.#log.error(
      { dir, moved_to: target, reason },
      `The journal at ${dir} is damaged (${reason}); it was moved to ${target} and a fresh journal was started. Records still in the old store were not forwarded.`,
    );
    return target;
  }

  #inUseError(err: unknown): JournalInUseError {
    const dir = this.#opts.dir;
    let who = 'another process';
    try {
      const o = JSON.parse(readFileSync(`${dir}/${OWNER_FILE}`, 'utf8')) as {
        pid?: number;
        host?: string;
        since?: string;
      };
      if (o.pid === process.pid) who = 'this process (opened twice)';
      else if (typeof o.pid === 'number')
        who = `another process (pid ${o.pid} on ${o.host ?? '?'}, since ${o.since ?? '?'})`;
    } catch {
      // No owner file: the holder is not a plantgate journal or predates it.
    }
    return new JournalInUseError(
      `The journal at ${dir} is in use by ${who}: its LevelDB lock is held. Stop the other plantgate instance or give this one its own storage.dir.`,
      err,
    );
  }

  #writeOwner(): void {
    try {
      const owner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
      writeFileSync(`${this.#opts.dir}/${OWNER_FILE}`, JSON.stringify(owner), { mode: PRIVATE_FILE });
    } catch (err) {
      this.#log.warn(
        { err },
        'The journal owner file could not be written; an in-use error will not name the owner.',
      );
    }
  }

  async #openStore(): Promise<void> {
    const db = new ClassicLevel<string, string>(this.#opts.dir, {
      keyEncoding: 'utf8',
      valueEncoding: 'utf8',
      // LevelDB maps every open table file into memory; the open-table limit bounds what a long backlog read maps.
      maxOpenFiles: this.#opts.maxOpenFiles ?? 74,
      ...(this.#opts.maxFileSize !== undefined ? { maxFileSize: this.#opts.maxFileSize } : {}),
    });
    await db.open();
    try {
      await this.#load(db);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
    this.#db = db;
  }

  /** Reads meta and cursors, checks them against the store, and finishes deletions a crash interrupted. */
  async #load(db: ClassicLevel<string, string>): Promise<void> {
    const rawMeta = await db.get(META_KEY);
    const parsedMeta = rawMeta === undefined ? undefined : (JSON.parse(rawMeta) as Partial<MetaDoc>);
    const meta: MetaDoc = parsedMeta === undefined ? newMeta() : { ...newMeta(), ...parsedMeta };
    if (parsedMeta !== undefined && parsedMeta.kept_v === undefined) await this.#upgradeKept(db, meta);
    const sinks = new Map<string, SinkRuntime>();
    for await (const [k, v] of db.iterator({ gte: 'c!', lt: 'c"' })) {
      const id = k.slice(2);
      const old = this.#sinks.get(id);
      sinks.set(id, { id, doc: JSON.parse(v) as SinkDoc, selector: old?.selector, reads: [] });
    }
    // The last record key must agree with the persisted last seq: both are written in the same batch.
    const lastKeys = await db.keys({ gte: J, lt: J_END, reverse: true, limit: 1 }).all();
    const lastKey = lastKeys[0];
    const keySeq = lastKey === undefined ? 0 : seqOf(lastKey);
    if (keySeq > meta.last_seq) {
      this.#log.warn(
        { meta_last_seq: meta.last_seq, key_last_seq: keySeq },
        'The journal meta is behind its newest record; counters are recounted from the records.',
      );
      meta.last_seq = keySeq;
      await this.#recount(db, meta);
    }
    // Deletions are recorded in meta before their unsynced range clear runs; finish any a crash cut short.
    if (meta.deleted_through > 0) await db.clear({ gte: J, lte: seqKey(meta.deleted_through) });
    if (meta.drop_frontier > meta.deleted_through) {
      let dels = db.batch();
      for await (const [k, v] of db.iterator({
        gt: seqKey(meta.deleted_through),
        lte: seqKey(meta.drop_frontier),
        highWaterMarkBytes: HWM,
      })) {
        if (isEvent(v)) continue;
        dels.del(k);
        if (dels.length >= 10_000) {
          await dels.write({ sync: true });
          dels = db.batch();
        }
      }
      if (dels.length > 0) await dels.write({ sync: true });
      else await dels.close();
    }
    this.#meta = meta;
    this.#sinks = sinks;
    this.#first = await this.#findFirst(db, meta);
    this.#compactedThrough = 0;
  }

  /**
   * A store written before quarantine and dead letters were bounded: counts their bytes and builds the dead
   * letters' time index once, in one synced batch with the meta that marks it done.
   */
  async #upgradeKept(db: ClassicLevel<string, string>, meta: MetaDoc): Promise<void> {
    meta.q_bytes = 0;
    meta.q_low = meta.next_q_id;
    let first = true;
    for await (const [k, v] of db.iterator({ gte: 'q!', lt: 'q"', highWaterMarkBytes: HWM })) {
      if (first) meta.q_low = hexAt(k, 2, 16);
      first = false;
      meta.q_bytes += storedSize(k, v);
    }
    meta.dl_bytes = 0;
    const batch = db.batch();
    for await (const [k, v] of db.iterator({ gte: 'd!', lt: 'd"', highWaterMarkBytes: HWM })) {
      meta.dl_bytes += storedSize(k, v);
      const letter = (JSON.parse(v) as StoredDeadLetter).letter;
      batch.put(timeKey(letter.at, k.slice(2)), '');
    }
    meta.kept_v = 1;
    batch.put(META_KEY, JSON.stringify(meta));
    await batch.write({ sync: true });
    this.#log.info(
      { quarantine_bytes: meta.q_bytes, dead_letter_bytes: meta.dl_bytes },
      'Counted the quarantine and dead letters of a store written by an older version (their bounds apply now).',
    );
  }

  async #recount(db: ClassicLevel<string, string>, meta: MetaDoc): Promise<void> {
    let records = 0;
    let bytes = 0;
    for await (const [k, v] of db.iterator({
      gt: seqKey(meta.deleted_through),
      lt: J_END,
      highWaterMarkBytes: HWM,
    })) {
      if (!isEvent(v) && seqOf(k) <= meta.drop_frontier) continue;
      records++;
      bytes += storedSize(k, v);
    }
    meta.records = records;
    meta.bytes = bytes;
    await db.put(META_KEY, JSON.stringify(meta), { sync: true });
  }

  // ---- public operations ----------------------------------------------------------------------------------------

  async setSinks(sinks: readonly SinkSelector[]): Promise<void> {
    this.#assertOpen();
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
    return new Promise((resolve, reject) => {
      this.#sinkChanges.push({ sinks: [...sinks], resolve, reject });
      this.#unstall();
      this.#kick();
    });
  }

  append(records: readonly CanonicalRecord[], signal?: AbortSignal): Promise<void> {
    if (this.#closed || !this.#opened) return Promise.reject(this.#closedError());
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
    if (bytes > this.#opts.maxBytes) {
      return Promise.reject(
        new PlantgateError(
          'JOURNAL_FULL',
          `An append of ${records.length} records (${bytes} bytes) is larger than the whole journal (max_bytes ${this.#opts.maxBytes}).`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const a: PendingAppend = { records, values, bytes, resolve, reject, signal, unwatch: undefined };
      if (signal) {
        const abort = () => {
          const i = this.#appends.indexOf(a);
          // Once taken into a commit an append cannot be withdrawn; it resolves with that commit.
          if (i < 0) return;
          this.#appends.splice(i, 1);
          this.#settleAppend(a, abortedError());
          if (i === 0) {
            this.#unstall();
            this.#kick();
          }
        };
        // Settling the append (or taking it into a commit) detaches it from the signal.
        a.unwatch = this.#abortFanout.watch(signal, abort);
      }
      this.#appends.push(a);
      this.#kick();
    });
  }

  async read(
    sinkId: string,
    afterSeq: number,
    maxRecords: number,
    maxBytes: number,
  ): Promise<JournalEntry[]> {
    const db = this.#openDb();
    const rt = this.#sink(sinkId);
    const upper = rt.doc.last_selected;
    if (upper <= afterSeq || maxRecords <= 0) return [];
    const A = this.#meta.deleted_through;
    const D = this.#meta.drop_frontier;
    const bit = 1 << rt.doc.bit;
    const epoch = this.#dropEpoch;
    const out: JournalEntry[] = [];
    let firstAt = 0;
    let total = 0;
    // Seek to the first key after `afterSeq` (or after the deleted range): never from the first key.
    const it = db.iterator({
      gte: seqKey(Math.max(afterSeq, A) + 1),
      lte: seqKey(upper),
      highWaterMarkBytes: HWM,
    });
    let lastChunk: Array<[string, string]> = [];
    try {
      outer: for (;;) {
        const want = Math.min(1000, Math.max(64, maxRecords - out.length));
        const chunk = await it.nextv(want);
        lastChunk = chunk;
        if (chunk.length === 0) break;
        for (const [k, v] of chunk) {
          if ((maskOf(v) & bit) === 0) continue;
          const seq = seqOf(k);
          if (seq <= D && !isEvent(v)) continue;
          const size = storedSize(k, v);
          if (out.length > 0 && total + size > maxBytes) break outer;
          if (out.length === 0) firstAt = atOf(v);
          const json = v.slice(HEADER_LEN);
          out.push(new StoredEntry(seq, size, json));
          total += size;
          if (out.length >= maxRecords) break outer;
        }
      }
    } catch (err) {
      throw this.#wrapDbError(err, 'read');
    } finally {
      await it.close().catch(() => undefined);
      noteIteratorGarbage(chunkFootprint(lastChunk));
    }
    const last = out[out.length - 1];
    // A drop during the read may have removed some of these records: then the ack recounts instead.
    if (last && epoch === this.#dropEpoch && this.#sinks.get(sinkId) === rt) {
      if (rt.reads.length >= READ_MARKS) rt.reads.shift();
      rt.reads.push({ after: afterSeq, to: last.seq, count: out.length, firstAt });
    }
    return out;
  }

  waitFor(afterSeq: number, signal: AbortSignal, sinkId?: string): Promise<void> {
    if (this.#waitSatisfied(afterSeq, sinkId) || signal.aborted || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => {
        this.#waiters.delete(w);
        resolve();
      };
      const w: Waiter = {
        after: afterSeq,
        sink: sinkId,
        resolve,
        cleanup: () => unwatch(),
      };
      const unwatch = this.#abortFanout.watch(signal, onAbort);
      this.#waiters.add(w);
    });
  }

  ack(sinkId: string, seq: number, delivered: number): Promise<void> {
    if (this.#closed || !this.#opened) return Promise.reject(this.#closedError());
    return new Promise((resolve, reject) => {
      this.#acks.push({ sink: sinkId, seq, delivered, resolve, reject });
      this.#unstall();
      this.#kick();
    });
  }

  cursor(sinkId: string): number {
    return this.#sink(sinkId).doc.cursor;
  }

  deadLetter(letter: DeadLetter, lastSeq: number): Promise<void> {
    if (this.#closed || !this.#opened) return Promise.reject(this.#closedError());
    return new Promise((resolve, reject) => {
      this.#deadLetters.push({ letter, lastSeq, resolve, reject });
      this.#unstall();
      this.#kick();
    });
  }

  async listDeadLetters(sinkId?: string, limit = 100): Promise<DeadLetter[]> {
    const db = this.#openDb();
    const out: DeadLetter[] = [];
    try {
      for await (const v of db.values({ gte: 'd!', lt: 'd"' })) {
        const s = JSON.parse(v) as StoredDeadLetter;
        if (sinkId !== undefined && s.letter.sink !== sinkId) continue;
        out.push(s.letter);
        if (out.length >= limit) break;
      }
    } catch (err) {
      throw this.#wrapDbError(err, 'listDeadLetters');
    }
    return out;
  }

  async pageDeadLetters(opts: {
    after?: string;
    limit: number;
    sink?: string;
  }): Promise<Page<DeadLetter, string>> {
    checkLimit(opts.limit, 'pageDeadLetters');
    if (opts.after !== undefined && typeof opts.after !== 'string') {
      throw new PlantgateError('INVALID_ARGUMENT', 'pageDeadLetters: `after` must be the `next` of a page.');
    }
    const db = this.#openDb();
    // The time index lists dead letters in the order they were dead-lettered: per sink, the order of their seqs.
    const it = db.keys({ gt: opts.after === undefined ? 't!' : `t!${opts.after}`, lt: 't"' });
    const items: DeadLetter[] = [];
    let next: string | undefined;
    let full = false;
    let scanned = 0;
    try {
      while (!full) {
        const chunk = await it.nextv(Math.min(1000, opts.limit));
        if (chunk.length === 0) break;
        const values = await db.getMany(chunk.map((k) => `d!${k.slice(14)}`));
        for (let i = 0; i < chunk.length; i++) {
          scanned++;
          next = (chunk[i] as string).slice(2);
          const v = values[i];
          if (v !== undefined) {
            const letter = (JSON.parse(v) as StoredDeadLetter).letter;
            if (opts.sink === undefined || letter.sink === opts.sink) items.push(letter);
          }
          if (items.length >= opts.limit || scanned >= opts.limit * PAGE_SCAN_FACTOR) {
            full = true;
            break;
          }
        }
      }
    } catch (err) {
      throw this.#wrapDbError(err, 'pageDeadLetters');
    } finally {
      await it.close().catch(() => undefined);
    }
    // Whether anything follows is known only by looking; an extra empty page is cheaper than a wrong end.
    return full && next !== undefined ? { items, next } : { items };
  }

  async getDeadLetter(batchId: string): Promise<DeadLetter | undefined> {
    const db = this.#openDb();
    const v = await db.get(`d!${batchId}`).catch((err: unknown) => {
      throw this.#wrapDbError(err, 'getDeadLetter');
    });
    return v === undefined ? undefined : (JSON.parse(v) as StoredDeadLetter).letter;
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

  removeDeadLetter(batchId: string, outcome: 'delivered' | 'purged'): Promise<DeadLetter | undefined> {
    if (this.#closed || !this.#opened) return Promise.reject(this.#closedError());
    return new Promise((resolve, reject) => {
      this.#dlRemovals.push({ batchId, outcome, resolve, reject });
      this.#kick();
    });
  }

  quarantine(entries: ReadonlyArray<Omit<QuarantineEntry, 'id'>>): Promise<void> {
    if (this.#closed || !this.#opened) return Promise.reject(this.#closedError());
    if (entries.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#quarantines.push({ entries, resolve, reject });
      this.#kick();
    });
  }

  async listQuarantine(
    opts: { reason?: string; afterId?: number; limit?: number } = {},
  ): Promise<QuarantineEntry[]> {
    const db = this.#openDb();
    const limit = opts.limit ?? 100;
    const out: QuarantineEntry[] = [];
    try {
      for await (const v of db.values({ gt: `q!${hex16(opts.afterId ?? 0)}`, lt: 'q"' })) {
        const e = decodeTagged<QuarantineEntry>(v);
        if (opts.reason !== undefined && e.reason !== opts.reason) continue;
        out.push(e);
        if (out.length >= limit) break;
      }
    } catch (err) {
      throw this.#wrapDbError(err, 'listQuarantine');
    }
    return out;
  }

  async pageQuarantine(opts: {
    after?: number;
    limit: number;
    reason?: string;
  }): Promise<Page<QuarantineEntry, number>> {
    checkLimit(opts.limit, 'pageQuarantine');
    if (opts.after !== undefined && !(Number.isSafeInteger(opts.after) && opts.after >= 0)) {
      throw new PlantgateError(
        'INVALID_ARGUMENT',
        `pageQuarantine: \`after\` must be an entry id (a whole number >= 0); got ${String(opts.after)}.`,
      );
    }
    const db = this.#openDb();
    const items: QuarantineEntry[] = [];
    let last: number | undefined;
    let scanned = 0;
    let exhausted = true;
    const it = db.iterator({ gt: `q!${hex16(opts.after ?? 0)}`, lt: 'q"' });
    try {
      for await (const [k, v] of it) {
        last = hexAt(k, 2, 16);
        scanned++;
        // The reason is read without decoding the whole entry when it does not match.
        if (opts.reason === undefined || v.includes(JSON.stringify(opts.reason))) {
          const e = decodeTagged<QuarantineEntry>(v);
          if (opts.reason === undefined || e.reason === opts.reason) items.push(e);
        }
        if (items.length >= opts.limit || scanned >= opts.limit * PAGE_SCAN_FACTOR) {
          exhausted = false;
          break;
        }
      }
    } catch (err) {
      throw this.#wrapDbError(err, 'pageQuarantine');
    } finally {
      await it.close().catch(() => undefined);
    }
    return exhausted || last === undefined ? { items } : { items, next: last };
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

  async getQuarantine(id: number): Promise<QuarantineEntry | undefined> {
    const db = this.#openDb();
    const v = await db.get(`q!${hex16(id)}`).catch((err: unknown) => {
      throw this.#wrapDbError(err, 'getQuarantine');
    });
    return v === undefined ? undefined : decodeTagged<QuarantineEntry>(v);
  }

  removeQuarantine(ids: readonly number[], outcome: 'replayed' | 'purged'): Promise<number> {
    if (this.#closed || !this.#opened) return Promise.reject(this.#closedError());
    if (ids.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      this.#qRemovals.push({ ids, outcome, resolve, reject });
      this.#kick();
    });
  }

  async getState<T>(key: string): Promise<T | undefined> {
    const db = this.#openDb();
    const pending = this.#states.get(key) ?? this.#inflightStates.get(key);
    const v =
      pending ??
      (await db.get(`s!${key}`).catch((err: unknown) => {
        throw this.#wrapDbError(err, 'getState');
      }));
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  putState(key: string, value: unknown): Promise<void> {
    if (this.#closed || !this.#opened) return Promise.reject(this.#closedError());
    const json = JSON.stringify(value);
    if (json === undefined)
      return Promise.reject(new PlantgateError('INTERNAL', `State "${key}" is not JSON.`));
    this.#states.set(key, json);
    return new Promise((resolve, reject) => {
      this.#stateWaiters.push({ resolve, reject });
      this.#kick();
    });
  }

  stats(): JournalStats {
    const m = this.#meta;
    const sinks: JournalStats['sinks'] = {};
    for (const rt of this.#sinks.values()) {
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
      first_seq: m.records > 0 ? (this.#first?.seq ?? 0) : 0,
      last_seq: m.last_seq,
      ...(m.records > 0 && this.#first ? { oldest_ts: this.#first.at } : {}),
      appended: m.appended,
      sinks,
      quarantine: {
        total: m.q_total,
        by_reason: { ...m.q_by_reason },
        held: m.q_held,
        held_by_reason: { ...m.q_held_by_reason },
        replayed: m.q_replayed,
        purged: m.q_purged,
        ...this.#keptStats('quarantine'),
      },
      dead_letters: {
        batches: m.dl_batches,
        records: m.dl_records,
        dropped_records: m.dl_dropped_records,
        ...this.#keptStats('dead_letters'),
      },
      blocked: this.#blocked,
      ...(this.#damaged ? { damaged: { ...this.#damaged } } : {}),
      ...(this.#writeError ? { write_error: { ...this.#writeError } } : {}),
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
    const db = this.#openDb();
    // Wait for the commit loop so the counters and the store describe the same moment.
    while (this.#loop) await this.#loop;
    const m = this.#meta;
    let n = 0;
    let bytes = 0;
    for await (const [k, v] of db.iterator({
      gt: seqKey(m.deleted_through),
      lt: J_END,
      highWaterMarkBytes: HWM,
    })) {
      if (!isEvent(v) && seqOf(k) <= m.drop_frontier) continue;
      n++;
      bytes += storedSize(k, v);
    }
    let qBytes = 0;
    for await (const [k, v] of db.iterator({ gte: 'q!', lt: 'q"', highWaterMarkBytes: HWM }))
      qBytes += storedSize(k, v);
    let dlBytes = 0;
    for await (const [k, v] of db.iterator({ gte: 'd!', lt: 'd"', highWaterMarkBytes: HWM }))
      dlBytes += storedSize(k, v);
    return {
      records: m.records,
      bytes: m.bytes,
      counted_records: n,
      counted_bytes: bytes,
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
    const c = this.#counters;
    return { ...c, avg_commit_records: c.commits > 0 ? c.committed_records / c.commits : 0 };
  }

  // ---- helpers --------------------------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed || !this.#opened) throw this.#closedError();
  }
  #openDb(): ClassicLevel<string, string> {
    this.#assertOpen();
    return this.#db as ClassicLevel<string, string>;
  }
  #closedError(): PlantgateError {
    return new PlantgateError(
      'JOURNAL_CLOSED',
      this.#closed ? 'The journal is closed.' : 'The journal is not open yet.',
    );
  }
  #sink(id: string): SinkRuntime {
    const rt = this.#sinks.get(id);
    if (!rt) throw new PlantgateError('INTERNAL', `Sink "${id}" is not registered with the journal.`);
    return rt;
  }
  #wrapDbError(err: unknown, what: string): unknown {
    if (err instanceof PlantgateError) return err;
    if (this.#closed) return this.#closedError();
    if (levelCode(err) === 'LEVEL_CORRUPTION') {
      this.#noteCorruption(err);
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
  /** Leaves a marker so the next open moves the store aside instead of tripping over the same damage forever. */
  #noteCorruption(err: unknown): void {
    const path = `${this.#opts.dir}/${DAMAGE_MARKER}`;
    if (existsSync(path)) return;
    try {
      writeFileSync(path, JSON.stringify({ at: new Date().toISOString(), error: errText(err) }), {
        mode: PRIVATE_FILE,
      });
    } catch {
      // The log line below still says it.
    }
    this.#log.error(
      { err },
      'The journal store is damaged; it will be moved aside and replaced by a fresh one at the next start.',
    );
  }
  #settleAppend(a: PendingAppend, err?: unknown): void {
    a.unwatch?.();
    a.unwatch = undefined;
    if (err === undefined) a.resolve();
    else a.reject(err);
  }
  #unstall(): void {
    this.#stalled = false;
  }
  #checkAge(): void {
    const maxAge = this.#opts.maxAgeMs;
    if (maxAge === undefined || this.#closed) return;
    if (this.#ageNextAt !== undefined && Date.now() >= this.#ageNextAt) {
      this.#ageDue = true;
      this.#unstall();
      this.#kick();
    }
  }
  #checkKeptAge(): void {
    if (this.#closed) return;
    const now = Date.now();
    const due = (next: number | undefined, b: KeptBound) =>
      (b.maxAgeMs ?? 0) > 0 && next !== undefined && now >= next;
    if (due(this.#qAgeNextAt, this.#qBound) || due(this.#dlAgeNextAt, this.#dlBound)) {
      this.#keptAgeDue = true;
      this.#kick();
    }
  }
  #waitSatisfied(after: number, sink: string | undefined): boolean {
    if (sink === undefined) return this.#meta.last_seq > after;
    const rt = this.#sinks.get(sink);
    return rt !== undefined && rt.doc.last_selected > after;
  }

  // ---- the commit loop ------------------------------------------------------------------------------------------

  #hasWork(): boolean {
    return (
      (this.#appends.length > 0 && !this.#stalled) ||
      this.#acks.length > 0 ||
      this.#deadLetters.length > 0 ||
      this.#quarantines.length > 0 ||
      this.#qRemovals.length > 0 ||
      this.#dlRemovals.length > 0 ||
      this.#sinkChanges.length > 0 ||
      this.#stateWaiters.length > 0 ||
      this.#ageDue ||
      this.#keptAgeDue ||
      this.#deletionBacklog
    );
  }

  #kick(): void {
    if (this.#loop || !this.#db) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = undefined;
      // Work that arrived while the loop was finishing.
      if (this.#hasWork()) this.#kick();
    });
  }

  async #run(): Promise<void> {
    // Let appends issued in the same tick join the first commit.
    await Promise.resolve();
    while (this.#hasWork()) {
      if (this.#failures > 0 && !this.#closed) {
        // Back off while commits fail (full disk): callers are rejected and retry, the loop must not spin.
        await new Promise((r) => setTimeout(r, Math.min(5000, 50 * 2 ** Math.min(this.#failures - 1, 7))));
      }
      if (this.#opts.commitPolicy === 'interval') {
        const wait = this.#lastCommitStart + this.#opts.commitIntervalMs - Date.now();
        if (wait > 0 && !this.#closed) await new Promise((r) => setTimeout(r, wait));
      }
      this.#lastCommitStart = Date.now();
      try {
        await this.#commitOnce();
      } catch (err) {
        // #commitOnce settles its own failures; reaching here is a bug, which must not kill the loop silently.
        this.#failures++;
        this.#log.error({ err }, 'The journal commit loop hit an unexpected error.');
      }
    }
  }

  #newDraft(): Draft {
    const sinks = new Map<string, SinkDoc>();
    const selectors = new Map<string, SinkSelector>();
    for (const rt of this.#sinks.values()) {
      sinks.set(rt.id, cloneSink(rt.doc));
      if (rt.selector) selectors.set(rt.id, rt.selector);
    }
    return {
      meta: cloneMeta(this.#meta),
      sinks,
      selectors,
      removed: [],
      recreated: new Set(),
      first: this.#first,
      firstDirty: false,
      maxDropped: 0,
      keptDrops: { q: 0, dl: 0 },
      keptFreed: { q: false, dl: false },
    };
  }

  async #commitOnce(): Promise<void> {
    const db = this.#db as ClassicLevel<string, string>;
    const draft = this.#newDraft();
    const ops: Op[] = [];
    const onSuccess: Array<() => void> = [];
    const onFailure: Array<(err: unknown) => void> = [];
    const clears: Array<[number, number]> = [];

    const sinkChanges = this.#sinkChanges.splice(0);
    const acks = this.#acks.splice(0);
    const deadLetters = this.#deadLetters.splice(0);
    const quarantines = this.#quarantines.splice(0);
    const qRemovals = this.#qRemovals.splice(0);
    const dlRemovals = this.#dlRemovals.splice(0);
    const stateWaiters = this.#stateWaiters.splice(0);
    const states = this.#states;
    this.#states = new Map();
    this.#inflightStates = states;
    const ageDue = this.#ageDue;
    this.#ageDue = false;
    const keptAgeDue = this.#keptAgeDue;
    this.#keptAgeDue = false;
    this.#deletionBacklog = false;
    let taken: PendingAppend[] = [];
    let batch: ReturnType<ClassicLevel<string, string>['batch']> | undefined;
    const ackedSinks = new Set<string>();

    // A request the journal refuses (unknown sink, seq beyond the end) fails alone; a store error fails the commit.
    // Each step validates before it touches the draft, so a refused request leaves no trace.
    const step = async <T>(s: Settle<T>, fn: () => Promise<T> | T): Promise<void> => {
      try {
        const v = await fn();
        onSuccess.push(() => s.resolve(v));
        onFailure.push(s.reject);
      } catch (err) {
        if (!(err instanceof PlantgateError)) throw err;
        s.reject(err);
      }
    };
    try {
      for (const ch of sinkChanges) await step(ch, () => this.#applySinkChange(draft, ch.sinks));
      for (const a of acks) {
        await step(a, async () => {
          await this.#moveCursor(draft, a.sink, a.seq, 'delivered', a.delivered);
          ackedSinks.add(a.sink);
        });
      }
      const removedDl = new Set<string>();
      for (const d of deadLetters) {
        await step(d, async () => {
          await this.#storeDeadLetter(draft, d, ops, removedDl);
          ackedSinks.add(d.letter.sink);
        });
      }
      for (const r of dlRemovals) {
        await step(r, () => this.#removeDeadLetter(draft, r.batchId, r.outcome, ops, removedDl));
      }
      const removedQ = new Set<number>();
      for (const r of qRemovals)
        await step(r, () => this.#removeQuarantine(draft, r.ids, r.outcome, ops, removedQ));
      if (quarantines.length > 0) {
        // All of this commit's entries at once: the bound then makes room (or refuses) once, not per request.
        for (const q of quarantines) await step(q, () => undefined);
        await this.#addQuarantines(
          draft,
          quarantines.flatMap((q) => q.entries),
          ops,
          removedQ,
        );
      }
      if (keptAgeDue) await this.#keptAgePass(draft, ops, removedQ, removedDl);
      for (const [key, json] of states) ops.push({ type: 'put', key: `s!${key}`, value: json });
      for (const w of stateWaiters) await step(w, () => undefined);

      await this.#deletionPass(draft, clears);
      if (ageDue && this.#opts.maxAgeMs !== undefined) {
        await this.#dropPass(draft, clears, 'max_age', { cutoff: Date.now() - this.#opts.maxAgeMs });
      }
      taken = await this.#takeAppends(draft, clears);
      // A chained batch: the array form of batch() spends several times longer in per-operation JavaScript.
      // Its native buffer is freed only when the handle is collected, like an iterator's (see native-garbage.ts).
      batch = db.batch();
      let batchBytes = this.#writeAppends(draft, taken, batch);
      if (draft.firstDirty) draft.first = await this.#findFirst(db, draft.meta);

      for (const id of draft.removed) ops.push({ type: 'del', key: `c!${id}` });
      for (const [id, doc] of draft.sinks)
        ops.push({ type: 'put', key: `c!${id}`, value: JSON.stringify(doc) });
      ops.push({ type: 'put', key: META_KEY, value: JSON.stringify(draft.meta) });

      for (const o of ops) {
        if (o.type === 'put') {
          batch.put(o.key, o.value);
          batchBytes += o.key.length + o.value.length + 16;
        } else {
          batch.del(o.key);
          batchBytes += o.key.length + 16;
        }
      }
      const writing = batch;
      batch = undefined;
      await writing.write({ sync: true });
      noteIteratorGarbage(batchBytes);
    } catch (err) {
      await batch?.close().catch(() => undefined);
      this.#inflightStates = new Map();
      const e = this.#commitError(err);
      for (const a of taken) this.#settleAppend(a, e);
      for (const f of onFailure) f(e);
      return;
    }
    this.#inflightStates = new Map();
    if (this.#writeError) {
      this.#log.info({ failures: this.#failures }, 'Journal writes succeed again.');
      this.#writeError = undefined;
    }
    this.#failures = 0;
    this.#counters.commits++;
    this.#counters.committed_records += draft.meta.last_seq - this.#meta.last_seq;
    this.#install(draft, ackedSinks);
    for (const a of taken) this.#settleAppend(a);
    for (const f of onSuccess) f();
    for (const [gt, lte] of clears) {
      this.#clearChain = this.#clearChain
        .then(() => db.clear({ gt: seqKey(gt), lte: seqKey(lte) }))
        .catch((err: unknown) => {
          // Not fatal: the deletion is recorded, and the next open clears the range again.
          this.#log.warn({ err }, 'Clearing a deleted journal range failed; it is retried at the next open.');
        });
    }
    this.#notifyWaiters();
    this.#maybeCompact();
  }

  /** Classifies a failed commit for its callers and for /status; logs at most once per 30 s while it lasts. */
  #commitError(err: unknown): unknown {
    this.#failures++;
    const text = errText(err);
    const e = /no space left|ENOSPC/i.test(text)
      ? new PlantgateError(
          'JOURNAL_FULL',
          `The disk holding the journal (${this.#opts.dir}) is full; nothing was written: ${text}.`,
          { cause: err, retryable: true },
        )
      : this.#wrapDbError(err, 'commit');
    const now = Date.now();
    if (!this.#writeError || now - this.#writeErrorLoggedAt >= 30_000) {
      this.#writeErrorLoggedAt = now;
      this.#log.error(
        { err, failures: this.#failures },
        'A journal commit failed; its appends, acks and other operations were rejected and are retried by their callers.',
      );
    }
    this.#writeError = { at: now, error: e instanceof Error ? e.message : text };
    return e;
  }

  /** Makes a synced draft the live state. */
  #install(draft: Draft, ackedSinks: Set<string>): void {
    this.#meta = draft.meta;
    // Room made otherwise (replay, purge, age) ends an episode; a byte-bound drop in the same commit starts one.
    if (draft.keptFreed.q) this.#qEpisode = undefined;
    if (draft.keptFreed.dl) this.#dlEpisode = undefined;
    if (draft.keptDrops.q > 0)
      this.#qEpisode = this.#noteKeptDrops('quarantine', this.#qEpisode, draft.keptDrops.q);
    if (draft.keptDrops.dl > 0)
      this.#dlEpisode = this.#noteKeptDrops('dead_letters', this.#dlEpisode, draft.keptDrops.dl);
    this.#first = draft.first;
    for (const id of draft.removed) this.#sinks.delete(id);
    for (const [id, doc] of draft.sinks) {
      const rt = this.#sinks.get(id);
      if (rt) {
        rt.doc = doc;
        rt.selector = draft.selectors.get(id);
        if (draft.recreated.has(id)) rt.reads = [];
      } else {
        this.#sinks.set(id, { id, doc, selector: draft.selectors.get(id), reads: [] });
      }
    }
    for (const id of ackedSinks) {
      const rt = this.#sinks.get(id);
      if (rt) rt.reads = rt.reads.filter((r) => r.to > rt.doc.cursor);
    }
    if (draft.maxDropped > 0) {
      this.#dropEpoch++;
      for (const rt of this.#sinks.values()) rt.reads = rt.reads.filter((r) => r.after >= draft.maxDropped);
    }
  }

  #applySinkChange(draft: Draft, sinks: readonly SinkSelector[]): void {
    const wanted = new Map(sinks.map((s) => [s.id, s]));
    for (const id of [...draft.sinks.keys()]) {
      if (wanted.has(id)) continue;
      const doc = draft.sinks.get(id) as SinkDoc;
      draft.sinks.delete(id);
      draft.selectors.delete(id);
      draft.removed.push(id);
      this.#log.warn(
        { sink: id, queued: doc.queued, cursor: doc.cursor },
        `Sink "${id}" is no longer configured; the journal stops holding its ${doc.queued} queued records.`,
      );
    }
    const used = new Set([...draft.sinks.values()].map((d) => d.bit));
    for (const [id, sel] of wanted) {
      draft.selectors.set(id, sel);
      if (draft.sinks.has(id)) continue;
      let bit = 0;
      while (used.has(bit)) bit++;
      used.add(bit);
      // A new sink starts at the current end: records already in the journal were not selected for it.
      const end = draft.meta.last_seq;
      draft.sinks.set(id, {
        bit,
        cursor: end,
        last_selected: end,
        ingested: 0,
        delivered: 0,
        queued: 0,
        dead_lettered: 0,
        dropped: {},
      });
      const ri = draft.removed.indexOf(id);
      if (ri >= 0) draft.removed.splice(ri, 1);
      draft.recreated.add(id);
      this.#log.info({ sink: id, cursor: end }, `Sink "${id}" registered with the journal.`);
    }
  }

  /** Counts the live records `sink` selects in (from, to]: from what the last reads returned, or by a scan. */
  async #countSelected(draft: Draft, id: string, doc: SinkDoc, from: number, to: number): Promise<number> {
    if (doc.last_selected <= from) return 0;
    const rt = this.#sinks.get(id);
    if (rt && rt.doc.bit === doc.bit) {
      let pos = from;
      let count = 0;
      for (;;) {
        let best: ReadMark | undefined;
        for (const r of rt.reads) if (r.after === pos && r.to <= to && (!best || r.to > best.to)) best = r;
        if (!best) break;
        count += best.count;
        pos = best.to;
        if (pos === to) return count;
      }
    }
    const bit = 1 << doc.bit;
    let n = 0;
    await this.#scan(draft, from, to, (_k, v) => {
      if ((maskOf(v) & bit) !== 0) n++;
    });
    return n;
  }

  /** Visits live records in (from, to] as the draft sees them; `visit` returns false to stop. */
  async #scan(draft: Draft, from: number, to: number, visit: (k: string, v: string) => unknown) {
    const A = draft.meta.deleted_through;
    const D = draft.meta.drop_frontier;
    const start = Math.max(from, A) + 1;
    if (start > to) return;
    const it = (this.#db as ClassicLevel<string, string>).iterator({
      gte: seqKey(start),
      lte: seqKey(to),
      highWaterMarkBytes: HWM,
    });
    let lastChunk: Array<[string, string]> = [];
    try {
      for (;;) {
        const chunk = await it.nextv(1000);
        lastChunk = chunk;
        if (chunk.length === 0) return;
        for (const [k, v] of chunk) {
          if (!isEvent(v) && seqOf(k) <= D) continue;
          if (visit(k, v) === false) return;
        }
      }
    } finally {
      await it.close().catch(() => undefined);
      noteIteratorGarbage(chunkFootprint(lastChunk));
    }
  }

  async #moveCursor(
    draft: Draft,
    id: string,
    seq: number,
    as: 'delivered' | 'dead_lettered',
    claimed: number,
  ): Promise<number> {
    const doc = draft.sinks.get(id);
    if (!doc) throw new PlantgateError('INTERNAL', `Sink "${id}" is not registered with the journal.`);
    if (!Number.isSafeInteger(seq) || seq > draft.meta.last_seq) {
      throw new PlantgateError('INTERNAL', `Sink "${id}" acknowledged seq ${seq}, beyond the journal's end.`);
    }
    if (seq <= doc.cursor) return 0;
    const n = await this.#countSelected(draft, id, doc, doc.cursor, seq);
    // drop_oldest may delete readings a forwarder had already read into an in-flight batch; the receiver then
    // got them after all, so the ledger moves them from dropped to delivered instead of claiming a loss.
    if (as === 'delivered' && claimed > n && doc.cursor < draft.meta.drop_frontier) {
      let extra = claimed - n;
      for (const reason of ['max_bytes', 'max_age']) {
        const have = doc.dropped[reason] ?? 0;
        const take = Math.min(have, extra);
        if (take === 0) continue;
        doc.dropped[reason] = have - take;
        if (doc.dropped[reason] === 0) delete doc.dropped[reason];
        doc.delivered += take;
        extra -= take;
      }
      claimed = n + extra;
    }
    if (as === 'delivered' && n !== claimed) {
      this.#log.warn(
        { sink: id, seq, claimed, counted: n },
        `Sink "${id}" acknowledged ${claimed} records up to seq ${seq}, but ${n} of its records were waiting there; the ledger counts ${n} delivered.`,
      );
    }
    doc.cursor = seq;
    doc.queued -= n;
    doc[as] += n;
    return n;
  }

  async #storeDeadLetter(draft: Draft, d: PendingDeadLetter, ops: Op[], removed: Set<string>): Promise<void> {
    const key = `d!${d.letter.batch_id}`;
    const pendingPut = ops.find((o): o is Op & { type: 'put' } => o.type === 'put' && o.key === key);
    const old = pendingPut?.value ?? (await (this.#db as ClassicLevel<string, string>).get(key));
    const n = await this.#moveCursor(
      draft,
      d.letter.sink,
      d.lastSeq,
      'dead_lettered',
      d.letter.records.length,
    );
    // Idempotent: a batch dead-lettered again (after a crash) keeps one entry; its count only grows by what moved.
    const stored: StoredDeadLetter = old === undefined ? { letter: d.letter, counted: 0 } : JSON.parse(old);
    stored.counted += n;
    const value = JSON.stringify(stored);
    const m = draft.meta;
    const b = this.#dlBound;
    const oldSize = old === undefined ? 0 : storedSize(key, old);
    const size = storedSize(key, value);
    let fits = m.dl_bytes - oldSize + size <= b.maxBytes;
    if (!fits && b.whenFull === 'drop_oldest' && size <= b.maxBytes) {
      const need = m.dl_bytes - oldSize + size - b.maxBytes;
      const freed = await this.#dropOldDeadLetters(draft, ops, removed, 'max_bytes', {
        needBytes: need,
        keep: d.letter.batch_id,
      });
      fits = freed >= need;
    }
    if (!fits) {
      // Kept nowhere: the batch's records are counted dropped for the sink (an older copy of it stays as it was).
      const doc = draft.sinks.get(d.letter.sink) as SinkDoc;
      doc.dead_lettered -= n;
      bump(doc.dropped, 'dead_letters_max_bytes', n);
      bump(m.dl_dropped, 'max_bytes', 1);
      m.dl_dropped_records += n;
      draft.keptDrops.dl++;
      return;
    }
    if (old === undefined) m.dl_batches++;
    m.dl_records += n;
    m.dl_bytes += size - oldSize;
    if (pendingPut) pendingPut.value = value;
    else ops.push({ type: 'put', key, value });
    ops.push({ type: 'put', key: timeKey(stored.letter.at, stored.letter.batch_id), value: '' });
    if (this.#dlAgeNextAt === undefined && (b.maxAgeMs ?? 0) > 0)
      this.#dlAgeNextAt = stored.letter.at + (b.maxAgeMs as number);
  }

  async #removeDeadLetter(
    draft: Draft,
    batchId: string,
    outcome: 'delivered' | 'purged',
    ops: Op[],
    removed: Set<string>,
  ): Promise<DeadLetter | undefined> {
    return (await this.#deleteDeadLetter(draft, batchId, outcome, ops, removed))?.letter;
  }

  /** Removes a dead letter and its time index entry; `max_bytes`/`max_age` are drops by the bound. */
  async #deleteDeadLetter(
    draft: Draft,
    batchId: string,
    outcome: 'delivered' | 'purged' | 'max_bytes' | 'max_age',
    ops: Op[],
    removed: Set<string>,
  ): Promise<{ letter: DeadLetter; bytes: number } | undefined> {
    const key = `d!${batchId}`;
    if (removed.has(key)) return undefined;
    const pendingPut = ops.find((o): o is Op & { type: 'put' } => o.type === 'put' && o.key === key);
    const v = pendingPut?.value ?? (await (this.#db as ClassicLevel<string, string>).get(key));
    if (v === undefined) return undefined;
    const s = JSON.parse(v) as StoredDeadLetter;
    removed.add(key);
    ops.push({ type: 'del', key });
    ops.push({ type: 'del', key: timeKey(s.letter.at, batchId) });
    const m = draft.meta;
    const bytes = storedSize(key, v);
    m.dl_batches--;
    m.dl_records -= s.counted;
    m.dl_bytes -= bytes;
    if (m.dl_batches === 0) m.dl_bytes = 0;
    const doc = draft.sinks.get(s.letter.sink);
    if (doc) {
      doc.dead_lettered -= s.counted;
      if (outcome === 'delivered') doc.delivered += s.counted;
      else if (outcome === 'purged') bump(doc.dropped, 'purged', s.counted);
      else bump(doc.dropped, `dead_letters_${outcome}`, s.counted);
    }
    if (outcome === 'max_bytes' || outcome === 'max_age') {
      bump(m.dl_dropped, outcome, 1);
      m.dl_dropped_records += s.counted;
    }
    if (outcome === 'max_bytes') draft.keptDrops.dl++;
    else draft.keptFreed.dl = true;
    return { letter: s.letter, bytes };
  }

  /**
   * Drops dead letters oldest first (by the time they were dead-lettered) until `needBytes` are freed or, with
   * `cutoff`, at the first one dead-lettered at or after it. Returns the bytes freed.
   */
  async #dropOldDeadLetters(
    draft: Draft,
    ops: Op[],
    removed: Set<string>,
    cause: 'max_bytes' | 'max_age',
    stop: { needBytes?: number; cutoff?: number; keep?: string },
  ): Promise<number> {
    const db = this.#db as ClassicLevel<string, string>;
    let freed = 0;
    let n = 0;
    let stoppedAt: number | undefined;
    let more = false;
    const it = db.keys({ gte: 't!', lt: 't"' });
    try {
      for await (const k of it) {
        if (stop.needBytes !== undefined && freed >= stop.needBytes) {
          more = true;
          break;
        }
        const at = hexAt(k, 2, 12);
        if (stop.cutoff !== undefined && at >= stop.cutoff) {
          stoppedAt = at;
          break;
        }
        if (n >= MAX_KEPT_DROP_PER_PASS) {
          more = true;
          break;
        }
        const batchId = k.slice(14);
        if (batchId === stop.keep || removed.has(`d!${batchId}`)) continue;
        const r = await this.#deleteDeadLetter(draft, batchId, cause, ops, removed);
        // An index entry without its letter (cannot happen in one synced batch, but costs nothing to heal).
        if (!r) ops.push({ type: 'del', key: k });
        else freed += r.bytes;
        n++;
      }
    } finally {
      await it.close().catch(() => undefined);
    }
    if (cause === 'max_age') {
      const maxAge = this.#dlBound.maxAgeMs ?? 0;
      if (more) this.#keptAgeDue = true;
      else this.#dlAgeNextAt = stoppedAt === undefined ? undefined : stoppedAt + maxAge;
    }
    return freed;
  }

  /** Adds quarantine entries within the bound: drops the oldest entries, or refuses new ones (`drop_newest`). */
  async #addQuarantines(
    draft: Draft,
    entries: ReadonlyArray<Omit<QuarantineEntry, 'id'>>,
    ops: Op[],
    removed: Set<number>,
  ): Promise<void> {
    const m = draft.meta;
    const b = this.#qBound;
    const items = entries.map((e) => {
      const id = m.next_q_id++;
      const key = `q!${hex16(id)}`;
      const value = encodeTagged({ ...e, id });
      m.q_total++;
      bump(m.q_by_reason, e.reason, 1);
      return { e, key, value, size: storedSize(key, value), keep: true };
    });
    const refuse = (it: { keep: boolean }) => {
      it.keep = false;
      bump(m.q_dropped, 'max_bytes', 1);
      draft.keptDrops.q++;
    };
    // An entry larger than the whole bound can never be kept.
    for (const it of items) if (it.size > b.maxBytes) refuse(it);
    if (b.whenFull === 'drop_newest') {
      let bytes = m.q_bytes;
      for (const it of items) {
        if (!it.keep) continue;
        if (bytes + it.size > b.maxBytes) refuse(it);
        else bytes += it.size;
      }
    } else {
      let total = 0;
      for (const it of items) if (it.keep) total += it.size;
      const need = m.q_bytes + total - b.maxBytes;
      if (need > 0) {
        let over =
          need - (await this.#dropOldQuarantine(draft, ops, removed, 'max_bytes', { needBytes: need }));
        // Only this commit's own entries are left to drop: the oldest of them go first.
        for (const it of items) {
          if (over <= 0) break;
          if (!it.keep) continue;
          refuse(it);
          over -= it.size;
        }
      }
    }
    for (const it of items) {
      if (!it.keep) continue;
      ops.push({ type: 'put', key: it.key, value: it.value });
      m.q_held++;
      bump(m.q_held_by_reason, it.e.reason, 1);
      m.q_bytes += it.size;
      if (this.#qAgeNextAt === undefined && (b.maxAgeMs ?? 0) > 0)
        this.#qAgeNextAt = it.e.at + (b.maxAgeMs as number);
    }
  }

  /**
   * Drops quarantine entries oldest first (in id order) until `needBytes` are freed or, with `cutoff`, at the first
   * entry quarantined at or after it. Returns the bytes freed.
   */
  async #dropOldQuarantine(
    draft: Draft,
    ops: Op[],
    removed: Set<number>,
    cause: 'max_bytes' | 'max_age',
    stop: { needBytes?: number; cutoff?: number },
  ): Promise<number> {
    const m = draft.meta;
    let freed = 0;
    let n = 0;
    let stoppedAt: number | undefined;
    let more = false;
    const it = (this.#db as ClassicLevel<string, string>).iterator({
      gte: `q!${hex16(m.q_low)}`,
      lt: 'q"',
      highWaterMarkBytes: HWM,
    });
    try {
      for await (const [k, v] of it) {
        if (stop.needBytes !== undefined && freed >= stop.needBytes) {
          more = true;
          break;
        }
        const id = hexAt(k, 2, 16);
        if (removed.has(id)) continue;
        // Tagged JSON is JSON: `at` and `reason` are plain, no need to decode the sample.
        const e = JSON.parse(v) as { at?: unknown; reason?: unknown };
        const at = typeof e.at === 'number' ? e.at : 0;
        if (stop.cutoff !== undefined && at >= stop.cutoff) {
          stoppedAt = at;
          break;
        }
        if (n >= MAX_KEPT_DROP_PER_PASS) {
          more = true;
          break;
        }
        removed.add(id);
        ops.push({ type: 'del', key: k });
        const size = storedSize(k, v);
        m.q_held--;
        bump(m.q_held_by_reason, String(e.reason), -1);
        m.q_bytes -= size;
        bump(m.q_dropped, cause, 1);
        m.q_low = id + 1;
        if (cause === 'max_bytes') draft.keptDrops.q++;
        else draft.keptFreed.q = true;
        freed += size;
        n++;
      }
    } finally {
      await it.close().catch(() => undefined);
    }
    if (m.q_held === 0) m.q_bytes = 0;
    if (cause === 'max_age') {
      const maxAge = this.#qBound.maxAgeMs ?? 0;
      if (more) this.#keptAgeDue = true;
      else this.#qAgeNextAt = stoppedAt === undefined ? undefined : stoppedAt + maxAge;
    }
    return freed;
  }

  /** Drops quarantine entries and dead letters older than their `max_age`. */
  async #keptAgePass(draft: Draft, ops: Op[], removedQ: Set<number>, removedDl: Set<string>): Promise<void> {
    const now = Date.now();
    const qAge = this.#qBound.maxAgeMs ?? 0;
    if (qAge > 0 && this.#qAgeNextAt !== undefined && now >= this.#qAgeNextAt)
      await this.#dropOldQuarantine(draft, ops, removedQ, 'max_age', { cutoff: now - qAge });
    const dlAge = this.#dlBound.maxAgeMs ?? 0;
    if (dlAge > 0 && this.#dlAgeNextAt !== undefined && now >= this.#dlAgeNextAt)
      await this.#dropOldDeadLetters(draft, ops, removedDl, 'max_age', { cutoff: now - dlAge });
  }

  async #removeQuarantine(
    draft: Draft,
    ids: readonly number[],
    outcome: 'replayed' | 'purged',
    ops: Op[],
    removed: Set<number>,
  ): Promise<number> {
    const unique = [...new Set(ids)].filter((id) => !removed.has(id));
    if (unique.length === 0) return 0;
    const keys = unique.map((id) => `q!${hex16(id)}`);
    const values = await (this.#db as ClassicLevel<string, string>).getMany(keys);
    const m = draft.meta;
    let n = 0;
    values.forEach((v, i) => {
      if (v === undefined) return;
      const e = decodeTagged<QuarantineEntry>(v);
      ops.push({ type: 'del', key: keys[i] as string });
      removed.add(unique[i] as number);
      m.q_bytes -= storedSize(keys[i] as string, v);
      draft.keptFreed.q = true;
      m.q_held--;
      bump(m.q_held_by_reason, e.reason, -1);
      if (outcome === 'replayed') m.q_replayed++;
      else m.q_purged++;
      n++;
    });
    return n;
  }

  /** Deletes the records behind every sink's cursor (in one range) once the draft's cursors passed them. */
  async #deletionPass(draft: Draft, clears: Array<[number, number]>): Promise<void> {
    const m = draft.meta;
    let target = m.last_seq;
    for (const doc of draft.sinks.values()) {
      // A sink with nothing selected after its cursor does not hold anything back.
      if (doc.last_selected > doc.cursor) target = Math.min(target, doc.cursor);
    }
    const A = m.deleted_through;
    if (target <= A) return;
    if (target - A > MAX_DELETE_PER_PASS) {
      target = A + MAX_DELETE_PER_PASS;
      this.#deletionBacklog = true;
    }
    let n = 0;
    let bytes = 0;
    await this.#scan(draft, A, target, (k, v) => {
      n++;
      bytes += storedSize(k, v);
    });
    m.records -= n;
    m.bytes -= bytes;
    m.deleted_through = target;
    if (m.records === 0) m.bytes = 0;
    clears.push([A, target]);
    draft.firstDirty = true;
    this.#counters.deletion_passes++;
  }

  /**
   * Drops the oldest readings (never events), counting them per sink that selected them and had not acknowledged
   * them. Stops when `needBytes` are freed or at the first record not older than `cutoff`.
   */
  async #dropPass(
    draft: Draft,
    clears: Array<[number, number]>,
    reason: 'max_bytes' | 'max_age',
    stop: { needBytes?: number; cutoff?: number },
  ): Promise<{ freed: number; exhausted: boolean }> {
    const m = draft.meta;
    const bySink: Array<SinkDoc | undefined> = new Array(MAX_SINKS);
    for (const doc of draft.sinks.values()) bySink[doc.bit] = doc;
    let freed = 0;
    let dropped = 0;
    let runStart = 0;
    let runEnd = 0;
    let exhausted = true;
    const closeRun = () => {
      if (runEnd > 0) clears.push([runStart - 1, runEnd]);
      runEnd = 0;
    };
    let stoppedAt: number | undefined;
    await this.#scan(draft, Math.max(m.deleted_through, m.drop_frontier), m.last_seq, (k, v) => {
      if (stop.cutoff !== undefined && atOf(v) >= stop.cutoff) {
        exhausted = false;
        stoppedAt = atOf(v);
        return false;
      }
      if ((stop.needBytes !== undefined && freed >= stop.needBytes) || dropped >= MAX_DROP_PER_PASS) {
        exhausted = false;
        return false;
      }
      if (isEvent(v)) {
        closeRun();
        return true;
      }
      const seq = seqOf(k);
      const size = storedSize(k, v);
      let mask = maskOf(v);
      for (let bit = 0; mask !== 0; bit++, mask >>>= 1) {
        if ((mask & 1) === 0) continue;
        const doc = bySink[bit];
        if (doc && doc.cursor < seq) {
          bump(doc.dropped, reason, 1);
          doc.queued--;
        }
      }
      m.records--;
      m.bytes -= size;
      m.drop_frontier = seq;
      freed += size;
      dropped++;
      if (runEnd === 0) runStart = seq;
      runEnd = seq;
      return true;
    });
    closeRun();
    if (dropped > 0) {
      if (m.records === 0) m.bytes = 0;
      draft.maxDropped = m.drop_frontier;
      draft.firstDirty = true;
      this.#counters.drop_passes++;
      this.#noteDrops(dropped, reason);
    }
    if (reason === 'max_age') {
      // The next age pass is due when the record this one stopped at gets too old (records are in append order).
      if (dropped >= MAX_DROP_PER_PASS) this.#ageDue = true;
      else this.#ageNextAt = stoppedAt === undefined ? undefined : stoppedAt + (this.#opts.maxAgeMs ?? 0);
    }
    return { freed, exhausted };
  }

  #noteDrops(n: number, reason: string): void {
    this.#droppedSinceLog += n;
    const now = Date.now();
    // One line per minute at most: drops are counted per sink in the ledger and metrics, not logged per record.
    if (now - this.#lastDropLogAt >= 60_000) {
      this.#log.warn(
        { dropped: this.#droppedSinceLog, reason, max_bytes: this.#opts.maxBytes },
        `The journal dropped ${this.#droppedSinceLog} of its oldest readings (${reason}); see the ledger for each sink.`,
      );
      this.#lastDropLogAt = now;
      this.#droppedSinceLog = 0;
    }
  }

  /** Takes queued appends (FIFO) that fit; with drop_oldest makes room first. */
  async #takeAppends(draft: Draft, clears: Array<[number, number]>): Promise<PendingAppend[]> {
    if (this.#appends.length === 0 || this.#stalled) return [];
    const maxRecords = this.#opts.maxCommitRecords ?? 20_000;
    let n = 0;
    let bytes = 0;
    let count = 0;
    for (const a of this.#appends) {
      if (count > 0 && (n + a.records.length > maxRecords || bytes + a.bytes > MAX_COMMIT_BYTES)) break;
      n += a.records.length;
      bytes += a.bytes;
      count++;
    }
    const m = draft.meta;
    const max = this.#opts.maxBytes;
    let eventsOnly = false;
    if (m.bytes + bytes > max && this.#opts.whenFull === 'drop_oldest') {
      const need = m.bytes + bytes - max;
      const r = await this.#dropPass(draft, clears, 'max_bytes', { needBytes: need });
      eventsOnly = r.freed < need && r.exhausted;
    }
    while (count > 0 && m.bytes + bytes > max) {
      count--;
      bytes -= (this.#appends[count] as PendingAppend).bytes;
    }
    const taken = this.#appends.splice(0, count);
    for (const a of taken) {
      a.unwatch?.();
      a.unwatch = undefined;
    }
    if (this.#appends.length > 0 && count === 0) {
      // The head does not fit; with drop_oldest, the pass limit may just need another round.
      if (this.#opts.whenFull === 'block' || eventsOnly) {
        this.#stalled = true;
        this.#setBlocked(true, eventsOnly);
      }
    } else if (this.#blocked && (this.#appends.length === 0 || count > 0)) {
      this.#setBlocked(false, false);
    }
    return taken;
  }

  /** Starts or extends an episode of byte-bound drops; one warning per episode and at most one per 10 minutes. */
  #noteKeptDrops(
    which: 'quarantine' | 'dead_letters',
    ep: { since: number; last: number; logged: number } | undefined,
    n: number,
  ): { since: number; last: number; logged: number } {
    const now = Date.now();
    const bound = which === 'quarantine' ? this.#qBound : this.#dlBound;
    const next = ep && this.#episodeActive(ep, now) ? ep : { since: now, last: now, logged: 0 };
    next.last = now;
    if (now - next.logged >= KEPT_EPISODE_MS) {
      next.logged = now;
      const m = this.#meta;
      const what = which === 'quarantine' ? 'quarantine entries' : 'dead-letter batches';
      const dropped = which === 'quarantine' ? m.q_dropped.max_bytes : m.dl_dropped.max_bytes;
      this.#log.warn(
        {
          [which]: { bytes: which === 'quarantine' ? m.q_bytes : m.dl_bytes, max_bytes: bound.maxBytes },
          dropped_now: n,
          dropped_total: dropped ?? 0,
          when_full: bound.whenFull,
        },
        `The ${which === 'quarantine' ? 'quarantine' : 'dead-letter store'} is at its bound (storage.${which}.max_bytes ${bound.maxBytes}); ${
          bound.whenFull === 'drop_oldest' ? `its oldest ${what} are dropped` : `new ${what} are dropped`
        } and counted. Replay or purge them, or raise the bound.`,
      );
    }
    return next;
  }

  #episodeActive(ep: { since: number; last: number } | undefined, now: number): boolean {
    return ep !== undefined && now - ep.last < KEPT_EPISODE_MS;
  }

  #keptStats(which: 'quarantine' | 'dead_letters'): KeptStats {
    const m = this.#meta;
    const b = which === 'quarantine' ? this.#qBound : this.#dlBound;
    const ep = which === 'quarantine' ? this.#qEpisode : this.#dlEpisode;
    const active = this.#episodeActive(ep, Date.now());
    return {
      bytes: which === 'quarantine' ? m.q_bytes : m.dl_bytes,
      max_bytes: b.maxBytes,
      ...((b.maxAgeMs ?? 0) > 0 ? { max_age_ms: b.maxAgeMs } : {}),
      when_full: b.whenFull,
      dropped: { ...(which === 'quarantine' ? m.q_dropped : m.dl_dropped) },
      ...(active && ep ? { dropping_since: ep.since } : {}),
    };
  }

  #setBlocked(on: boolean, eventsOnly: boolean): void {
    if (on === this.#blocked) return;
    this.#blocked = on;
    const ctx = { bytes: this.#meta.bytes, max_bytes: this.#opts.maxBytes, records: this.#meta.records };
    if (on) {
      this.#blockedSince = Date.now();
      if (eventsOnly) {
        this.#log.error(
          ctx,
          'The journal is full and only holds events that sinks have not acknowledged; events are never dropped, so appends now wait until a sink acknowledges.',
        );
      } else {
        this.#log.warn(
          ctx,
          'The journal is full; appends wait until sinks acknowledge records (when_full: block).',
        );
      }
    } else {
      this.#log.info(
        { ...ctx, blocked_ms: Date.now() - this.#blockedSince },
        'The journal has room again; appends continue.',
      );
    }
  }

  /** Assigns seqs and sink masks to the taken appends and puts them into the batch; returns the bytes put. */
  #writeAppends(draft: Draft, taken: PendingAppend[], batch: ChainedBatchLike): number {
    if (taken.length === 0) return 0;
    const m = draft.meta;
    const wasEmpty = m.records === 0;
    const at = Math.max(Date.now(), m.last_at);
    m.last_at = at;
    if (this.#ageNextAt === undefined && this.#opts.maxAgeMs !== undefined)
      this.#ageNextAt = at + this.#opts.maxAgeMs;
    const atHex = at.toString(16).padStart(12, '0');
    const sel: Array<{ bit: number; selector: SinkSelector; doc: SinkDoc }> = [];
    for (const [id, selector] of draft.selectors) {
      const doc = draft.sinks.get(id);
      if (doc) sel.push({ bit: doc.bit, selector, doc });
    }
    const firstSeq = m.last_seq + 1;
    // Headers repeat within a commit (same time, few masks): build each once.
    const headers = new Map<number, string>();
    let bytes = 0;
    for (const a of taken) {
      const recs = a.records;
      for (let i = 0; i < recs.length; i++) {
        const rec = recs[i] as CanonicalRecord;
        const seq = ++m.last_seq;
        let mask = 0;
        for (const s of sel) {
          if (s.selector.select(rec)) {
            mask |= 1 << s.bit;
            s.doc.ingested++;
            s.doc.queued++;
            s.doc.last_selected = seq;
          }
        }
        const event = rec.kind === 'event';
        const hk = event ? -1 - mask : mask;
        let header = headers.get(hk);
        if (header === undefined) {
          header = (mask >>> 0).toString(16).padStart(8, '0') + (event ? 'e' : 'r') + atHex;
          headers.set(hk, header);
        }
        const value = header + a.values[i];
        batch.put(seqKey(seq), value);
        bytes += KEY_LEN + value.length;
      }
      m.records += recs.length;
      m.bytes += a.bytes;
      m.appended += recs.length;
    }
    if (wasEmpty) {
      draft.first = { seq: firstSeq, at };
      draft.firstDirty = false;
    }
    return bytes;
  }

  /** The oldest live record (seq and append time), for stats. */
  async #findFirst(
    db: ClassicLevel<string, string>,
    meta: MetaDoc,
  ): Promise<{ seq: number; at: number } | undefined> {
    if (meta.records === 0) return undefined;
    const it = db.iterator({ gt: seqKey(meta.deleted_through), lt: J_END });
    let lastChunk: Array<[string, string]> = [];
    try {
      for (;;) {
        const chunk = await it.nextv(256);
        lastChunk = chunk;
        if (chunk.length === 0) return undefined;
        for (const [k, v] of chunk) {
          const seq = seqOf(k);
          if (!isEvent(v) && seq <= meta.drop_frontier) continue;
          return { seq, at: atOf(v) };
        }
      }
    } finally {
      await it.close().catch(() => undefined);
      noteIteratorGarbage(chunkFootprint(lastChunk));
    }
  }

  #notifyWaiters(): void {
    for (const w of this.#waiters) {
      if (this.#waitSatisfied(w.after, w.sink)) {
        this.#waiters.delete(w);
        w.cleanup();
        w.resolve();
      }
    }
  }

  #maybeCompact(): void {
    const every = this.#opts.compactEvery ?? 250_000;
    const through = Math.max(this.#meta.deleted_through, this.#meta.drop_frontier);
    if (this.#compaction || through - this.#compactedThrough < every) return;
    const db = this.#db as ClassicLevel<string, string>;
    const from = this.#compactedThrough;
    // Wait for the pending range clears so the compaction sees their tombstones.
    this.#compaction = this.#clearChain
      .then(() => db.compactRange(seqKey(from), seqKey(through + 1)))
      .then(
        () => {
          this.#compactedThrough = through;
          this.#counters.compactions++;
        },
        (err: unknown) => {
          if (!this.#closed) this.#log.warn({ err }, 'Compacting the deleted journal range failed.');
        },
      )
      .finally(() => {
        this.#compaction = undefined;
      });
  }

  /**
   * Read-only: the last `limit` records still in the journal (any sink, dropped readings skipped), oldest first.
   * The ingest path recovers the ids of the most recent appends from it at start (DuplicateFilter in ingest.ts).
   */
  async readTail(limit: number): Promise<JournalEntry[]> {
    if (!Number.isInteger(limit) || limit < 1) return [];
    const db = this.#openDb();
    const D = this.#meta.drop_frontier;
    const out: JournalEntry[] = [];
    const it = db.iterator({
      gt: seqKey(this.#meta.deleted_through),
      lt: J_END,
      reverse: true,
      highWaterMarkBytes: HWM,
    });
    let lastChunk: Array<[string, string]> = [];
    try {
      while (out.length < limit) {
        const chunk = await it.nextv(Math.min(1000, Math.max(64, limit - out.length)));
        lastChunk = chunk;
        if (chunk.length === 0) break;
        for (const [k, v] of chunk) {
          const seq = seqOf(k);
          if (seq <= D && !isEvent(v)) continue;
          out.push(new StoredEntry(seq, storedSize(k, v), v.slice(HEADER_LEN)));
          if (out.length >= limit) break;
        }
      }
    } catch (err) {
      throw this.#wrapDbError(err, 'read');
    } finally {
      await it.close().catch(() => undefined);
      noteIteratorGarbage(chunkFootprint(lastChunk));
    }
    return out.reverse();
  }
}

const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;
let umaskHolders = 0;
let savedUmask = 0;
/**
 * While any journal is open the process umask also masks group and other bits (077 added to what it was):
 * LevelDB creates its table and log files from its own threads all along, so a chmod after open would miss them.
 * Restored when the last journal closes. Worker threads cannot change the umask; there the open-time pass alone
 * applies.
 */
function holdPrivateUmask(): void {
  if (!isMainThread) return;
  if (umaskHolders++ === 0) {
    savedUmask = process.umask(0o077);
    process.umask(savedUmask | 0o077);
  }
}
function releasePrivateUmask(): void {
  if (!isMainThread || umaskHolders === 0) return;
  if (--umaskHolders === 0) process.umask(savedUmask);
}

/** A page scans at most this many entries per item asked for, so a rare filter cannot make one page read everything. */
const PAGE_SCAN_FACTOR = 20;

function checkLimit(limit: unknown, what: string): void {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new PlantgateError(
      'INVALID_ARGUMENT',
      `${what}: limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}; got ${String(limit)}.`,
    );
  }
}

function abortedError(): PlantgateError {
  return new PlantgateError('ABORTED', 'The append was aborted while it waited for room in the journal.');
}
