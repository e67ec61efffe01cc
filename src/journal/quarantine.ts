// Quarantine in the journal: adding entries within the byte bound (dropping the oldest, or refusing new ones),
// removing entries (replayed or purged), dropping the oldest for the byte and age bounds, and the reads (list,
// page by id, get one). Commit-time functions change only the draft and the ops.
import { PlantgateError } from '../kit/errors.js';
import { type Draft, type JournalCore, MAX_KEPT_DROP_PER_PASS, type Op } from './core.js';
import { bump, checkLimit, HWM, hex16, hexAt, PAGE_SCAN_FACTOR, storedSize } from './layout.js';
import { collectValues } from './reader.js';
import { decodeTagged, encodeTagged } from './tagged-json.js';
import type { Page, QuarantineEntry } from './types.js';

/** Adds quarantine entries within the bound: drops the oldest entries, or refuses new ones (`drop_newest`). */
export async function addQuarantines(
  core: JournalCore,
  draft: Draft,
  entries: ReadonlyArray<Omit<QuarantineEntry, 'id'>>,
  ops: Op[],
  removed: Set<number>,
): Promise<void> {
  const m = draft.meta;
  const b = core.qBound;
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
        need - (await dropOldQuarantine(core, draft, ops, removed, 'max_bytes', { needBytes: need }));
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
    if (core.qAgeNextAt === undefined && (b.maxAgeMs ?? 0) > 0)
      core.qAgeNextAt = it.e.at + (b.maxAgeMs as number);
  }
}

/**
 * Drops quarantine entries oldest first (in id order) until `needBytes` are freed or, with `cutoff`, at the first
 * entry quarantined at or after it. Returns the bytes freed.
 */
export async function dropOldQuarantine(
  core: JournalCore,
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
  const it = core.store.iterator({
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
    const maxAge = core.qBound.maxAgeMs ?? 0;
    if (more) core.keptAgeDue = true;
    else core.qAgeNextAt = stoppedAt === undefined ? undefined : stoppedAt + maxAge;
  }
  return freed;
}

export async function removeQuarantine(
  core: JournalCore,
  draft: Draft,
  ids: readonly number[],
  outcome: 'replayed' | 'purged',
  ops: Op[],
  removed: Set<number>,
): Promise<number> {
  const unique = [...new Set(ids)].filter((id) => !removed.has(id));
  if (unique.length === 0) return 0;
  const keys = unique.map((id) => `q!${hex16(id)}`);
  const values = await core.store.getMany(keys);
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

// ---- reads ------------------------------------------------------------------------------------------------------

export function listQuarantine(
  core: JournalCore,
  opts: { reason?: string; afterId?: number; limit?: number },
): Promise<QuarantineEntry[]> {
  return collectValues(
    core,
    { gt: `q!${hex16(opts.afterId ?? 0)}`, lt: 'q"' },
    (v) => decodeTagged<QuarantineEntry>(v),
    (e) => opts.reason === undefined || e.reason === opts.reason,
    opts.limit ?? 100,
    'listQuarantine',
  );
}

export async function pageQuarantine(
  core: JournalCore,
  opts: { after?: number; limit: number; reason?: string },
): Promise<Page<QuarantineEntry, number>> {
  checkLimit(opts.limit, 'pageQuarantine');
  if (opts.after !== undefined && !(Number.isSafeInteger(opts.after) && opts.after >= 0)) {
    throw new PlantgateError(
      'INVALID_ARGUMENT',
      `pageQuarantine: \`after\` must be an entry id (a whole number >= 0); got ${String(opts.after)}.`,
    );
  }
  const db = core.openDb();
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
    throw core.wrapDbError(err, 'pageQuarantine');
  } finally {
    await it.close().catch(() => undefined);
  }
  return exhausted || last === undefined ? { items } : { items, next: last };
}

export async function getQuarantine(core: JournalCore, id: number): Promise<QuarantineEntry | undefined> {
  const db = core.openDb();
  const v = await db.get(`q!${hex16(id)}`).catch((err: unknown) => {
    throw core.wrapDbError(err, 'getQuarantine');
  });
  return v === undefined ? undefined : decodeTagged<QuarantineEntry>(v);
}
