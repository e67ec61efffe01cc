// The derive stage as the daemon runs it: one Deriver for the configured event definitions (rebuilt only when
// they change), the hook the ingest path calls with accepted readings, the rollback after a failed commit, the
// once-a-second tick that closes windows, and the snapshot persisted at stop. Its state lives in the journal's
// state store under DERIVE_STATE_KEY, committed with the records and events it produced.
import type { Logger } from 'pino';
import type { Journal } from '../journal/types.js';
import type { EventRecord, Reading } from '../model/records.js';
import type { EventConfig } from './config.js';
import { DERIVE_STATE_KEY, Deriver } from './derive.js';

export { DERIVE_STATE_KEY };

export interface DeriveStageOptions {
  /** Where events are appended and the state is kept (the journal, or anything with its interface). */
  journal: Journal;
  log: Logger;
}

/** A stable key of the event definitions, to tell a reload that changed them from one that did not. */
function keyOf(events: readonly EventConfig[]): string {
  return JSON.stringify(events, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

export class DeriveStage {
  /** The journal state key the derive state is persisted under. */
  readonly stateKey = DERIVE_STATE_KEY;
  readonly #journal: Journal;
  readonly #log: Logger;
  #deriver: Deriver | undefined;
  #key: string | undefined;
  /** Signals the definitions read: readings of other signals cost nothing (no snapshot to persist). */
  #signals = new Set<string>();
  #derived = 0;

  constructor(opts: DeriveStageOptions) {
    this.#journal = opts.journal;
    this.#log = opts.log;
  }

  /**
   * Events derived since the daemon started (by ingest, replay and tick). An event derived again after a failed
   * commit is counted again: this counts derivations, the journal counts what was committed.
   */
  get derived(): number {
    return this.#derived;
  }

  /** The Deriver in use, or undefined when no events are configured. */
  get deriver(): Deriver | undefined {
    return this.#deriver;
  }

  /** Builds the Deriver for these definitions and loads the committed state; a no-op when they did not change. */
  async configure(gatewayId: string, events: readonly EventConfig[]): Promise<void> {
    const key = keyOf(events);
    if (key === this.#key) return;
    if (events.length === 0) {
      this.#key = key;
      this.#deriver = undefined;
      this.#signals = new Set();
      return;
    }
    const journal = this.#journal;
    const deriver = new Deriver({
      gatewayId,
      events,
      state: { get: (k) => journal.getState(k), put: (k, v) => journal.putState(k, v) },
    });
    await deriver.load();
    this.#key = key;
    this.#deriver = deriver;
    this.#signals = new Set(deriver.signals());
  }

  /** The ingest path's derive hook: events from accepted readings and, when the state moved, the state to commit. */
  readonly hook = (records: readonly Reading[], now: number): { events: EventRecord[]; state?: unknown } => {
    const d = this.#deriver;
    if (!d) return { events: [] };
    // Only readings the event definitions use move the state; others cost nothing (no snapshot to persist).
    const relevant = records.filter((r) => this.#signals.has(r.signal));
    if (relevant.length === 0) return { events: [] };
    const events = d.process(relevant, now);
    this.#derived += events.length;
    return { events, state: d.snapshot() };
  };

  /** After a failed commit of events or derive state, go back to the last committed state so nothing is lost. */
  readonly failed = async (): Promise<void> => {
    try {
      await this.#deriver?.load();
    } catch (err) {
      this.#log.error({ err }, 'Restoring derived-event state after a failed commit failed.');
    }
  };

  /** Closes what became complete by `now` (windows, lateness) and commits those events with the state. */
  async tick(now: number): Promise<void> {
    const d = this.#deriver;
    if (!d) return;
    const events = d.tick(now);
    if (events.length === 0) return;
    this.#derived += events.length;
    try {
      await Promise.all([this.#journal.append(events), this.#journal.putState(this.stateKey, d.snapshot())]);
    } catch (err) {
      this.#log.error(
        { err },
        'Appending derived events failed; going back to the last committed state to emit them again.',
      );
      await this.failed();
    }
  }

  /** What the ingest path takes from this stage (IngestPath's derive, deriveStateKey, onDeriveFailed). */
  get hooks(): {
    derive: DeriveStage['hook'];
    deriveStateKey: string;
    onDeriveFailed: () => Promise<void>;
  } {
    return { derive: this.hook, deriveStateKey: this.stateKey, onDeriveFailed: this.failed };
  }

  /** Persists the state at stop (readings still pending in the lateness allowance are kept, not lost). */
  async persist(): Promise<void> {
    const d = this.#deriver;
    if (!d) return;
    try {
      await this.#journal.putState(this.stateKey, d.snapshot());
    } catch (err) {
      this.#log.warn({ err }, 'Persisting derived-event state failed at stop.');
    }
  }
}
