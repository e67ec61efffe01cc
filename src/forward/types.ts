// The northbound contract: a sink writes one batch and resolves only after the remote acknowledged it.
import type { CanonicalRecord } from '../model/records.js';

export interface Batch {
  /** `<gateway id>:<sink id>:<first seq>-<last seq>`: deterministic, so a retry after a crash is the same batch. */
  batch_id: string;
  first_seq: number;
  last_seq: number;
  records: CanonicalRecord[];
  /** Optional JSON text of each record, aligned with `records` (from the journal), to avoid stringifying again. */
  records_json?: string[];
}

export type WriteOutcome =
  | { ok: true; status: number; latency_ms: number }
  | {
      ok: false;
      retryable: true;
      status?: number;
      retry_after_ms?: number;
      /** Set when retrying alone cannot help: the configuration (or the receiver's setup) must change. */
      problem?: 'redirect';
      error: string;
    }
  | { ok: false; retryable: false; status?: number; error: string };

export interface Sink {
  readonly id: string;
  start(): Promise<void>;
  /** Sends one batch; never throws for remote failures, returns their classification instead. */
  write(batch: Batch, signal: AbortSignal): Promise<WriteOutcome>;
  stop(): Promise<void>;
}
