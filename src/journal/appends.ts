// Appends inside one commit: taking the queued appends that fit (FIFO, making room first with drop_oldest, or
// stalling and blocking when the head does not fit), then giving their records seqs and sink masks and putting
// them into the commit's batch. The per-sink `ingested`/`queued` counts move here, in the same draft.
import type { CanonicalRecord } from '../model/records.js';
import type { Draft, JournalCore } from './core.js';
import { KEY_LEN, type SinkDoc, seqKey } from './layout.js';
import { dropPass } from './ledger.js';
import type { PendingAppend } from './queue.js';
import type { SinkSelector } from './types.js';

const MAX_COMMIT_BYTES = 8 * 1024 * 1024;

type ChainedBatchLike = { put(key: string, value: string): unknown };

export function settleAppend(a: PendingAppend, err?: unknown): void {
  a.unwatch?.();
  a.unwatch = undefined;
  if (err === undefined) a.resolve();
  else a.reject(err);
}

/** Takes queued appends (FIFO) that fit; with drop_oldest makes room first. */
export async function takeAppends(
  core: JournalCore,
  draft: Draft,
  clears: Array<[number, number]>,
): Promise<PendingAppend[]> {
  const appends = core.queue.appends;
  if (appends.length === 0 || core.stalled) return [];
  const maxRecords = core.opts.maxCommitRecords ?? 20_000;
  let n = 0;
  let bytes = 0;
  let count = 0;
  for (const a of appends) {
    if (count > 0 && (n + a.records.length > maxRecords || bytes + a.bytes > MAX_COMMIT_BYTES)) break;
    n += a.records.length;
    bytes += a.bytes;
    count++;
  }
  const m = draft.meta;
  const max = core.opts.maxBytes;
  let eventsOnly = false;
  if (m.bytes + bytes > max && core.opts.whenFull === 'drop_oldest') {
    const need = m.bytes + bytes - max;
    const r = await dropPass(core, draft, clears, 'max_bytes', { needBytes: need });
    eventsOnly = r.freed < need && r.exhausted;
  }
  while (count > 0 && m.bytes + bytes > max) {
    count--;
    bytes -= (appends[count] as PendingAppend).bytes;
  }
  const taken = appends.splice(0, count);
  for (const a of taken) {
    a.unwatch?.();
    a.unwatch = undefined;
  }
  if (appends.length > 0 && count === 0) {
    // The head does not fit; with drop_oldest, the pass limit may just need another round.
    if (core.opts.whenFull === 'block' || eventsOnly) {
      core.stalled = true;
      setBlocked(core, true, eventsOnly);
    }
  } else if (core.blocked && (appends.length === 0 || count > 0)) {
    setBlocked(core, false, false);
  }
  return taken;
}

function setBlocked(core: JournalCore, on: boolean, eventsOnly: boolean): void {
  if (on === core.blocked) return;
  core.blocked = on;
  const ctx = { bytes: core.meta.bytes, max_bytes: core.opts.maxBytes, records: core.meta.records };
  if (on) {
    core.blockedSince = Date.now();
    if (eventsOnly) {
      core.log.error(
        ctx,
        'The journal is full and only holds events that sinks have not acknowledged; events are never dropped, so appends now wait until a sink acknowledges.',
      );
    } else {
      core.log.warn(
        ctx,
        'The journal is full; appends wait until sinks acknowledge records (when_full: block).',
      );
    }
  } else {
    core.log.info(
      { ...ctx, blocked_ms: Date.now() - core.blockedSince },
      'The journal has room again; appends continue.',
    );
  }
}

/** Assigns seqs and sink masks to the taken appends and puts them into the batch; returns the bytes put. */
export function writeAppends(
  core: JournalCore,
  draft: Draft,
  taken: PendingAppend[],
  batch: ChainedBatchLike,
): number {
  if (taken.length === 0) return 0;
  const m = draft.meta;
  const wasEmpty = m.records === 0;
  const at = Math.max(Date.now(), m.last_at);
  m.last_at = at;
  if (core.ageNextAt === undefined && core.opts.maxAgeMs !== undefined)
    core.ageNextAt = at + core.opts.maxAgeMs;
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
