// The callbacks a connection's parts (items.ts, reading.ts, connection.ts) report through: in its own file so that
// the parts depend on it and not on connection.ts, which imports them (no module cycle).
import type { RawSample } from '../../src/model/records.js';

export interface ConnectionHooks {
  /** Samples of one DataChangeNotification (or one poll): pushed synchronously into the adapter's queue. */
  onSamples(samples: RawSample[]): void;
  /**
   * A per-signal problem that needs a person (unknown node, browse path that does not resolve, array without
   * index, a value_type that contradicts the server's DataType); the adapter logs it once and shows it on
   * /status. `unresolved`: the signal cannot be read at all.
   */
  onProblem(key: string, signal: string, message: string, unresolved?: boolean): void;
  /** The problem under `key` is gone (a polled node answers again). */
  clearProblem(key: string): void;
  count(counter: string, n?: number): void;
}
