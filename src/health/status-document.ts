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
  /** Exact repeats of recently journaled readings (e.g. a broker's redelivery), dropped before the journal. */
  duplicates_suppressed: number;
  last_error?: string;
  last_error_at?: string;
  counters?: Record<string, number>;
  /** Problems with declared signals that need a person (each also a reason); absent when none. */
  problems?: string[];
  /** Declared signals never read because their node or browse path does not resolve; absent when none. */
  unresolved_signals?: string[];
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
  /** received = ingested + quarantined + duplicates_suppressed, since the daemon started. */
  ledger_balanced: boolean;
}

export interface SinkStatus {
  type: string;
  url: string;
  state: string;
  backlog: number;
  oldest_unacked_age_s?: number;
  last_ack_at?: string;
  /** The current error: absent once a success (or a replay) came after it. */
  last_error?: string;
  /** When the current error happened (ISO time); absent with it. */
  last_error_at?: string;
  /** The last error a later success ended: "<when>: <error> (resolved <when>)". */
  past_error?: string;
  last_alarm?: string;
  /** A problem retries cannot fix (a redirect): the sink's url must change. */
  config_problem?: string;
  /** The backlog grew steadily over the last minute while the sink delivered (a slow receiver). */
  backlog_growth?: { records_per_s: number; accepted_per_s: number; window_s: number };
  /**
   * The sink's rate_limit: its limits, how many attempts waited for tokens, whether it holds batches back now
   * (`limited`, state `rate-limited`) and then the estimated seconds until the backlog is drained.
   */
  rate_limit?: {
    records_per_s?: number;
    requests_per_s?: number;
    burst_s: number;
    limited: boolean;
    waited: number;
    drain_eta_s?: number;
  };
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
  config: {
    file: string;
    loaded_at: string;
    reload_error?: string;
    /** A reload was applied except for sections that take effect only after a restart (gateway, storage). */
    restart_pending?: string;
    reloads: number;
    /** `sha256:<hex>` of the running configuration (secrets as references); sent as `Plantgate-Config`. */
    fingerprint?: string;
    /** When and how (start or reload) the running configuration was applied. */
    applied_at?: string;
    applied_how?: 'start' | 'reload';
    /** The approver whose signature let it in, when gateway.require_approval is set. */
    approved_by?: { identity: string; key: string };
  };
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
    /** The quarantine's own bound (storage.quarantine): stored bytes, the bound, entries dropped by cause. */
    bytes?: number;
    max_bytes?: number;
    dropped?: Record<string, number>;
    /** Set (ISO time the episode began) while the quarantine is at its bound and dropping; /status is degraded. */
    dropping_since?: string;
  };
  /** batches/records held now; dropped: batches dropped by the bound (storage.dead_letters), by cause. */
  dead_letters: {
    batches: number;
    records: number;
    bytes?: number;
    max_bytes?: number;
    dropped?: Record<string, number>;
    dropped_records?: number;
    dropping_since?: string;
  };
  ledger: {
    pipeline: {
      received: number;
      ingested: number;
      quarantined: number;
      duplicates_suppressed: number;
      balanced: boolean;
    };
    events_derived: number;
  };
  /** The deriver's figures since the event definitions were loaded; absent when no events are configured. */
  events?: {
    /** Samples taken into a derivation. */
    accepted: number;
    /** Samples not used, by reason (bad_quality, invalid_value, duplicate, out_of_order). */
    ignored: Record<string, number>;
    /** Samples processed before their lateness allowance ran out because a buffer was full. */
    forced: number;
    /** Samples waiting for their lateness allowance now. */
    pending: number;
    open_windows: number;
    open_downtimes: number;
    /** Events emitted, by type. */
    emitted: Record<string, number>;
    /** Persisted states that could not be read back and were started afresh. */
    state_discarded: number;
  };
  /**
   * Exceptions since the start by the team that owns them (quarantined samples, dead-lettered records), each with
   * its top recurring reasons: count, first and last seen, one example. `events_sent`: data.exception events.
   */
  exceptions?: {
    by_owner: Record<
      string,
      {
        total: number;
        reasons: Array<{
          reason: string;
          count: number;
          first_seen: string;
          last_seen: string;
          example: string;
        }>;
        other_reasons?: number;
      }
    >;
    events_sent: number;
  };
}
