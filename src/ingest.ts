// Builds the AdapterContext every source receives: samples go through normalize -> validate, records (and the
// events derived from them) into the journal, failures into quarantine; emit resolves once all of it is synced.
import type { Logger } from 'pino';
import type { AdapterContext, EmitResult } from '../adapters/types.js';
import type { Journal, QuarantineEntry } from './journal/types.js';
import type { CanonicalRecord, EventRecord, RawSample, Reading } from './model/records.js';
import type { Pipeline } from './pipeline/pipeline.js';

/** What the ingest path reports to observers (metrics, data quality); called synchronously, must not throw. */
export interface IngestObserver {
  onProcessed(
    sourceId: string,
    samples: readonly RawSample[],
    records: readonly Reading[],
    rejects: ReadonlyArray<{ reason: string }>,
    ingestMs: number,
  ): void;
  onDurable?(sourceId: string, accepted: number, quarantined: number, durableMs: number): void;
  onEvents?(events: readonly EventRecord[]): void;
}

/** Derives events from accepted readings; returns the events and, when it changed, the state to persist. */
export type DeriveHook = (
  records: readonly Reading[],
  nowMs: number,
) => { events: EventRecord[]; state?: unknown };

export interface IngestOptions {
  source: { id: string; type: string };
  log: Logger;
  signal: AbortSignal;
  /** A getter, so that a configuration reload can swap the pipeline without restarting unchanged sources. */
  pipeline: Pipeline | (() => Pipeline);
  journal: Journal;
  derive?: DeriveHook;
  /** Key under which derive state is persisted (journal state store). */
  deriveStateKey?: string;
  /** Called when the commit holding derived events or state failed, so the deriver can roll back. */
  onDeriveFailed?: () => Promise<void>;
  observer?: IngestObserver;
}

export function createAdapterContext(opts: IngestOptions): AdapterContext {
  const { source, journal, signal } = opts;
  const pipelineOf = typeof opts.pipeline === 'function' ? opts.pipeline : () => opts.pipeline as Pipeline;

  async function emit(samples: readonly RawSample[]): Promise<EmitResult> {
    if (samples.length === 0) return { accepted: 0, quarantined: 0 };
    const ingestMs = Date.now();
    const { records, rejects } = pipelineOf().process(source, samples, ingestMs);
    opts.observer?.onProcessed(source.id, samples, records, rejects, ingestMs);

    let toAppend: CanonicalRecord[] = records;
    let state: unknown;
    if (opts.derive && records.length > 0) {
      const derived = opts.derive(records, ingestMs);
      if (derived.events.length > 0) {
        toAppend = [...records, ...derived.events];
        opts.observer?.onEvents?.(derived.events);
      }
      state = derived.state;
    }
    // Issued in the same tick so the group commit puts records, derive state and quarantine in one synced write.
    const writes: Promise<unknown>[] = [];
    if (toAppend.length > 0) writes.push(journal.append(toAppend, signal));
    if (state !== undefined && opts.deriveStateKey) writes.push(journal.putState(opts.deriveStateKey, state));
    if (rejects.length > 0) {
      const at = Date.now();
      const entries: Array<Omit<QuarantineEntry, 'id'>> = rejects.map((r) => ({
        at,
        source: { id: source.id, type: source.type },
        reason: r.reason,
        detail: r.detail,
        sample: r.sample,
      }));
      writes.push(journal.quarantine(entries));
    }
    try {
      await Promise.all(writes);
    } catch (err) {
      if (state !== undefined) await opts.onDeriveFailed?.();
      throw err;
    }
    opts.observer?.onDurable?.(source.id, records.length, rejects.length, Date.now());
    return { accepted: records.length, quarantined: rejects.length };
  }

  async function reject(raw: string, reason: string, detail: string, address: string): Promise<void> {
    const at = Date.now();
    opts.observer?.onProcessed(source.id, [{ signal: '', value: undefined, address }], [], [{ reason }], at);
    await journal.quarantine([
      { at, source: { id: source.id, type: source.type }, reason, detail, raw: `${raw}` },
    ]);
    opts.observer?.onDurable?.(source.id, 0, 1, Date.now());
  }

  return { id: source.id, log: opts.log, signal, emit, reject };
}
