// The journal's key/value layout and codec: how records, cursors, meta, quarantine, dead letters and state are
// keyed in the one LevelDB store, the fixed-width record header, the persisted documents (meta and sink ledger),
// and the scans that count or find live records. Everything here is shared by the other journal modules and
// knows nothing of the commit loop.
import type { ClassicLevel } from 'classic-level';
import { PlantgateError } from '../kit/errors.js';
import type { CanonicalRecord } from '../model/records.js';
import { ENTRY_OVERHEAD, noteIteratorGarbage } from './native-garbage.js';
import { type DeadLetter, type JournalEntry, MAX_PAGE_LIMIT } from './types.js';

export type Db = ClassicLevel<string, string>;

// j!<seq, 16 hex>   journal record: <mask 8 hex><kind r|e><append time ms, 12 hex><record JSON>
// c!<sink>          sink cursor and ledger (JSON)
// m!journal         journal meta: last seq, counters, deletion and drop frontiers (JSON)
// q!<id, 16 hex>    quarantine entry (tagged JSON)
// d!<batch id>      dead letter (JSON)
// t!<at, 12 hex><batch id>   time index of the dead letters (empty value): oldest first for the bound and paging
// s!<key>           derived-event state (JSON)
export const J = 'j!';
export const J_END = 'j"';
export const KEY_LEN = 18;
export const HEADER_LEN = 21;
export const META_KEY = 'm!journal';
export const MAX_SINKS = 30;
const CH_E = 101; // 'e'

/**
 * Bytes one native iterator step may fetch. classic-level's default (16 KiB, about 70 records) makes a
 * 1000-record read cross to the thread pool 15 times; 1 MiB bounds the memory of one step all the same.
 */
export const HWM = 1024 * 1024;

/** A page scans at most this many entries per item asked for, so a rare filter cannot make one page read everything. */
export const PAGE_SCAN_FACTOR = 20;

export function checkLimit(limit: unknown, what: string): void {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new PlantgateError(
      'INVALID_ARGUMENT',
      `${what}: limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}; got ${String(limit)}.`,
    );
  }
}

export function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}
/** Key of a dead letter in the time index: oldest first, then by batch id. */
export function timeKey(at: number, batchId: string): string {
  const t = Number.isFinite(at) ? Math.min(Math.max(0, Math.floor(at)), 2 ** 48 - 1) : 0;
  return `t!${t.toString(16).padStart(12, '0')}${batchId}`;
}
export function seqKey(seq: number): string {
  return J + hex16(seq);
}
/** Parses `len` hex digits of `s` from `start` without allocating a substring (hot path of read). */
export function hexAt(s: string, start: number, len: number): number {
  let n = 0;
  for (let i = start; i < start + len; i++) {
    const c = s.charCodeAt(i);
    n = n * 16 + (c <= 57 ? c - 48 : c - 87);
  }
  return n;
}
export const seqOf = (k: string): number => hexAt(k, 2, 16);
export const maskOf = (v: string): number => hexAt(v, 0, 8);
export const isEvent = (v: string): boolean => v.charCodeAt(8) === CH_E;
export const atOf = (v: string): number => hexAt(v, 9, 12);
export const storedSize = (k: string, v: string): number => k.length + Buffer.byteLength(v);
/**
 * What a closed iterator keeps in native memory until it is collected (see native-garbage.ts): the entries of its
 * last step, and the slots reserved for the largest step (1000 entries here).
 */
export function chunkFootprint(chunk: ReadonlyArray<[string, string]>): number {
  let n = 1000 * ENTRY_OVERHEAD;
  for (const [k, v] of chunk) n += k.length + v.length;
  return n;
}

export interface MetaDoc {
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

export interface SinkDoc {
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

export interface StoredDeadLetter {
  letter: DeadLetter;
  /** Records counted `dead_lettered` for the sink when it was stored. */
  counted: number;
}

export function newMeta(): MetaDoc {
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
export function cloneMeta(m: MetaDoc): MetaDoc {
  return {
    ...m,
    q_by_reason: { ...m.q_by_reason },
    q_held_by_reason: { ...m.q_held_by_reason },
    q_dropped: { ...m.q_dropped },
    dl_dropped: { ...m.dl_dropped },
  };
}
export function cloneSink(d: SinkDoc): SinkDoc {
  return { ...d, dropped: { ...d.dropped } };
}
export function bump(map: Record<string, number>, key: string, by: number): void {
  const n = (map[key] ?? 0) + by;
  if (n === 0) delete map[key];
  else map[key] = n;
}

/**
 * A journal entry whose record is parsed only when someone asks for it: the forwarder sends the stored JSON
 * as is and needs the parsed record only for dead letters, so draining a backlog skips JSON.parse entirely.
 */
export class StoredEntry implements JournalEntry {
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

/**
 * Counts the live records (not deleted, not dropped) and their stored bytes by scanning the store: what the
 * meta's `records`/`bytes` must equal. Slow (the whole journal); used at open after a crash and by check().
 */
export async function countLive(db: Db, meta: MetaDoc): Promise<{ records: number; bytes: number }> {
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
  return { records, bytes };
}

/** Sums the stored bytes (key + value) of every entry in [gte, lt). */
export async function storedBytes(db: Db, gte: string, lt: string): Promise<number> {
  let bytes = 0;
  for await (const [k, v] of db.iterator({ gte, lt, highWaterMarkBytes: HWM })) bytes += storedSize(k, v);
  return bytes;
}

/** The oldest live record (seq and append time), for stats. */
export async function findFirst(db: Db, meta: MetaDoc): Promise<{ seq: number; at: number } | undefined> {
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
