// The one ingest path (ingest()), used by the AdapterContext every source receives and by the operator's
// quarantine replay: samples go through normalize -> validate, records (and the events derived from them) into
// the journal, failures into quarantine; it resolves once all of it is synced.
// Exact repeats of recently journaled readings (a broker redelivering what was synced but never acknowledged)
// are dropped before the journal and counted as duplicates_suppressed (DuplicateFilter, dedupe.ts).
import type { Logger } from 'pino';
import type { AdapterContext, EmitResult } from '../../adapters/kit/types.js';
import type { Journal, QuarantineEntry } from '../journal/types.js';
import { PlantgateError } from '../kit/errors.js';
import type { CanonicalRecord, EventRecord, RawSample, Reading } from '../model/records.js';
import type { Pipeline, Reject } from '../pipeline/pipeline.js';

import type { DuplicateFilter } from './dedupe.js';

export { DEDUPE_WINDOW, DuplicateFilter, RecentIdSet } from './dedupe.js';

/**
 * What the ingest path reports to the observer of one source (its data quality); each context has its own, so
 * nothing is looked up per emit. Called synchronously, must not throw.
 */
export interface IngestObserver {
  /** Samples of one emit: the readings made of them (each carries its epoch ms, see readingTsMs) and the rejects. */
  onProcessed(
    samples: readonly RawSample[],
    records: readonly Reading[],
    rejects: ReadonlyArray<{ reason: string }>,
    ingestMs: number,
  ): void;
  /** A payload the adapter could not turn into samples (ctx.reject), before it is quarantined. */
  onRejected?(reason: string, at: number): void;
  onDurable?(accepted: number, quarantined: number, durableMs: number): void;
  onEvents?(events: readonly EventRecord[]): void;
}

/**
 * Derives events from accepted readings; returns the events and whether the derive state moved (then the records
 * and events go to the journal through IngestPath.commitDerived, which persists the state with them).
 */
export type DeriveHook = (
  records: readonly Reading[],
  nowMs: number,
) => { events: EventRecord[]; moved?: boolean };

/** Who owns what is quarantined, and who is told: the daemon's owners and exception board. */
export interface QuarantineHook {
  /** The owner of an exception about `signal` (when known) from `sourceId`. */
  owner(sourceId: string, signal?: string): string;
  /** Every entry about to be quarantined, with its owner set (counted by owner and reason). */
  noted(entries: ReadonlyArray<Omit<QuarantineEntry, 'id'>>): void;
}

/** Everything one ingest needs; the same for a source's emit and an operator's quarantine replay. */
export interface IngestPath {
  /** Owners and the exception board; entries carry no owner without it. */
  exceptions?: QuarantineHook | undefined;
  source: { id: string; type: string };
  /** A getter, so that a configuration reload can swap the pipeline without restarting unchanged sources. */
  pipeline: Pipeline | (() => Pipeline);
  journal: Journal;
  /** Aborts an append waiting for space (the source stops); a replay has none. */
  signal?: AbortSignal;
  derive?: DeriveHook;
  /**
   * Appends an emit's records when a derive stage is configured (instead of journal.append): those whose
   * derivation `moved` the derive state in one synced commit with a snapshot of it (the stage's commit groups: one
   * snapshot per commit, and the rollback when it fails), the others in emit order with them. Called in the same
   * tick as `derive`.
   */
  commitDerived?: (
    records: readonly CanonicalRecord[],
    moved: boolean,
    signal?: AbortSignal,
  ) => Promise<void>;
  observer?: IngestObserver;
  /** Drops exact repeats of recently journaled readings and counts them (shared by all sources of a daemon). */
  dedupe?: DuplicateFilter;
  /**
   * A quarantined sample run again by the operator. The sample was counted once already (received, quarantined),
   * so the observer is not told and a repeat is not counted as a duplicate; a sample rejected again is returned,
   * not quarantined a second time (its entry stays). It still goes through the duplicate filter: its record id is
   * its content, so a replay whose record is already journaled (a crash between the append and the removal of the
   * quarantine entry, then a second replay) appends nothing, and the journal and its ledger hold the record once.
   */
  replay?: boolean;
}

export interface IngestOptions extends IngestPath {
  log: Logger;
  signal: AbortSignal;
}

export interface IngestResult extends EmitResult {
  /** Readings dropped as exact repeats of journaled ones (already durable: nothing is lost). */
  duplicates: number;
  /** Samples the pipeline refused (quarantined, unless this was a replay). */
  rejects: readonly Reject[];
}

/**
 * The one ingest path: normalize -> validate -> duplicate filter -> derive, then records, events, derive state and
 * quarantine entries to the journal's group commit; resolves once all of it is synced. When the commit of what moved
 * the deriver fails, the deriver goes back to its last committed state (so it never runs ahead of the journal).
 */
export async function ingest(opts: IngestPath, samples: readonly RawSample[]): Promise<IngestResult> {
  if (samples.length === 0) return { accepted: 0, quarantined: 0, duplicates: 0, rejects: [] };
  const { source, journal } = opts;
  const replay = opts.replay === true;
  const observer = replay ? undefined : opts.observer;
  const ingestMs = Date.now();
  const pipeline = typeof opts.pipeline === 'function' ? opts.pipeline() : opts.pipeline;
  const processed = pipeline.process(source, samples, ingestMs);
  const rejects = processed.rejects;
  // Repeats never reach the deriver either, so a redelivered counter reading is not counted twice.
  const screened = opts.dedupe?.screen(source.id, processed.records, !replay);
  const records = screened ? screened.fresh : processed.records;
  const writes: Promise<unknown>[] = [];
  try {
    observer?.onProcessed(samples, records, rejects, ingestMs);
    let toAppend: CanonicalRecord[] = records;
    let moved = false;
    if (opts.derive && records.length > 0) {
      const derived = opts.derive(records, ingestMs);
      if (derived.events.length > 0) {
        toAppend = [...records, ...derived.events];
        observer?.onEvents?.(derived.events);
      }
      moved = derived.moved === true;
    }
    // Issued in the same tick as the derivation, so the records join the commit that persists what they moved.
    if (toAppend.length > 0) {
      if (opts.commitDerived) {
        const committed = opts.commitDerived(toAppend, moved, opts.signal);
        screened?.settle(committed);
        // A stopping source stops waiting; records in a commit group still go with it (they moved the deriver).
        writes.push(opts.signal ? abortable(committed, opts.signal) : committed);
      } else {
        const appended = journal.append(toAppend, opts.signal);
        screened?.settle(appended);
        writes.push(appended);
      }
    }
  } finally {
    // Nothing appended (all repeats, or a throw above): the fresh ids are not pending any more.
    screened?.settle(new Error('not appended'));
  }
  if (screened) writes.push(...screened.waits);
  const quarantined = replay ? 0 : rejects.length;
  if (quarantined > 0) {
    const at = Date.now();
    const hook = opts.exceptions;
    const entries: Array<Omit<QuarantineEntry, 'id'>> = rejects.map((r) => ({
      at,
      source: { id: source.id, type: source.type },
      reason: r.reason,
      detail: r.detail,
      sample: r.sample,
      ...(hook ? { owner: hook.owner(source.id, r.sample?.signal) } : {}),
    }));
    hook?.noted(entries);
    writes.push(journal.quarantine(entries));
  }
  // A failed derive commit has rolled the deriver back before it rejects (see DeriveStage.commit).
  await Promise.all(writes);
  observer?.onDurable?.(records.length, quarantined, Date.now());
  return {
    accepted: records.length,
    quarantined,
    duplicates: processed.records.length - records.length,
    rejects,
  };
}

/** `p`, or the journal's ABORTED error once `signal` aborts first (p goes on). */
function abortable(p: Promise<void>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () =>
      reject(
        new PlantgateError('ABORTED', 'The append was aborted while it waited for room in the journal.'),
      );
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    void p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createAdapterContext(opts: IngestOptions): AdapterContext {
  const { source, journal, signal } = opts;
  const path: IngestPath = { ...opts, replay: false };

  async function emit(samples: readonly RawSample[]): Promise<EmitResult> {
    const r = await ingest(path, samples);
    return { accepted: r.accepted, quarantined: r.quarantined };
  }

  async function reject(raw: string, reason: string, detail: string): Promise<void> {
    const at = Date.now();
    opts.observer?.onRejected?.(reason, at);
    const hook = opts.exceptions;
    const entry: Omit<QuarantineEntry, 'id'> = {
      at,
      source: { id: source.id, type: source.type },
      reason,
      detail,
      raw: `${raw}`,
      ...(hook ? { owner: hook.owner(source.id) } : {}),
    };
    hook?.noted([entry]);
    await journal.quarantine([entry]);
    opts.observer?.onDurable?.(0, 1, Date.now());
  }

  return { id: source.id, log: opts.log, signal, emit, reject };
}

/**
 * Runs one quarantined sample again through ingest() (the operator's replay): ok when it is a record in the
 * journal now (appended, or already there: see IngestPath.replay), else the reason it is refused again.
 */
export async function replaySample(
  path: Omit<IngestPath, 'replay' | 'observer' | 'signal'>,
  sample: RawSample,
): Promise<{ ok: boolean; reason?: string; detail?: string }> {
  const r = await ingest({ ...path, replay: true }, [sample]);
  if (r.accepted + r.duplicates > 0) return { ok: true };
  const x = r.rejects[0];
  return { ok: false, reason: x?.reason, detail: x?.detail };
}
