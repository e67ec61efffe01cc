// The shape of GET /status (and of `plantgate status --json`): one document a plant IT lead can read.
import type { Overall } from './status.js';

export interface SourceStatus {
  type: string;
  state: string;
  detail?: string;
  last_sample_at?: string;
  last_sample_age_s?: number;
  expected_interval_ms?: number;
  rate_per_s: number;
  received: number;
  ingested: number;
  quarantined: number;
  quarantined_by_reason: Record<string, number>;
  last_error?: string;
  last_error_at?: string;
  counters?: Record<string, number>;
  quality: {
    completeness?: number;
    timeliness_p50_ms?: number;
    timeliness_p95_ms?: number;
    conformity?: number;
    duplication?: number;
    signals_seen: number;
    signals_declared: number;
    missing_signals: string[];
  };
  /** received = ingested + quarantined, since the daemon started. */
  ledger_balanced: boolean;
}

export interface SinkStatus {
  type: string;
  url: string;
  state: string;
  backlog: number;
  oldest_unacked_age_s?: number;
  last_ack_at?: string;
  last_error?: string;
  last_alarm?: string;
  latency_ms?: number;
  in_flight?: number;
  ledger: {
    ingested: number;
    delivered: number;
    queued: number;
    dead_lettered: number;
    dropped: Record<string, number>;
    /** ingested = delivered + queued + dead_lettered + dropped. */
    balanced: boolean;
  };
}

export interface StatusDocument {
  status: Overall;
  reasons: string[];
  gateway: { id: string; site: string };
  version: string;
  pid: number;
  started_at: string;
  uptime_s: number;
  config: { file: string; loaded_at: string; reload_error?: string; reloads: number };
  sources: Record<string, SourceStatus>;
  sinks: Record<string, SinkStatus>;
  journal: {
    records: number;
    bytes: number;
    max_bytes: number;
    when_full: string;
    blocked: boolean;
    first_seq: number;
    last_seq: number;
    damaged?: unknown;
  };
  /** total/by_reason: every entry ever quarantined; held: stored now; replayed and purged: removed since. */
  quarantine: {
    total: number;
    by_reason: Record<string, number>;
    held: number;
    held_by_reason: Record<string, number>;
    replayed: number;
    purged: number;
  };
  dead_letters: { batches: number; records: number };
  ledger: {
    pipeline: { received: number; ingested: number; quarantined: number; balanced: boolean };
    events_derived: number;
  };
}
