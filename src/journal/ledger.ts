// The per-sink ledger inside one commit: registering and removing sinks, moving a sink's cursor (counting what it
// passes as delivered or dead-lettered), the deletion pass behind the slowest cursor, and the drop pass that makes
// room (drop_oldest, max_age) and counts each dropped reading for every sink still waiting for it. Every function
// changes only the draft; the commit installs it after the synced write.
import { PlantgateError } from '../kit/errors.js';
import type { Draft, JournalCore, ReadMark } from './core.js';
import {
  atOf,
  bump,
  chunkFootprint,
  HWM,
  isEvent,
  MAX_SINKS,
  maskOf,
  type SinkDoc,
  seqKey,
  seqOf,
  storedSize,
} from './layout.js';
import { noteIteratorGarbage } from './native-garbage.js';
import type { SinkSelector } from './types.js';

const MAX_DELETE_PER_PASS = 200_000;
const MAX_DROP_PER_PASS = 50_000;

export function applySinkChange(core: JournalCore, draft: Draft, sinks: readonly SinkSelector[]): void {
  const wanted = new Map(sinks.map((s) => [s.id, s]));
  for (const id of [...draft.sinks.keys()]) {
    if (wanted.has(id)) continue;
    const doc = draft.sinks.get(id) as SinkDoc;
    draft.sinks.delete(id);
    draft.selectors.delete(id);
    draft.removed.push(id);
    core.log.warn(
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
    core.log.info({ sink: id, cursor: end }, `Sink "${id}" registered with the journal.`);
  }
}

/** Counts the live records `sink` selects in (from, to]: from what the last reads returned, or by a scan. */
async function countSelected(
  core: JournalCore,
  draft: Draft,
  id: string,
  doc: SinkDoc,
  from: number,
  to: number,
): Promise<number> {
  if (doc.last_selected <= from) return 0;
  const rt = core.sinks.get(id);
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
  await scan(core, draft, from, to, (_k, v) => {
    if ((maskOf(v) & bit) !== 0) n++;
  });
  return n;
}

/** Visits live records in (from, to] as the draft sees them; `visit` returns false to stop. */
async function scan(
  core: JournalCore,
  draft: Draft,
  from: number,
  to: number,
  visit: (k: string, v: string) => unknown,
): Promise<void> {
  const A = draft.meta.deleted_through;
  const D = draft.meta.drop_frontier;
  const start = Math.max(from, A) + 1;
  if (start > to) return;
  const it = core.store.iterator({
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

/** Moves a sink's cursor to `seq`, counting the records it passes `as` delivered or dead-lettered; returns them. */
export async function moveCursor(
  core: JournalCore,
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
  const n = await countSelected(core, draft, id, doc, doc.cursor, seq);
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
    core.log.warn(
      { sink: id, seq, claimed, counted: n },
      `Sink "${id}" acknowledged ${claimed} records up to seq ${seq}, but ${n} of its records were waiting there; the ledger counts ${n} delivered.`,
    );
  }
  doc.cursor = seq;
  doc.queued -= n;
  doc[as] += n;
  return n;
}

/** Deletes the records behind every sink's cursor (in one range) once the draft's cursors passed them. */
export async function deletionPass(
  core: JournalCore,
  draft: Draft,
  clears: Array<[number, number]>,
): Promise<void> {
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
    core.deletionBacklog = true;
  }
  let n = 0;
  let bytes = 0;
  await scan(core, draft, A, target, (k, v) => {
    n++;
    bytes += storedSize(k, v);
  });
  m.records -= n;
  m.bytes -= bytes;
  m.deleted_through = target;
  if (m.records === 0) m.bytes = 0;
  clears.push([A, target]);
  draft.firstDirty = true;
  core.counters.deletion_passes++;
}

/**
 * Drops the oldest readings (never events), counting them per sink that selected them and had not acknowledged
 * them. Stops when `needBytes` are freed or at the first record not older than `cutoff`.
 */
export async function dropPass(
  core: JournalCore,
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
  await scan(core, draft, Math.max(m.deleted_through, m.drop_frontier), m.last_seq, (k, v) => {
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
    core.counters.drop_passes++;
    noteDrops(core, dropped, reason);
  }
  if (reason === 'max_age') {
    // The next age pass is due when the record this one stopped at gets too old (records are in append order).
    if (dropped >= MAX_DROP_PER_PASS) core.ageDue = true;
    else core.ageNextAt = stoppedAt === undefined ? undefined : stoppedAt + (core.opts.maxAgeMs ?? 0);
  }
  return { freed, exhausted };
}

function noteDrops(core: JournalCore, n: number, reason: string): void {
  core.droppedSinceLog += n;
  const now = Date.now();
  // One line per minute at most: drops are counted per sink in the ledger and metrics, not logged per record.
  if (now - core.lastDropLogAt >= 60_000) {
    core.log.warn(
      { dropped: core.droppedSinceLog, reason, max_bytes: core.opts.maxBytes },
      `The journal dropped ${core.droppedSinceLog} of its oldest readings (${reason}); see the ledger for each sink.`,
    );
    core.lastDropLogAt = now;
    core.droppedSinceLog = 0;
  }
}
