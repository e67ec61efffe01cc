// The work waiting for the commit loop: one typed queue of requests (append, sink change, ack, dead letter,
// removals, quarantine, state), each settled by the commit that takes it. Requests are kept in one list per kind:
// a commit takes them kind by kind in a fixed order (see commit.ts), and appends that do not fit stay queued
// while the other kinds are taken, so per-kind lists spare a commit from sorting one mixed list each time.
import type { CanonicalRecord } from '../model/records.js';
import type { DeadLetter, QuarantineEntry, Receipt, SinkSelector } from './types.js';

export interface Settle<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

/** The body of each kind of request; each settles with the value its Journal method resolves to. */
interface Bodies {
  append: Settle<void> & {
    records: readonly CanonicalRecord[];
    values: string[];
    bytes: number;
    signal: AbortSignal | undefined;
    /** Stops watching `signal` (one shared listener per signal, see abort-fanout.ts). */
    unwatch: (() => void) | undefined;
  };
  sinks: Settle<void> & { sinks: readonly SinkSelector[] };
  ack: Settle<void> & { sink: string; seq: number; delivered: number; receipts?: readonly Receipt[] };
  deadLetter: Settle<void> & { letter: DeadLetter; lastSeq: number; receipts?: readonly Receipt[] };
  dlRemoval: Settle<DeadLetter | undefined> & {
    batchId: string;
    outcome: 'delivered' | 'purged';
    receipts?: readonly Receipt[];
  };
  qRemoval: Settle<number> & { ids: readonly number[]; outcome: 'replayed' | 'purged' };
  quarantine: Settle<void> & { entries: ReadonlyArray<Omit<QuarantineEntry, 'id'>> };
  /** A putState() waiting for the commit that writes the state (the values are coalesced per key elsewhere). */
  state: Settle<void>;
}

export type Kind = keyof Bodies;
export type RequestOf<K extends Kind> = { kind: K } & Bodies[K];
export type Request = { [K in Kind]: RequestOf<K> }[Kind];
export type PendingAppend = RequestOf<'append'>;
export type PendingDeadLetter = RequestOf<'deadLetter'>;

type Lists = { [K in Kind]: Array<RequestOf<K>> };

export class OperationQueue {
  readonly #lists: Lists = {
    append: [],
    sinks: [],
    ack: [],
    deadLetter: [],
    dlRemoval: [],
    qRemoval: [],
    quarantine: [],
    state: [],
  };

  push(req: Request): void {
    (this.#lists[req.kind] as Request[]).push(req);
  }

  /** Takes every waiting request of one kind, oldest first. */
  take<K extends Kind>(kind: K): Array<RequestOf<K>> {
    return this.#lists[kind].splice(0);
  }

  /** The waiting appends, oldest first: a commit takes the head that fits, an abort withdraws one. */
  get appends(): Array<PendingAppend> {
    return this.#lists.append;
  }

  /** Anything a commit would take: appends only while they are not stalled (the head does not fit). */
  hasWork(appendsStalled: boolean): boolean {
    const l = this.#lists;
    return (
      (l.append.length > 0 && !appendsStalled) ||
      l.ack.length > 0 ||
      l.deadLetter.length > 0 ||
      l.quarantine.length > 0 ||
      l.qRemoval.length > 0 ||
      l.dlRemoval.length > 0 ||
      l.sinks.length > 0 ||
      l.state.length > 0
    );
  }
}
