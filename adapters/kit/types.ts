// The contract between the core and every southbound adapter. An adapter only emits samples through its
// context; it never imports the journal, a sink or the pipeline.
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { SignalDeclarations } from '../../src/config/kit/signal.js';
import type { RawSample } from '../../src/model/records.js';

export type ComponentState = 'starting' | 'connected' | 'reconnecting' | 'down' | 'stopped';

export interface ComponentHealth {
  state: ComponentState;
  /** Words a plant engineer understands, e.g. "unit 3 timed out 5 times; retrying in 8 s". */
  detail?: string;
  /** Epoch ms of the last sample emitted, if any. */
  last_sample_at?: number;
  last_error?: string;
  last_error_at?: number;
  /** Protocol-specific counters (requests, timeouts, reconnects, notifications...). */
  counters?: Record<string, number>;
  /**
   * Sentences about declared signals that need a person (a node or browse path that does not resolve, a
   * value_type that contradicts the server's type). Each is a reason on /status and makes the source degraded
   * until it is gone. Bounded by the adapter.
   */
  problems?: string[];
  /** Declared signals that are never read because their address does not resolve (sorted, bounded). */
  unresolved_signals?: string[];
}

export interface EmitResult {
  /** Samples that became records in the journal. */
  accepted: number;
  /** Samples that went to quarantine (with their reason). */
  quarantined: number;
}

export interface AdapterContext {
  readonly id: string;
  /** pino child {component:'source', kind, id}. Never log per sample or per poll. */
  readonly log: Logger;
  /** Aborted on shutdown or reload of this source. */
  readonly signal: AbortSignal;
  /**
   * Hands samples to normalize -> validate -> journal. Resolves once everything is durable (synced) in the
   * journal or the quarantine; waiting here is the back-pressure when the journal is full with `block`.
   */
  emit(samples: readonly RawSample[]): Promise<EmitResult>;
  /**
   * Puts a payload that could not even be turned into samples (unparseable, too large) into quarantine with
   * its reason code; resolves once durable. `raw` is cut to a bound by the caller.
   */
  reject(raw: string, reason: string, detail: string, address: string): Promise<void>;
}

export interface Adapter {
  /** Connect. A ConfigError is fatal; other failures are retried by the adapter itself with backoff. */
  start(ctx: AdapterContext): Promise<void>;
  /** Idempotent; waits for in-flight emits. */
  stop(): Promise<void>;
  /** No I/O; feeds /status. */
  health(): ComponentHealth;
}

/** What the adapter needs to know about the gateway, beyond its own config section. */
export interface AdapterEnv {
  gatewayId: string;
  site: string;
  timezone: string;
  /** Writable directory for this adapter's own state (e.g. OPC UA PKI): `<storage.dir>/<kind>/<id>`. */
  stateDir: string;
}

export interface SourceConfigBase {
  id: string;
  type: string;
  /** Team that owns the source's exceptions; the gateway's default when absent. */
  owner?: string | undefined;
}

/** One entry per protocol in adapters/index.ts. */
export interface AdapterDefinition<C extends SourceConfigBase = SourceConfigBase> {
  type: string;
  /** `.strict()` zod object with `type: z.literal(type)`; every field `.describe()`d. */
  schema: z.ZodType<C>;
  /** Signal specs the source will emit, for the pipeline and for config-wide checks (duplicates, references). */
  declarations(config: C): SignalDeclarations;
  create(config: C, env: AdapterEnv): Adapter;
  /** Optional extra checks that need the whole source (e.g. overlapping Modbus registers); messages per path. */
  check?(config: C): Array<{ path: Array<string | number>; message: string }>;
  /** Optional human-readable plan of what the source will do (e.g. the Modbus read plan), for `check-config --plan`. */
  describePlan?(config: C): string;
}

export function defineAdapter<C extends SourceConfigBase>(def: AdapterDefinition<C>): AdapterDefinition<C> {
  return def;
}
