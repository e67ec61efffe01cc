// What a forwarder is built from: the parts of a sink's configuration it applies and the options the daemon (or a
// test) gives it. Apart from forwarder.ts, which is the loop and the window.
import type { Logger } from 'pino';
import type { DeadLetter, Journal } from '../journal/types.js';
import type { Sink } from './kit/types.js';
import type { ForwarderMetrics } from './sink-health.js';

/** The parts of a sink's configuration the forwarder uses: the fields every sink kind has (config.ts). */
export interface ForwarderSinkConfig {
  id: string;
  batch: { max_records: number; max_bytes: number; max_wait: number };
  max_in_flight: number;
  retry: { initial: number; max: number; probe_interval?: number | undefined };
  /** Token buckets every attempt passes (burst in ms, as the config parses durations). */
  rate_limit?:
    | { records_per_s?: number | undefined; requests_per_s?: number | undefined; burst: number }
    | undefined;
  /** Reconciliation totals per window (ms): see totals.ts. */
  totals?: { window: number } | undefined;
}

export interface ForwarderOptions {
  journal: Journal;
  sink: Sink;
  gatewayId: string;
  site: string;
  sinkConfig: ForwarderSinkConfig;
  /** Where the sink sends, already masked (its kind's `describe()`), for the start log line. */
  target?: string;
  /** pino child {component:'sink', id}. */
  log: Logger;
  metrics?: ForwarderMetrics;
  /** For tests: the backoff's random source. */
  random?: () => number;
  /** The team that owns this sink's dead letters (stored with each), and who is told of one. */
  owner?: string | undefined;
  onDeadLetter?: ((letter: DeadLetter) => void) | undefined;
  /** Consecutive failed attempts after which the state is `failing` rather than `retrying` (default 5). */
  failingAfter?: number;
  /** For tests: how often the backlog is sampled and over how long a growth must last (default 5 s and 60 s). */
  growth?: { sampleMs: number; windowMs: number };
}
