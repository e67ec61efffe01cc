// What the receiver has received: per-path de-duplication (by batch id and by record id), the accepted records,
// the batch and request logs, the duplicate records kept to find out why they came again, and the counters
// behind `stats()`. No HTTP here: the handler decides how to answer, this file remembers what happened.
import type * as http from 'node:http';
import { Reconciler, type Reconciliation } from './reconcile.js';
import type { DuplicateRecord, PathStats, ReceivedBatch, ReceiverStats, RequestLogEntry } from './types.js';
import type { WireBatch, WireRecord } from './wire.js';

export interface PathState {
  stats: PathStats;
  batchIds: Set<string>;
  /** Record id -> the batch id that brought it first. */
  ids: Map<string, string>;
  records: WireRecord[];
  /** Id -> the stored record (kept records only), for reconciliation. */
  held: Map<string, WireRecord>;
  /** The path's reconciliation of control.totals windows (kept records only). */
  reconciler: Reconciler;
}

function emptyPathStats(): PathStats {
  return { requests: 0, batches: 0, duplicate_batches: 0, records: 0, duplicate_records: 0, rejected: 0 };
}

function emptyStats(): ReceiverStats {
  return {
    started_at: new Date().toISOString(),
    up: false,
    requests: 0,
    batches: 0,
    duplicate_batches: 0,
    records: 0,
    duplicate_records: 0,
    invalid: 0,
    rejected: 0,
    unauthorized: 0,
    faults_fired: { status: 0, reset: 0 },
    concurrent: 0,
    max_concurrent: 0,
    responses: {},
    paths: {},
    process_cpu_ms: 0,
  };
}

export class ReceivedData {
  readonly #keep: boolean;
  #paths = new Map<string, PathState>();
  #batches: ReceivedBatch[] = [];
  #requestLog: RequestLogEntry[] = [];
  #duplicates: DuplicateRecord[] = [];
  #lastHeaders = new Map<string, http.IncomingHttpHeaders>();
  #counters: ReceiverStats = emptyStats();

  /** `keep` false keeps only ids and counts (benchmarks). */
  constructor(keep: boolean) {
    this.#keep = keep;
  }

  /** The live counters the handler bumps (a fresh object after `reset`, so never hold on to it). */
  get counters(): ReceiverStats {
    return this.#counters;
  }

  stats(up: boolean): ReceiverStats {
    const paths: Record<string, PathStats> = {};
    for (const [p, s] of this.#paths) paths[p] = { ...s.stats };
    const cpu = process.cpuUsage();
    return {
      ...this.#counters,
      process_cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
      up,
      faults_fired: { ...this.#counters.faults_fired },
      responses: { ...this.#counters.responses },
      paths,
    };
  }

  records(path?: string): WireRecord[] {
    if (path !== undefined) return [...(this.#paths.get(path)?.records ?? [])];
    return [...this.#paths.values()].flatMap((p) => p.records);
  }

  batches(path?: string): ReceivedBatch[] {
    return this.#batches.filter((b) => path === undefined || b.path === path);
  }

  /** The reconciliation of every control.totals window received, in arrival order (kept records only). */
  reconciliations(path?: string): Reconciliation[] {
    const paths = path !== undefined ? [this.#paths.get(path)] : [...this.#paths.values()];
    return paths.flatMap((p) => p?.reconciler.results() ?? []);
  }

  /**
   * Forgets one stored record without a trace, as a lossy central store would (for reconciliation tests).
   * Returns whether the record was held.
   */
  loseRecord(id: string, path?: string): boolean {
    for (const [name, p] of this.#paths) {
      if (path !== undefined && name !== path) continue;
      if (!p.held.delete(id)) continue;
      p.ids.delete(id);
      const i = p.records.findIndex((r) => r.id === id);
      if (i >= 0) p.records.splice(i, 1);
      return true;
    }
    return false;
  }

  duplicates(path?: string): DuplicateRecord[] {
    return this.#duplicates.filter((d) => path === undefined || d.path === path);
  }

  requests(path?: string): RequestLogEntry[] {
    return this.#requestLog.filter((b) => path === undefined || b.path === path);
  }

  logRequest(path: string, status: number, batchId?: string): void {
    if (this.#requestLog.length >= 10_000) this.#requestLog.shift();
    const e: RequestLogEntry = { at: Date.now(), path, status };
    if (batchId !== undefined) e.batch_id = batchId;
    this.#requestLog.push(e);
  }

  lastHeaders(path?: string): http.IncomingHttpHeaders | undefined {
    if (path !== undefined) return this.#lastHeaders.get(path);
    return [...this.#lastHeaders.values()].at(-1);
  }

  setLastHeaders(path: string, headers: http.IncomingHttpHeaders): void {
    this.#lastHeaders.set(path, headers);
  }

  /** Forgets all received data and counters. */
  reset(): void {
    this.#paths.clear();
    this.#batches = [];
    this.#requestLog = [];
    this.#duplicates = [];
    this.#lastHeaders.clear();
    this.#counters = emptyStats();
  }

  path(name: string): PathState {
    let p = this.#paths.get(name);
    if (!p) {
      p = {
        stats: emptyPathStats(),
        batchIds: new Set(),
        ids: new Map(),
        records: [],
        held: new Map(),
        reconciler: new Reconciler(),
      };
      this.#paths.set(name, p);
    }
    return p;
  }

  /**
   * Takes a batch that passed every check: a batch id seen before on this path is a duplicate and stores
   * nothing; otherwise its records whose id is new are stored. `ps` is the path's state as the request found
   * it when it arrived. Returns the answer body.
   */
  accept(ps: PathState, pathName: string, batch: WireBatch): Record<string, unknown> {
    const stats = this.#counters;
    const now = Date.now();
    stats.last_batch_at = new Date(now).toISOString();
    if (ps.batchIds.has(batch.batch_id)) {
      stats.duplicate_batches += 1;
      ps.stats.duplicate_batches += 1;
      this.#batches.push({
        batch_id: batch.batch_id,
        path: pathName,
        records: batch.records.length,
        duplicate: true,
        at: now,
      });
      return { status: 'duplicate', batch_id: batch.batch_id };
    }
    ps.batchIds.add(batch.batch_id);
    stats.batches += 1;
    ps.stats.batches += 1;
    let fresh = 0;
    for (const r of batch.records) {
      const first = ps.ids.get(r.id);
      if (first !== undefined) {
        stats.duplicate_records += 1;
        ps.stats.duplicate_records += 1;
        if (this.#duplicates.length < 1000) {
          this.#duplicates.push({
            id: r.id,
            path: pathName,
            batch_id: batch.batch_id,
            first_batch_id: first,
            at: now,
            record: r,
          });
        }
        continue;
      }
      ps.ids.set(r.id, batch.batch_id);
      fresh += 1;
      if (this.#keep) {
        ps.records.push(r);
        ps.held.set(r.id, r);
      }
    }
    if (this.#keep) {
      // Reconciled once the batch is stored: a window's totals come after every batch the window covers.
      for (const t of ps.reconciler.accepted(batch)) ps.reconciler.reconcile(t, ps.held);
    }
    stats.records += fresh;
    ps.stats.records += fresh;
    this.#batches.push({
      batch_id: batch.batch_id,
      path: pathName,
      records: batch.records.length,
      duplicate: false,
      at: now,
    });
    return { status: 'accepted', batch_id: batch.batch_id, records: fresh };
  }
}
