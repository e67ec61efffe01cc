// Dead letters in the journal: storing one (moving the sink's cursor past its batch in the same commit), removing
// one (delivered by a replay, or purged), dropping the oldest to keep the byte and age bounds, and the reads
// (list, page through the time index, get one). Commit-time functions change only the draft and the ops.
import { PlantgateError } from '../kit/errors.js';
import { type Draft, type JournalCore, MAX_KEPT_DROP_PER_PASS, type Op } from './core.js';
import {
  bump,
  checkLimit,
  hexAt,
  PAGE_SCAN_FACTOR,
  type SinkDoc,
  type StoredDeadLetter,
  storedSize,
  timeKey,
} from './layout.js';
import { moveCursor } from './ledger.js';
import type { PendingDeadLetter } from './queue.js';
import { collectValues } from './reader.js';
import type { DeadLetter, Page } from './types.js';

export async function storeDeadLetter(
  core: JournalCore,
  draft: Draft,
  d: PendingDeadLetter,
  ops: Op[],
  removed: Set<string>,
): Promise<void> {
  const key = `d!${d.letter.batch_id}`;
  const pendingPut = ops.find((o): o is Op & { type: 'put' } => o.type === 'put' && o.key === key);
  const old = pendingPut?.value ?? (await core.store.get(key));
  const n = await moveCursor(core, draft, d.letter.sink, d.lastSeq, 'dead_lettered', d.letter.records.length);
  // Idempotent: a batch dead-lettered again (after a crash) keeps one entry; its count only grows by what moved.
  const stored: StoredDeadLetter = old === undefined ? { letter: d.letter, counted: 0 } : JSON.parse(old);
  stored.counted += n;
  const value = JSON.stringify(stored);
  const m = draft.meta;
  const b = core.dlBound;
  const oldSize = old === undefined ? 0 : storedSize(key, old);
  const size = storedSize(key, value);
  let fits = m.dl_bytes - oldSize + size <= b.maxBytes;
  if (!fits && b.whenFull === 'drop_oldest' && size <= b.maxBytes) {
    const need = m.dl_bytes - oldSize + size - b.maxBytes;
    const freed = await dropOldDeadLetters(core, draft, ops, removed, 'max_bytes', {
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
  if (core.dlAgeNextAt === undefined && (b.maxAgeMs ?? 0) > 0)
    core.dlAgeNextAt = stored.letter.at + (b.maxAgeMs as number);
}

export async function removeDeadLetter(
  core: JournalCore,
  draft: Draft,
  batchId: string,
  outcome: 'delivered' | 'purged',
  ops: Op[],
  removed: Set<string>,
): Promise<DeadLetter | undefined> {
  return (await deleteDeadLetter(core, draft, batchId, outcome, ops, removed))?.letter;
}

/** Removes a dead letter and its time index entry; `max_bytes`/`max_age` are drops by the bound. */
async function deleteDeadLetter(
  core: JournalCore,
  draft: Draft,
  batchId: string,
  outcome: 'delivered' | 'purged' | 'max_bytes' | 'max_age',
  ops: Op[],
  removed: Set<string>,
): Promise<{ letter: DeadLetter; bytes: number } | undefined> {
  const key = `d!${batchId}`;
  if (removed.has(key)) return undefined;
  const pendingPut = ops.find((o): o is Op & { type: 'put' } => o.type === 'put' && o.key === key);
  const v = pendingPut?.value ?? (await core.store.get(key));
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
export async function dropOldDeadLetters(
  core: JournalCore,
  draft: Draft,
  ops: Op[],
  removed: Set<string>,
  cause: 'max_bytes' | 'max_age',
  stop: { needBytes?: number; cutoff?: number; keep?: string },
): Promise<number> {
  let freed = 0;
  let n = 0;
  let stoppedAt: number | undefined;
  let more = false;
  const it = core.store.keys({ gte: 't!', lt: 't"' });
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
      const r = await deleteDeadLetter(core, draft, batchId, cause, ops, removed);
      // An index entry without its letter (cannot happen in one synced batch, but costs nothing to heal).
      if (!r) ops.push({ type: 'del', key: k });
      else freed += r.bytes;
      n++;
    }
  } finally {
    await it.close().catch(() => undefined);
  }
  if (cause === 'max_age') {
    const maxAge = core.dlBound.maxAgeMs ?? 0;
    if (more) core.keptAgeDue = true;
    else core.dlAgeNextAt = stoppedAt === undefined ? undefined : stoppedAt + maxAge;
  }
  return freed;
}

// ---- reads ------------------------------------------------------------------------------------------------------

export function listDeadLetters(
  core: JournalCore,
  sinkId: string | undefined,
  limit: number,
): Promise<DeadLetter[]> {
  return collectValues(
    core,
    { gte: 'd!', lt: 'd"' },
    (v) => (JSON.parse(v) as StoredDeadLetter).letter,
    (letter) => sinkId === undefined || letter.sink === sinkId,
    limit,
    'listDeadLetters',
  );
}

export async function pageDeadLetters(
  core: JournalCore,
  opts: { after?: string; limit: number; sink?: string },
): Promise<Page<DeadLetter, string>> {
  checkLimit(opts.limit, 'pageDeadLetters');
  if (opts.after !== undefined && typeof opts.after !== 'string') {
    throw new PlantgateError('INVALID_ARGUMENT', 'pageDeadLetters: `after` must be the `next` of a page.');
  }
  const db = core.openDb();
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
    throw core.wrapDbError(err, 'pageDeadLetters');
  } finally {
    await it.close().catch(() => undefined);
  }
  // Whether anything follows is known only by looking; an extra empty page is cheaper than a wrong end.
  return full && next !== undefined ? { items, next } : { items };
}

export async function getDeadLetter(core: JournalCore, batchId: string): Promise<DeadLetter | undefined> {
  const db = core.openDb();
  const v = await db.get(`d!${batchId}`).catch((err: unknown) => {
    throw core.wrapDbError(err, 'getDeadLetter');
  });
  return v === undefined ? undefined : (JSON.parse(v) as StoredDeadLetter).letter;
}
