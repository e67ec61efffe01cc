// Builds the /status document from plain snapshots of every component, the journal's stats and a few facts
// about the daemon. Pure (no clock, no I/O, no component objects): the daemon gathers the snapshots, this turns
// them into the document, and the golden cases in testcases/ pin both the verdict and the document's shape.
import type { ComponentHealth } from '../../adapters/kit/types.js';
import type { JournalStats } from '../journal/types.js';
import { judge, type SinkSnapshot, type SourceSnapshot, type StatusRules } from './status.js';
import type { SinkStatus, SourceStatus, StatusDocument } from './status-document.js';

/** One running source as /status sees it: the adapter's health and the pipeline's counters for its id. */
export interface SourceFacts {
  id: string;
  type: string;
  health: ComponentHealth;
  startedAt: number;
  expectedIntervalMs?: number;
  /** When the pipeline last processed a sample of this source (the adapter's own last_sample_at is the fallback). */
  lastSampleAt?: number;
  received: number;
  ingested: number;
  quarantined: number;
  quarantinedByReason: Record<string, number>;
  duplicatesSuppressed: number;
  /** Samples per second now (unrounded). */
  ratePerS: number;
  quality: SourceStatus['quality'];
}

/** The part of a forwarder's health /status shows (src/forward: ForwarderHealth has these fields and more). */
export interface SinkHealthFacts {
  state: string;
  last_ack_at?: number;
  last_error?: string;
  /** When the current error happened (epoch ms); shown next to it. */
  last_error_at?: number;
  past_error?: { error: string; at: number; resolved_at: number };
  last_alarm?: {
    at: number;
    batch_id: string;
    records: number;
    status?: number;
    error: string;
    resolved_at?: number;
  };
  config_problem?: { error: string };
  backlog_growth?: { records_per_s: number; accepted_per_s: number; window_s: number };
  rate_limit?: {
    records_per_s?: number;
    requests_per_s?: number;
    burst_s: number;
    waited: number;
    limited: boolean;
    drain_eta_s?: number;
  };
  latency_ms_ewma?: number;
  batches_in_flight: number;
}

/** One running sink: its kind, where it sends (masked by its kind's describe()) and its forwarder's health. */
export interface SinkFacts {
  id: string;
  type: string;
  target: string;
  health: SinkHealthFacts;
}

/** The deriver's own figures (src/events: Deriver.stats()), since the event definitions were loaded: as /status shows them. */
export type EventStatsFacts = NonNullable<StatusDocument['events']>;

/** Facts about the daemon itself, for the document's head and the verdict. */
export interface DaemonFacts {
  version: string;
  pid: number;
  startedAt: number;
  configFile: string;
  loadedAt: number;
  /** The configuration running now: fingerprint, how and when applied, its approval (src/daemon/config-governance.ts). */
  applied?:
    | {
        fingerprint: string;
        how: 'start' | 'reload';
        at: number;
        approval?: { identity: string; key: string };
      }
    | undefined;
  reloads: number;
  reloadError?: string;
  restartPending?: string;
  ready: boolean;
}

/** The configured bounds the document repeats next to the journal's figures. */
export interface StorageFacts {
  max_bytes: number;
  when_full: string;
  quarantine_max_bytes: number;
  dead_letters_max_bytes: number;
}

export interface StatusInput {
  now: number;
  gateway: { id: string; site: string };
  rules: StatusRules;
  storage: StorageFacts;
  daemon: DaemonFacts;
  sources: readonly SourceFacts[];
  sinks: readonly SinkFacts[];
  journal: JournalStats;
  /** Events derived since the daemon started (src/events/stage.ts). */
  eventsDerived: number;
  /** Records dropped per sink in the last 15 minutes (drop-history.ts). */
  recentDrops: Record<string, number>;
  /** The deriver's figures; absent when no events are configured (the document then has no `events`). */
  eventStats?: EventStatsFacts;
  /** Exceptions by owner (src/observe/exceptions.ts via the daemon). */
  exceptions?: StatusDocument['exceptions'];
}

const iso = (ms: number): string => new Date(ms).toISOString();

function sourceStatus(s: SourceFacts, now: number): SourceStatus {
  const h = s.health;
  const lastAt = s.lastSampleAt ?? h.last_sample_at;
  const dups = s.duplicatesSuppressed;
  const doc: SourceStatus = {
    type: s.type,
    state: h.state,
    rate_per_s: Math.round(s.ratePerS * 100) / 100,
    received: s.received,
    ingested: s.ingested,
    quarantined: s.quarantined,
    quarantined_by_reason: { ...s.quarantinedByReason },
    duplicates_suppressed: dups,
    quality: s.quality,
    ledger_balanced: s.received === s.ingested + s.quarantined + dups,
  };
  if (h.detail) doc.detail = h.detail;
  if (lastAt !== undefined) {
    doc.last_sample_at = iso(lastAt);
    doc.last_sample_age_s = Math.round((now - lastAt) / 100) / 10;
  }
  if (s.expectedIntervalMs !== undefined) doc.expected_interval_ms = s.expectedIntervalMs;
  if (h.last_error) doc.last_error = h.last_error;
  if (h.last_error_at) doc.last_error_at = iso(h.last_error_at);
  if (h.counters) doc.counters = h.counters;
  if (h.problems?.length) doc.problems = h.problems;
  if (h.unresolved_signals?.length) doc.unresolved_signals = h.unresolved_signals;
  return doc;
}

function sinkStatus(k: SinkFacts, journal: JournalStats, now: number): SinkStatus {
  const h = k.health;
  const l = journal.sinks[k.id];
  const ledger = l ?? { ingested: 0, delivered: 0, queued: 0, dead_lettered: 0, dropped: {} };
  const droppedTotal = Object.values(ledger.dropped).reduce((a, b) => a + b, 0);
  const oldest = l?.oldest_unacked_at;
  const doc: SinkStatus = {
    type: k.type,
    url: k.target,
    state: h.state,
    backlog: ledger.queued,
    ledger: {
      ingested: ledger.ingested,
      delivered: ledger.delivered,
      queued: ledger.queued,
      dead_lettered: ledger.dead_lettered,
      dropped: { ...ledger.dropped },
      balanced: ledger.ingested === ledger.delivered + ledger.queued + ledger.dead_lettered + droppedTotal,
    },
  };
  if (oldest !== undefined && ledger.queued > 0)
    doc.oldest_unacked_age_s = Math.round((now - oldest) / 100) / 10;
  if (h.last_ack_at !== undefined) doc.last_ack_at = iso(h.last_ack_at);
  if (h.last_error) doc.last_error = h.last_error;
  if (h.last_error && h.last_error_at !== undefined) doc.last_error_at = iso(h.last_error_at);
  // An error a later success (or replay) ended is shown as past, with its time, never as the current one.
  if (h.past_error) {
    doc.past_error = `${iso(h.past_error.at)}: ${h.past_error.error} (resolved ${iso(h.past_error.resolved_at)})`;
  }
  const a = h.last_alarm;
  if (a) {
    doc.last_alarm = `${iso(a.at)}: batch ${a.batch_id} (${a.records} records) rejected${a.status ? ` with HTTP ${a.status}` : ''}: ${a.error}${a.resolved_at !== undefined ? ` (resolved: replayed and delivered ${iso(a.resolved_at)})` : ''}`;
  }
  if (h.config_problem) doc.config_problem = h.config_problem.error;
  if (h.backlog_growth) doc.backlog_growth = h.backlog_growth;
  if (h.rate_limit) {
    const r = h.rate_limit;
    doc.rate_limit = {
      ...(r.records_per_s !== undefined ? { records_per_s: r.records_per_s } : {}),
      ...(r.requests_per_s !== undefined ? { requests_per_s: r.requests_per_s } : {}),
      burst_s: r.burst_s,
      limited: r.limited,
      waited: r.waited,
      ...(r.drain_eta_s !== undefined ? { drain_eta_s: r.drain_eta_s } : {}),
    };
  }
  if (h.latency_ms_ewma !== undefined) doc.latency_ms = Math.round(h.latency_ms_ewma * 10) / 10;
  doc.in_flight = h.batches_in_flight;
  return doc;
}

function sourceSnapshot(s: SourceFacts): SourceSnapshot {
  const snap: SourceSnapshot = { id: s.id, type: s.type, health: s.health, startedAt: s.startedAt };
  const lastAt = s.lastSampleAt ?? s.health.last_sample_at;
  if (s.expectedIntervalMs !== undefined) snap.expectedIntervalMs = s.expectedIntervalMs;
  if (lastAt !== undefined) snap.lastSampleAt = lastAt;
  return snap;
}

function sinkSnapshot(k: SinkFacts, journal: JournalStats): SinkSnapshot {
  const h = k.health;
  const snap: SinkSnapshot = { id: k.id, state: h.state };
  if (h.last_error) snap.lastError = h.last_error;
  if (h.backlog_growth) {
    snap.backlogGrowth = {
      recordsPerS: h.backlog_growth.records_per_s,
      acceptedPerS: h.backlog_growth.accepted_per_s,
    };
  }
  if (h.rate_limit?.limited && h.rate_limit.records_per_s !== undefined)
    snap.limitedTo = h.rate_limit.records_per_s;
  const oldest = journal.sinks[k.id]?.oldest_unacked_at;
  if (oldest !== undefined) snap.oldestUnackedAt = oldest;
  return snap;
}

export function buildStatus(input: StatusInput): StatusDocument {
  const { now, journal: st, daemon: d, storage } = input;
  const sources: Record<string, SourceStatus> = {};
  let received = 0;
  let ingested = 0;
  let quarantined = 0;
  let duplicates = 0;
  for (const s of input.sources) {
    received += s.received;
    ingested += s.ingested;
    quarantined += s.quarantined;
    duplicates += s.duplicatesSuppressed;
    sources[s.id] = sourceStatus(s, now);
  }
  const sinks: Record<string, SinkStatus> = {};
  for (const k of input.sinks) sinks[k.id] = sinkStatus(k, st, now);
  const verdict = judge(
    now,
    input.rules,
    input.sources.map(sourceSnapshot),
    input.sinks.map((k) => sinkSnapshot(k, st)),
    st,
    {
      reloadError: d.reloadError,
      restartPending: d.restartPending,
      ready: d.ready,
      recentDrops: input.recentDrops,
    },
  );
  const doc: StatusDocument = {
    status: verdict.status,
    reasons: verdict.reasons,
    gateway: { id: input.gateway.id, site: input.gateway.site },
    version: d.version,
    pid: d.pid,
    started_at: iso(d.startedAt),
    uptime_s: Math.round((now - d.startedAt) / 1000),
    config: { file: d.configFile, loaded_at: iso(d.loadedAt), reloads: d.reloads },
    sources,
    sinks,
    journal: {
      records: st.records,
      bytes: st.bytes,
      max_bytes: storage.max_bytes,
      when_full: storage.when_full,
      blocked: st.blocked,
      first_seq: st.first_seq,
      last_seq: st.last_seq,
    },
    quarantine: {
      total: st.quarantine.total,
      by_reason: { ...st.quarantine.by_reason },
      held: st.quarantine.held ?? st.quarantine.total,
      held_by_reason: { ...(st.quarantine.held_by_reason ?? st.quarantine.by_reason) },
      replayed: st.quarantine.replayed ?? 0,
      purged: st.quarantine.purged ?? 0,
      bytes: st.quarantine.bytes ?? 0,
      max_bytes: st.quarantine.max_bytes ?? storage.quarantine_max_bytes,
      dropped: { ...st.quarantine.dropped },
      ...(st.quarantine.dropping_since !== undefined
        ? { dropping_since: iso(st.quarantine.dropping_since) }
        : {}),
    },
    dead_letters: {
      batches: st.dead_letters.batches,
      records: st.dead_letters.records,
      bytes: st.dead_letters.bytes ?? 0,
      max_bytes: st.dead_letters.max_bytes ?? storage.dead_letters_max_bytes,
      dropped: { ...st.dead_letters.dropped },
      dropped_records: st.dead_letters.dropped_records ?? 0,
      ...(st.dead_letters.dropping_since !== undefined
        ? { dropping_since: iso(st.dead_letters.dropping_since) }
        : {}),
    },
    ledger: {
      pipeline: {
        received,
        ingested,
        quarantined,
        duplicates_suppressed: duplicates,
        balanced: received === ingested + quarantined + duplicates,
      },
      events_derived: input.eventsDerived,
    },
  };
  if (st.damaged) doc.journal.damaged = st.damaged;
  if (d.reloadError) doc.config.reload_error = d.reloadError;
  if (d.restartPending) doc.config.restart_pending = d.restartPending;
  if (d.applied) {
    doc.config.fingerprint = d.applied.fingerprint;
    doc.config.applied_at = iso(d.applied.at);
    doc.config.applied_how = d.applied.how;
    if (d.applied.approval) doc.config.approved_by = d.applied.approval;
  }
  const ev = input.eventStats;
  if (ev) {
    doc.events = {
      accepted: ev.accepted,
      ignored: { ...ev.ignored },
      forced: ev.forced,
      pending: ev.pending,
      open_windows: ev.open_windows,
      open_downtimes: ev.open_downtimes,
      emitted: { ...ev.emitted },
      state_discarded: ev.state_discarded,
    };
  }
  if (input.exceptions) doc.exceptions = input.exceptions;
  return doc;
}
