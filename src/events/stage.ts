// The derive stage as the daemon runs it: one Deriver for the configured event definitions (rebuilt only when
// they change), the hook the ingest path calls with accepted readings, the commit of what moved the derive state,
// the rollback after a failed commit, the once-a-second tick that closes windows, and the snapshot persisted at
// stop. Its state lives in the journal's state store under DERIVE_STATE_KEY, committed with the records and events
// it produced.
//
// One snapshot per commit, not per emit: the records whose derivation moved the state are appended in commit
// groups, one group in the journal at a time. A group is issued (its records and one snapshot, in the same tick, so
// the journal's group commit writes them together) as soon as the group before it is committed; what arrives
// meanwhile waits in the next group, which the journal would not have committed any earlier anyway. The snapshot is
// taken when a group is issued, so it covers exactly the records appended so far: crash-consistent. When a group's
// commit fails, the deriver goes back to the committed state and every record derived since (that group and the
// next) is refused, to be sent again by its source.
import type { Logger } from 'pino';
import type { Journal } from '../journal/types.js';
import { PlantgateError } from '../kit/errors.js';
import type { CanonicalRecord, EventRecord, Reading } from '../model/records.js';
import type { EventConfig } from './config.js';
import { DERIVE_STATE_KEY, Deriver, type DeriverOptions } from './derive.js';

export { DERIVE_STATE_KEY };

/** Records waiting for the next commit group, and who waits for them. */
interface Group {
  records: CanonicalRecord[];
  waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }>;
}

export interface DeriveStageOptions {
  /** Where events are appended and the state is kept (the journal, or anything with its interface). */
  journal: Journal;
  log: Logger;
  /** Told of each sample an event definition could not use (DeriverOptions.onIgnored). */
  onIgnored?: DeriverOptions['onIgnored'];
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
  readonly #onIgnored: DeriverOptions['onIgnored'];
  #deriver: Deriver | undefined;
  #key: string | undefined;
  /** Signals the definitions read: readings of other signals cost nothing (no snapshot to persist). */
  #signals = new Set<string>();
  #derived = 0;
  /** The group in the journal now (issued, not yet committed). */
  #inFlight: Promise<void> | undefined;
  /** Records derived since, waiting for it. */
  #next: Group | undefined;
  /** After a failed commit, until the deriver is back at the committed state: every group fails. */
  #recovering: Promise<void> | undefined;

  constructor(opts: DeriveStageOptions) {
    this.#journal = opts.journal;
    this.#log = opts.log;
    this.#onIgnored = opts.onIgnored;
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
    // What the old definitions derived is committed with their state before the new ones take over.
    await this.#idle();
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
      onIgnored: this.#onIgnored,
      state: { get: (k) => journal.getState(k), put: (k, v) => journal.putState(k, v) },
    });
    await deriver.load();
    this.#key = key;
    this.#deriver = deriver;
    this.#signals = new Set(deriver.signals());
  }

  /**
   * The ingest path's derive hook: events from accepted readings, and whether the state moved (then the records
   * must be appended through `commit`, which persists the state with them).
   */
  readonly hook = (records: readonly Reading[], now: number): { events: EventRecord[]; moved?: boolean } => {
    const d = this.#deriver;
    if (!d) return { events: [] };
    // Only readings the event definitions use move the state; others cost nothing (no snapshot to persist).
    const relevant = records.filter((r) => this.#signals.has(r.signal));
    if (relevant.length === 0) return { events: [] };
    if (this.#recovering) {
      // The deriver is going back to the committed state: what it took now might or might not survive that.
      throw new PlantgateError(
        'INTERNAL',
        'A commit of derived events failed just now; these samples are refused to be sent again.',
      );
    }
    const events = d.process(relevant, now);
    this.#derived += events.length;
    return { events, moved: true };
  };

  /**
   * Appends an emit's records; resolves once they are synced. Records whose derivation `moved` the state go in one
   * commit with a snapshot that covers them (call it in the same tick as the hook that moved it); there is no way
   * to withdraw them: once derived, they are committed with their group or the deriver goes back. Other records
   * are appended directly (`signal` aborts a wait for room), unless a group is waiting: then they join it, so
   * records keep the order of their emits.
   */
  readonly commit = (
    records: readonly CanonicalRecord[],
    moved = true,
    signal?: AbortSignal,
  ): Promise<void> => {
    if (!moved && this.#next === undefined) return this.#journal.append(records, signal);
    if (this.#inFlight === undefined) return this.#issue(records);
    this.#next ??= { records: [], waiters: [] };
    const g = this.#next;
    for (const r of records) g.records.push(r);
    return new Promise<void>((resolve, reject) => g.waiters.push({ resolve, reject }));
  };

  /** Issues one group: its records and the snapshot in the same tick, so they share one synced commit. */
  #issue(records: readonly CanonicalRecord[]): Promise<void> {
    const d = this.#deriver;
    const writes: Promise<void>[] = [];
    if (records.length > 0) writes.push(this.#journal.append(records));
    if (d) writes.push(this.#journal.putState(this.stateKey, d.snapshot()));
    const group = Promise.all(writes).then(
      () => {
        this.#inFlight = undefined;
        this.#flush();
      },
      async (err: unknown) => {
        await this.#recover();
        this.#inFlight = undefined;
        // Only what was derived after the recovery can be waiting now.
        this.#flush();
        throw err;
      },
    );
    this.#inFlight = group;
    return group;
  }

  /** Issues the waiting group once nothing is in the journal (or fails it while the deriver recovers). */
  #flush(): void {
    const g = this.#next;
    if (!g || this.#inFlight !== undefined) return;
    this.#next = undefined;
    this.#issue(g.records).then(
      () => {
        for (const w of g.waiters) w.resolve();
      },
      (err: unknown) => {
        for (const w of g.waiters) w.reject(err);
      },
    );
  }

  /**
   * After a failed commit: back to the committed state. What was derived meanwhile (the waiting group) is lost
   * with the rollback, so it is refused too (its sources send it again).
   */
  async #recover(): Promise<void> {
    // Set at once: from here on the hook and the tick refuse to move the deriver until it is back.
    const recovering = (async () => {
      try {
        await this.#deriver?.load();
      } catch (err) {
        this.#log.error({ err }, 'Restoring derived-event state after a failed commit failed.');
      }
    })();
    this.#recovering = recovering;
    await recovering;
    this.#recovering = undefined;
    const g = this.#next;
    this.#next = undefined;
    if (g) {
      const err = new PlantgateError(
        'INTERNAL',
        'A commit of derived events failed before this one could be made; it is refused to be sent again.',
      );
      for (const w of g.waiters) w.reject(err);
    }
  }

  /** Resolves once no group is in the journal or waiting (their outcome does not matter here). */
  async #idle(): Promise<void> {
    while (this.#inFlight !== undefined) await this.#inFlight.catch(() => undefined);
  }

  /** Closes what became complete by `now` (windows, lateness) and commits those events with the state. */
  async tick(now: number): Promise<void> {
    const d = this.#deriver;
    if (!d || this.#recovering) return;
    const events = d.tick(now);
    if (events.length === 0) return;
    this.#derived += events.length;
    try {
      await this.commit(events);
    } catch (err) {
      // The commit rolled the deriver back to the committed state: the same events come out of a later tick.
      this.#log.error(
        { err },
        'Appending derived events failed; going back to the last committed state to emit them again.',
      );
    }
  }

  /** What the ingest path takes from this stage (IngestPath's derive and commitDerived). */
  get hooks(): { derive: DeriveStage['hook']; commitDerived: DeriveStage['commit'] } {
    return { derive: this.hook, commitDerived: this.commit };
  }

  /** Persists the state at stop (readings still pending in the lateness allowance are kept, not lost). */
  async persist(): Promise<void> {
    if (!this.#deriver) return;
    try {
      await this.#idle();
      await this.commit([]);
    } catch (err) {
      this.#log.warn({ err }, 'Persisting derived-event state failed at stop.');
    }
  }
}
