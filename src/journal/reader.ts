// Reading records: a sink's next records after its cursor (seeking straight to them, skipping other sinks' and
// dropped ones, remembering what the read returned so the ack need not rescan), and the newest records of the
// journal for the ingest path's duplicate filter. Neither reads a record's JSON: entries parse it lazily.
import type { JournalCore } from './core.js';
import {
  atOf,
  chunkFootprint,
  HEADER_LEN,
  HWM,
  isEvent,
  J_END,
  maskOf,
  StoredEntry,
  seqKey,
  seqOf,
  storedSize,
} from './layout.js';
import { noteIteratorGarbage } from './native-garbage.js';
import type { JournalEntry } from './types.js';

/** Read marks kept per sink (the reads of batches in flight, for the acks that follow them). */
const READ_MARKS = 32;

export async function readSink(
  core: JournalCore,
  sinkId: string,
  afterSeq: number,
  maxRecords: number,
  maxBytes: number,
): Promise<JournalEntry[]> {
  const db = core.openDb();
  const rt = core.sink(sinkId);
  const upper = rt.doc.last_selected;
  if (upper <= afterSeq || maxRecords <= 0) return [];
  const A = core.meta.deleted_through;
  const D = core.meta.drop_frontier;
  const bit = 1 << rt.doc.bit;
  const epoch = core.dropEpoch;
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
    throw core.wrapDbError(err, 'read');
  } finally {
    await it.close().catch(() => undefined);
    noteIteratorGarbage(chunkFootprint(lastChunk));
  }
  const last = out[out.length - 1];
  // A drop during the read may have removed some of these records: then the ack recounts instead.
  if (last && epoch === core.dropEpoch && core.sinks.get(sinkId) === rt) {
    if (rt.reads.length >= READ_MARKS) rt.reads.shift();
    rt.reads.push({ after: afterSeq, to: last.seq, count: out.length, firstAt });
  }
  return out;
}

/** The last `limit` records still in the journal (any sink, dropped readings skipped), oldest first. */
export async function readTail(core: JournalCore, limit: number): Promise<JournalEntry[]> {
  if (!Number.isInteger(limit) || limit < 1) return [];
  const db = core.openDb();
  const D = core.meta.drop_frontier;
  const out: JournalEntry[] = [];
  const it = db.iterator({
    gt: seqKey(core.meta.deleted_through),
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
    throw core.wrapDbError(err, 'read');
  } finally {
    await it.close().catch(() => undefined);
    noteIteratorGarbage(chunkFootprint(lastChunk));
  }
  return out.reverse();
}

/**
 * The first `limit` values of a key range that `keep` accepts, decoded; what both side stores' `list` calls are
 * (`what` names the call in a store error).
 */
export async function collectValues<T>(
  core: JournalCore,
  range: { gt?: string; gte?: string; lt: string },
  decode: (v: string) => T,
  keep: (item: T) => boolean,
  limit: number,
  what: string,
): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const v of core.openDb().values(range)) {
      const item = decode(v);
      if (!keep(item)) continue;
      out.push(item);
      if (out.length >= limit) break;
    }
  } catch (err) {
    throw core.wrapDbError(err, what);
  }
  return out;
}
