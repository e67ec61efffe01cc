// Prometheus metrics for /metrics, computed at scrape time from the daemon's status document so the numbers
// on /metrics and /status can never disagree. Counters are fed by deltas of the persisted ledger counters.
import { Counter, collectDefaultMetrics, Gauge, type Registry } from 'prom-client';
import type { StatusDocument } from './status-document.js';

export function createMetrics(reg: Registry, getStatus: () => StatusDocument): Registry {
  collectDefaultMetrics({ register: reg, prefix: 'plantgate_process_' });

  const srcUp = new Gauge({
    name: 'plantgate_source_connected',
    help: 'Whether the source is connected (1) or not (0).',
    labelNames: ['source', 'type'],
    registers: [reg],
  });
  const srcAge = new Gauge({
    name: 'plantgate_source_last_sample_age_seconds',
    help: 'Seconds since the source last delivered a sample.',
    labelNames: ['source'],
    registers: [reg],
  });
  const quality = new Gauge({
    name: 'plantgate_source_data_quality_ratio',
    help: 'Data quality per source: completeness, conformity and duplication as ratios.',
    labelNames: ['source', 'dimension'],
    registers: [reg],
  });
  const timeliness = new Gauge({
    name: 'plantgate_source_timeliness_seconds',
    help: 'Source-to-ingest latency quantiles over recent samples.',
    labelNames: ['source', 'quantile'],
    registers: [reg],
  });
  const received = new Counter({
    name: 'plantgate_samples_received_total',
    help: 'Samples received from sources (received = ingested + quarantined + duplicates suppressed).',
    labelNames: ['source'],
    registers: [reg],
  });
  const ingested = new Counter({
    name: 'plantgate_records_ingested_total',
    help: 'Samples that became records in the journal.',
    labelNames: ['source'],
    registers: [reg],
  });
  const duplicates = new Counter({
    name: 'plantgate_duplicates_suppressed_total',
    help: 'Exact repeats of recently journaled readings (e.g. a broker redelivery) dropped before the journal.',
    labelNames: ['source'],
    registers: [reg],
  });
  const quarantined = new Counter({
    name: 'plantgate_samples_quarantined_total',
    help: 'Samples sent to quarantine, by source and reason.',
    labelNames: ['source', 'reason'],
    registers: [reg],
  });
  const sinkLedger = new Gauge({
    name: 'plantgate_sink_records',
    help: 'Per-sink ledger (ingested = delivered + queued + dead_lettered + dropped), persisted across restarts.',
    labelNames: ['sink', 'state'],
    registers: [reg],
  });
  const sinkDropped = new Gauge({
    name: 'plantgate_sink_dropped_records',
    help: 'Records dropped for a sink, by reason, persisted across restarts.',
    labelNames: ['sink', 'reason'],
    registers: [reg],
  });
  const sinkOldest = new Gauge({
    name: 'plantgate_sink_oldest_unacked_age_seconds',
    help: 'Age of the oldest record not yet acknowledged by the sink.',
    labelNames: ['sink'],
    registers: [reg],
  });
  const sinkLatency = new Gauge({
    name: 'plantgate_sink_latency_seconds',
    help: 'Recent request latency of the sink (moving average).',
    labelNames: ['sink'],
    registers: [reg],
  });
  const journalRecords = new Gauge({
    name: 'plantgate_journal_records',
    help: 'Records in the journal.',
    registers: [reg],
  });
  const journalBytes = new Gauge({
    name: 'plantgate_journal_bytes',
    help: 'Bytes in the journal.',
    registers: [reg],
  });
  const journalMax = new Gauge({
    name: 'plantgate_journal_max_bytes',
    help: 'Configured journal bound.',
    registers: [reg],
  });
  const journalBlocked = new Gauge({
    name: 'plantgate_journal_blocked',
    help: '1 while appends wait for space (when_full: block).',
    registers: [reg],
  });
  const qTotal = new Gauge({
    name: 'plantgate_quarantine_entries',
    help: 'Entries held in quarantine, by reason.',
    labelNames: ['reason'],
    registers: [reg],
  });
  const dlBatches = new Gauge({
    name: 'plantgate_dead_letter_batches',
    help: 'Dead-lettered batches held.',
    registers: [reg],
  });
  // The quarantine's and dead letters' own bounds (storage.quarantine, storage.dead_letters).
  const keptBytes = new Gauge({
    name: 'plantgate_kept_bytes',
    help: 'Stored bytes of the quarantine and of the dead letters (store: quarantine | dead_letters).',
    labelNames: ['store'],
    registers: [reg],
  });
  const keptMax = new Gauge({
    name: 'plantgate_kept_max_bytes',
    help: 'Configured bound of the quarantine and of the dead letters (store: quarantine | dead_letters).',
    labelNames: ['store'],
    registers: [reg],
  });
  const keptDropping = new Gauge({
    name: 'plantgate_kept_dropping',
    help: '1 while the quarantine or the dead letters are at their bound and dropping.',
    labelNames: ['store'],
    registers: [reg],
  });
  const keptDropped = new Counter({
    name: 'plantgate_kept_dropped_total',
    help: 'Quarantine entries and dead-letter batches dropped by their bound, by store and cause (max_bytes, max_age).',
    labelNames: ['store', 'cause'],
    registers: [reg],
  });

  // The deriver's figures count since the event definitions were loaded (a reload that changes them starts
  // again), so they are gauges, not counters; without events configured they have no series at all.
  const evIgnored = new Gauge({
    name: 'plantgate_events_samples_ignored',
    help: 'Samples the event derivations did not use, by reason, since the event definitions were loaded.',
    labelNames: ['reason'],
    registers: [reg],
  });
  const evSamples = new Gauge({
    name: 'plantgate_events_samples',
    help: 'Samples of the event derivations: accepted and forced (derived before their lateness allowance ran out because a buffer was full) since the definitions were loaded; pending (waiting for their lateness allowance) now.',
    labelNames: ['stage'],
    registers: [reg],
  });
  const evOpen = new Gauge({
    name: 'plantgate_events_open',
    help: 'Open aggregation windows and downtimes of the event derivations (kind: window | downtime).',
    labelNames: ['kind'],
    registers: [reg],
  });

  const last = new Map<string, number>();
  const bump = (c: Counter<string>, key: string, labels: Record<string, string>, value: number) => {
    const prev = last.get(key) ?? 0;
    if (value > prev) c.inc(labels, value - prev);
    last.set(key, Math.max(prev, value));
  };

  const up = new Gauge({
    name: 'plantgate_status',
    help: 'Overall status: 0 ok, 1 degraded, 2 failing.',
    registers: [reg],
  });
  // Everything is refreshed from one status document per scrape.
  const refresh = () => {
    const s = getStatus();
    up.set(s.status === 'ok' ? 0 : s.status === 'degraded' ? 1 : 2);
    const now = Date.now();
    for (const [id, src] of Object.entries(s.sources)) {
      srcUp.set({ source: id, type: src.type }, src.state === 'connected' ? 1 : 0);
      if (src.last_sample_at) srcAge.set({ source: id }, (now - Date.parse(src.last_sample_at)) / 1000);
      for (const dim of ['completeness', 'conformity', 'duplication'] as const) {
        const v = src.quality[dim];
        if (v !== undefined) quality.set({ source: id, dimension: dim }, v);
      }
      if (src.quality.timeliness_p50_ms !== undefined)
        timeliness.set({ source: id, quantile: '0.5' }, src.quality.timeliness_p50_ms / 1000);
      if (src.quality.timeliness_p95_ms !== undefined)
        timeliness.set({ source: id, quantile: '0.95' }, src.quality.timeliness_p95_ms / 1000);
      bump(received, `r:${id}`, { source: id }, src.received);
      bump(ingested, `i:${id}`, { source: id }, src.ingested);
      bump(duplicates, `d:${id}`, { source: id }, src.duplicates_suppressed);
      for (const [reason, n] of Object.entries(src.quarantined_by_reason))
        bump(quarantined, `q:${id}:${reason}`, { source: id, reason }, n);
    }
    for (const [id, k] of Object.entries(s.sinks)) {
      for (const st of ['ingested', 'delivered', 'queued', 'dead_lettered'] as const)
        sinkLedger.set({ sink: id, state: st }, k.ledger[st]);
      for (const [reason, n] of Object.entries(k.ledger.dropped)) sinkDropped.set({ sink: id, reason }, n);
      sinkOldest.set({ sink: id }, k.oldest_unacked_age_s ?? 0);
      if (k.latency_ms !== undefined) sinkLatency.set({ sink: id }, k.latency_ms / 1000);
    }
    journalRecords.set(s.journal.records);
    journalBytes.set(s.journal.bytes);
    journalMax.set(s.journal.max_bytes);
    journalBlocked.set(s.journal.blocked ? 1 : 0);
    // Every reason ever seen gets a value, so a reason emptied by replay or purge drops to 0 instead of lingering.
    for (const reason of Object.keys(s.quarantine.by_reason)) {
      qTotal.set({ reason }, s.quarantine.held_by_reason[reason] ?? 0);
    }
    dlBatches.set(s.dead_letters.batches);
    for (const [store, k] of [
      ['quarantine', s.quarantine],
      ['dead_letters', s.dead_letters],
    ] as const) {
      keptBytes.set({ store }, k.bytes ?? 0);
      if (k.max_bytes !== undefined) keptMax.set({ store }, k.max_bytes);
      keptDropping.set({ store }, k.dropping_since !== undefined ? 1 : 0);
      for (const [cause, n] of Object.entries(k.dropped ?? {}))
        bump(keptDropped, `k:${store}:${cause}`, { store, cause }, n);
    }
    for (const g of [evIgnored, evSamples, evOpen]) g.reset();
    const ev = s.events;
    if (ev) {
      for (const [reason, n] of Object.entries(ev.ignored)) evIgnored.set({ reason }, n);
      evSamples.set({ stage: 'accepted' }, ev.accepted);
      evSamples.set({ stage: 'forced' }, ev.forced);
      evSamples.set({ stage: 'pending' }, ev.pending);
      evOpen.set({ kind: 'window' }, ev.open_windows);
      evOpen.set({ kind: 'downtime' }, ev.open_downtimes);
    }
  };
  const metrics = reg.metrics.bind(reg);
  reg.metrics = async () => {
    refresh();
    return metrics();
  };
  return reg;
}
