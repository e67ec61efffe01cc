// The receiver simulator's public types: its options, the fault commands it takes, the counters and logs it
// keeps, and the Receiver handle tests drive it through. Kept apart from the HTTP handling so a reader of the
// test-facing surface need not wade through request routing.
import type * as http from 'node:http';
import type { Reconciliation } from './reconcile.js';
import type { WireRecord } from './wire.js';

export interface ReceiverTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  /** CA(s) that sign client certificates, for mutual TLS. */
  ca?: string | Buffer;
  /** Ask for a client certificate and refuse clients without a valid one. */
  requestCert?: boolean;
}

export interface ReceiverOptions {
  /** 0 (default) lets the OS pick; read the bound port back from `receiver.port`. */
  port?: number;
  host?: string;
  tls?: ReceiverTlsOptions;
  /** Keep every accepted record (default). False keeps only ids and counts, for benchmarks. */
  keep_records?: boolean;
  /** When set, batch requests without exactly this Authorization header value get 401. */
  require_authorization?: string;
  /** Largest accepted body; bigger gets 413. Default 64 MiB. */
  max_body_bytes?: number;
}

/** A fault command, in-process or as the JSON body of `POST /_recv/faults`. Given keys replace current ones. */
export interface FaultCommand {
  /** Remove all faults first. */
  clear?: boolean;
  /** Answer batch requests with this status instead of accepting them (e.g. 503, 429, 400). */
  status?: number;
  /** ... for the next `count` batch requests ... */
  count?: number;
  /** ... or for this long (ms); until cleared when neither is given. */
  for_ms?: number;
  /** Retry-After header sent with the status fault: seconds, or an HTTP date (any text is sent as given). */
  retry_after?: number | string;
  /** Location header sent with the status fault (for 3xx redirects). */
  location?: string;
  /** Apply the status fault only to the batch with this id (others are accepted). */
  only_batch?: string;
  /** Delay every batch answer by this many ms (0 removes). */
  slow_ms?: number;
  /** Apply slow_ms only to the batch with this id (others are answered at once); null removes. */
  slow_only_batch?: string | null;
  /** Destroy the socket of the next N batch requests (true: all, until cleared; 0/false removes). */
  reset?: number | boolean;
  /** Answer 400 to batches containing any of these record ids. */
  reject_records?: string[];
  /** Answer 400 to batches containing a record with this signal and/or event type. */
  reject_if?: { signal?: string; type?: string };
  /** HTTP control only: go down (close the listener, drop connections) now and come back after this many ms. */
  down_ms?: number;
}

export interface PathStats {
  requests: number;
  batches: number;
  duplicate_batches: number;
  records: number;
  duplicate_records: number;
  rejected: number;
}

export interface ReceiverStats {
  started_at: string;
  up: boolean;
  /** Batch POSTs received, whatever their outcome. */
  requests: number;
  /** Distinct batches accepted. */
  batches: number;
  /** Accepted requests whose batch_id had been accepted before (answered 200, records not stored again). */
  duplicate_batches: number;
  /** Distinct record ids accepted. */
  records: number;
  /** Records of new batches whose id had already arrived in an earlier batch. */
  duplicate_records: number;
  /** 400 for a body or header that breaks the wire contract. */
  invalid: number;
  /** 400 by reject_records / reject_if. */
  rejected: number;
  /** 401 for a missing or wrong Authorization header. */
  unauthorized: number;
  /** Injected faults that fired. */
  faults_fired: { status: number; reset: number };
  /** Batch requests being handled now, and the most at once so far. */
  concurrent: number;
  max_concurrent: number;
  /** Answers by HTTP status. */
  responses: Record<string, number>;
  paths: Record<string, PathStats>;
  last_batch_at?: string;
  /** The last contract violation, in words. */
  last_problem?: string;
  /** CPU time (user + system) of the receiver's process so far, for benchmarks. */
  process_cpu_ms: number;
}

export interface ReceivedBatch {
  batch_id: string;
  path: string;
  records: number;
  duplicate: boolean;
  at: number;
}

/** A record whose id had already arrived in an earlier accepted batch (or earlier in the same batch). */
export interface DuplicateRecord {
  id: string;
  path: string;
  /** The batch that carried it again, and the batch that carried it first. */
  batch_id: string;
  first_batch_id: string;
  at: number;
  /** The record as it came the second time (kept even with keep_records false: duplicates are few). */
  record: WireRecord;
}

/** One batch request and how it was answered (status 0: the connection was reset on purpose). */
export interface RequestLogEntry {
  at: number;
  path: string;
  status: number;
  batch_id?: string;
}

export interface ActiveFaults {
  status?: {
    code: number;
    remaining?: number;
    until?: number;
    retry_after?: string;
    location?: string;
    only_batch?: string;
  };
  slow_ms?: number;
  slow_only_batch?: string;
  reset?: { remaining?: number };
  reject_records?: string[];
  reject_if?: { signal?: string; type?: string };
}

export interface Receiver {
  readonly url: string;
  readonly port: number;
  stats(): ReceiverStats;
  /** Accepted records (arrival order) of one path, or of all paths. Empty with keep_records false. */
  records(path?: string): WireRecord[];
  /** Every accepted batch request (including duplicates), in arrival order. */
  batches(path?: string): ReceivedBatch[];
  /** Records that arrived again under a new batch id, in order (the first 1,000), to find out why. */
  duplicates(path?: string): DuplicateRecord[];
  /** Each control.totals window received, reconciled against the records held (docs/reconciliation.md). */
  reconciliations(path?: string): Reconciliation[];
  /** Forgets one stored record without a trace, as a lossy central store would; true when it was held. */
  loseRecord(id: string, path?: string): boolean;
  /** Every batch request with its answer, in order (the last 10,000). */
  requests(path?: string): RequestLogEntry[];
  /** Headers of the last batch request on a path (for auth checks in tests; not exposed over HTTP). */
  lastHeaders(path?: string): http.IncomingHttpHeaders | undefined;
  faults(): ActiveFaults;
  setFaults(f: FaultCommand): void;
  /** Forgets all received data and counters (faults stay). */
  resetData(): void;
  /** Closes the listener and drops open connections; the port stays reserved for comeUp() by convention. */
  goDown(): Promise<void>;
  /** Listens again on the same port. */
  comeUp(): Promise<void>;
  close(): Promise<void>;
}
