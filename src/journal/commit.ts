// The commit loop: one commit at a time takes the waiting work in a fixed order (sink changes, acks, dead letters,
// dead-letter removals, quarantine removals, quarantine, the side stores' age pass, state, the deletion pass, the
// age drop pass, appends), builds it into one draft and one synced batch, and installs the draft only after the
// write succeeded. A refused request fails alone; a failed write fails the whole commit and leaves nothing behind.
import { PlantgateError } from '../kit/errors.js';
import { settleAppend, takeAppends, writeAppends } from './appends.js';
import type { Draft, JournalCore, Op } from './core.js';
import { removeDeadLetter, storeDeadLetter } from './dead-letters.js';
import { type Db, findFirst, META_KEY, seqKey } from './layout.js';
import { applySinkChange, deletionPass, dropPass, moveCursor } from './ledger.js';
import { noteIteratorGarbage } from './native-garbage.js';
import { addQuarantines, removeQuarantine } from './quarantine.js';
import type { PendingAppend, Request, Settle } from './queue.js';
import { DEFAULT_RECEIPTS_PER_SINK, writeReceipts } from './receipts.js';
import { installKeptEpisodes, keptAgePass } from './side-stores.js';
import { errText } from './store-files.js';

/**
 * Queues a request for the commit loop and starts the loop. A sink change, an ack or a dead letter may make room
 * for a stalled append (the head that did not fit), so they end the stall.
 */
export function enqueue(core: JournalCore, req: Request): void {
  core.queue.push(req);
  if (req.kind === 'sinks' || req.kind === 'ack' || req.kind === 'deadLetter') core.stalled = false;
  kick(core);
}

function hasWork(core: JournalCore): boolean {
  return core.queue.hasWork(core.stalled) || core.ageDue || core.keptAgeDue || core.deletionBacklog;
}

/** Starts the commit loop unless it runs (or the store is not open); it runs while there is work. */
export function kick(core: JournalCore): void {
  if (core.loop || !core.db) return;
  core.loop = run(core).finally(() => {
    core.loop = undefined;
    // Work that arrived while the loop was finishing.
    if (hasWork(core)) kick(core);
  });
}

async function run(core: JournalCore): Promise<void> {
  // Let appends issued in the same tick join the first commit.
  await Promise.resolve();
  while (hasWork(core)) {
    if (core.failures > 0 && !core.closed) {
      // Back off while commits fail (full disk): callers are rejected and retry, the loop must not spin.
      await new Promise((r) => setTimeout(r, Math.min(5000, 50 * 2 ** Math.min(core.failures - 1, 7))));
    }
    if (core.opts.commitPolicy === 'interval') {
      const wait = core.lastCommitStart + core.opts.commitIntervalMs - Date.now();
      if (wait > 0 && !core.closed) await new Promise((r) => setTimeout(r, wait));
    }
    core.lastCommitStart = Date.now();
    try {
      await commitOnce(core);
    } catch (err) {
      // commitOnce settles its own failures; reaching here is a bug, which must not kill the loop silently.
      core.failures++;
      core.log.error({ err }, 'The journal commit loop hit an unexpected error.');
    }
  }
}

async function commitOnce(core: JournalCore): Promise<void> {
  const db = core.store;
  const draft = core.newDraft();
  const ops: Op[] = [];
  const onSuccess: Array<() => void> = [];
  const onFailure: Array<(err: unknown) => void> = [];
  const clears: Array<[number, number]> = [];

  const q = core.queue;
  const sinkChanges = q.take('sinks');
  const acks = q.take('ack');
  const deadLetters = q.take('deadLetter');
  const quarantines = q.take('quarantine');
  const qRemovals = q.take('qRemoval');
  const dlRemovals = q.take('dlRemoval');
  const stateWaiters = q.take('state');
  const states = core.states;
  core.states = new Map();
  core.inflightStates = states;
  const ageDue = core.ageDue;
  core.ageDue = false;
  const keptAgeDue = core.keptAgeDue;
  core.keptAgeDue = false;
  core.deletionBacklog = false;
  let taken: PendingAppend[] = [];
  let batch: ReturnType<Db['batch']> | undefined;
  const ackedSinks = new Set<string>();
  const receiptBound = core.opts.receiptsPerSink ?? DEFAULT_RECEIPTS_PER_SINK;

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
    for (const ch of sinkChanges) await step(ch, () => applySinkChange(core, draft, ch.sinks));
    for (const a of acks) {
      await step(a, async () => {
        await moveCursor(core, draft, a.sink, a.seq, 'delivered', a.delivered);
        ackedSinks.add(a.sink);
        if (a.receipts) await writeReceipts(core, a.receipts, receiptBound, ops, onSuccess);
      });
    }
    const removedDl = new Set<string>();
    for (const d of deadLetters) {
      await step(d, async () => {
        await storeDeadLetter(core, draft, d, ops, removedDl);
        ackedSinks.add(d.letter.sink);
        if (d.receipts) await writeReceipts(core, d.receipts, receiptBound, ops, onSuccess);
      });
    }
    for (const r of dlRemovals) {
      await step(r, async () => {
        const removed = await removeDeadLetter(core, draft, r.batchId, r.outcome, ops, removedDl);
        if (removed && r.receipts) await writeReceipts(core, r.receipts, receiptBound, ops, onSuccess);
        return removed;
      });
    }
    const removedQ = new Set<number>();
    for (const r of qRemovals)
      await step(r, () => removeQuarantine(core, draft, r.ids, r.outcome, ops, removedQ));
    if (quarantines.length > 0) {
      // All of this commit's entries at once: the bound then makes room (or refuses) once, not per request.
      for (const q of quarantines) await step(q, () => undefined);
      await addQuarantines(
        core,
        draft,
        quarantines.flatMap((q) => q.entries),
        ops,
        removedQ,
      );
    }
    if (keptAgeDue) await keptAgePass(core, draft, ops, removedQ, removedDl);
    for (const [key, json] of states) ops.push({ type: 'put', key: `s!${key}`, value: json });
    for (const w of stateWaiters) await step(w, () => undefined);

    await deletionPass(core, draft, clears);
    if (ageDue && core.opts.maxAgeMs !== undefined) {
      await dropPass(core, draft, clears, 'max_age', { cutoff: Date.now() - core.opts.maxAgeMs });
    }
    taken = await takeAppends(core, draft, clears);
    // A chained batch: the array form of batch() spends several times longer in per-operation JavaScript.
    // Its native buffer is freed only when the handle is collected, like an iterator's (see native-garbage.ts).
    batch = db.batch();
    let batchBytes = writeAppends(core, draft, taken, batch);
    if (draft.firstDirty) draft.first = await findFirst(db, draft.meta);

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
    core.inflightStates = new Map();
    const e = commitError(core, err);
    for (const a of taken) settleAppend(a, e);
    for (const f of onFailure) f(e);
    return;
  }
  core.inflightStates = new Map();
  if (core.writeError) {
    core.log.info({ failures: core.failures }, 'Journal writes succeed again.');
    core.writeError = undefined;
  }
  core.failures = 0;
  core.counters.commits++;
  core.counters.committed_records += draft.meta.last_seq - core.meta.last_seq;
  install(core, draft, ackedSinks);
  for (const a of taken) settleAppend(a);
  for (const f of onSuccess) f();
  for (const [gt, lte] of clears) {
    core.clearChain = core.clearChain
      .then(() => db.clear({ gt: seqKey(gt), lte: seqKey(lte) }))
      .catch((err: unknown) => {
        // Not fatal: the deletion is recorded, and the next open clears the range again.
        core.log.warn({ err }, 'Clearing a deleted journal range failed; it is retried at the next open.');
      });
  }
  notifyWaiters(core);
  maybeCompact(core);
}

/** Classifies a failed commit for its callers and for /status; logs at most once per 30 s while it lasts. */
function commitError(core: JournalCore, err: unknown): unknown {
  core.failures++;
  const text = errText(err);
  const e = /no space left|ENOSPC/i.test(text)
    ? new PlantgateError(
        'JOURNAL_FULL',
        `The disk holding the journal (${core.opts.dir}) is full; nothing was written: ${text}.`,
        { cause: err, retryable: true },
      )
    : core.wrapDbError(err, 'commit');
  const now = Date.now();
  if (!core.writeError || now - core.writeErrorLoggedAt >= 30_000) {
    core.writeErrorLoggedAt = now;
    core.log.error(
      { err, failures: core.failures },
      'A journal commit failed; its appends, acks and other operations were rejected and are retried by their callers.',
    );
  }
  core.writeError = { at: now, error: e instanceof Error ? e.message : text };
  return e;
}

/** Makes a synced draft the live state. */
function install(core: JournalCore, draft: Draft, ackedSinks: Set<string>): void {
  core.meta = draft.meta;
  installKeptEpisodes(core, draft);
  core.first = draft.first;
  for (const id of draft.removed) core.sinks.delete(id);
  for (const [id, doc] of draft.sinks) {
    const rt = core.sinks.get(id);
    if (rt) {
      rt.doc = doc;
      rt.selector = draft.selectors.get(id);
      if (draft.recreated.has(id)) rt.reads = [];
    } else {
      core.sinks.set(id, { id, doc, selector: draft.selectors.get(id), reads: [] });
    }
  }
  for (const id of ackedSinks) {
    const rt = core.sinks.get(id);
    if (rt) rt.reads = rt.reads.filter((r) => r.to > rt.doc.cursor);
  }
  if (draft.maxDropped > 0) {
    core.dropEpoch++;
    for (const rt of core.sinks.values()) rt.reads = rt.reads.filter((r) => r.after >= draft.maxDropped);
  }
}

function notifyWaiters(core: JournalCore): void {
  for (const w of core.waiters) {
    if (core.waitSatisfied(w.after, w.sink)) {
      core.waiters.delete(w);
      w.cleanup();
      w.resolve();
    }
  }
}

function maybeCompact(core: JournalCore): void {
  const every = core.opts.compactEvery ?? 250_000;
  const through = Math.max(core.meta.deleted_through, core.meta.drop_frontier);
  if (core.compaction || through - core.compactedThrough < every) return;
  const db = core.store;
  const from = core.compactedThrough;
  // Wait for the pending range clears so the compaction sees their tombstones.
  core.compaction = core.clearChain
    .then(() => db.compactRange(seqKey(from), seqKey(through + 1)))
    .then(
      () => {
        core.compactedThrough = through;
        core.counters.compactions++;
      },
      (err: unknown) => {
        if (!core.closed) core.log.warn({ err }, 'Compacting the deleted journal range failed.');
      },
    )
    .finally(() => {
      core.compaction = undefined;
    });
}
