// The northbound contract, as adapters/kit/types.ts is the southbound one: a sink writes one batch and resolves only
// after the remote acknowledged it; a SinkDefinition is what one sink kind registers in registry.ts. Batching,
// retries, cursors and dead letters belong to the forwarder, so a sink kind only knows its protocol.
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { CanonicalRecord } from '../../model/records.js';
import type { SinkConfigBase } from './config.js';

/** One record of a batch. Journal entries are batch entries as they are, so a batch carries each record once. */
export interface BatchEntry {
  readonly record: CanonicalRecord;
  /** The record's JSON as the journal stores it, when at hand: it goes on the wire as is, not stringified again. */
  readonly json?: string | undefined;
}

export interface Batch {
  /** `<gateway id>:<sink id>:<first seq>-<last seq>`: deterministic, so a retry after a crash is the same batch. */
  batch_id: string;
  first_seq: number;
  last_seq: number;
  /** The records in seq order. */
  entries: readonly BatchEntry[];
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

/** A configured source and the signals it declares by exact name, for sinks that announce them up front. */
export interface DeclaredSource {
  id: string;
  signals: ReadonlyArray<{
    name: string;
    value_type?: 'number' | 'integer' | 'boolean' | 'string';
    unit?: string;
  }>;
}

/** What a sink needs to know about the gateway, beyond its own config section. */
export interface SinkEnv {
  gatewayId: string;
  site: string;
  /** pino child {component:'sink', kind, id}. Never log per record. */
  log: Logger;
  /** The running configuration's fingerprint (`sha256:<hex>`), read per request: the wire's `Plantgate-Config`. */
  configFingerprint?: (() => string | undefined) | undefined;
  /** The sources configured now and their declared signals (a Sparkplug edge node's DBIRTH); none when absent. */
  declared?: (() => readonly DeclaredSource[]) | undefined;
  /** A directory for the sink's small state files (the storage directory); state stays in memory when absent. */
  stateDir?: string | undefined;
}

/** One entry per sink kind in registry.ts. */
export interface SinkDefinition<C extends SinkConfigBase = SinkConfigBase> {
  type: string;
  /**
   * `.strict()` zod object with `type: z.literal(type)`, the fields of `sinkCommonFields` (../config.ts) and the
   * kind's own; every field `.describe()`d. Secrets arrive resolved by the config loader (src/config/secrets.ts).
   */
  schema: z.ZodType<C>;
  create(config: C, env: SinkEnv): Sink;
  /**
   * Where the sink sends, in one line for /status and the logs, with anything secret masked (an HTTP sink shows
   * its URL with query values masked). No I/O.
   */
  describe(config: C): string;
  /**
   * Optional checks that need more than the kind's own section (the gateway's id and site, e.g. a subject
   * template they must fill), run by check-config and at load like an adapter's `check`; messages per path.
   */
  check?(
    config: C,
    gateway: { id: string; site: string },
  ): Array<{ path: Array<string | number>; message: string }>;
}

export function defineSink<C extends SinkConfigBase>(def: SinkDefinition<C>): SinkDefinition<C> {
  return def;
}

/**
 * Sink states: `retrying` after a failed attempt, `failing` after several in a row; `rate-limited` while the
 * sink's rate_limit holds delivered batches back (delivering, at the promised pace).
 */
export type SinkState = 'connected' | 'rate-limited' | 'retrying' | 'failing' | 'stopped';

/**
 * A sink's health in the shape of a source's ComponentHealth (adapters/kit/types.ts: state, detail, last error,
 * counters), with the sink's own states. Declared here rather than imported, since sinks never import adapters.
 */
export interface SinkHealth {
  state: SinkState;
  /** The state in words for /status. */
  detail: string;
  last_error?: string;
  last_error_at?: number;
  /** Delivery counters since the start (batches and records delivered, retries, dead letters...). */
  counters: Record<string, number>;
}
