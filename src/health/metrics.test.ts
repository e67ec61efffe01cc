// /metrics carries the deriver's figures from the /status document it is computed from: ignored samples by
// reason, forced and pending samples, open windows and downtimes; with no events configured those series are
// absent (not zero), and they follow the document when it changes (gauges, since a reload starts them again).
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { buildStatus, type EventStatsFacts, type StatusInput } from './build-status.js';
import { createMetrics } from './metrics.js';
import type { StatusDocument } from './status-document.js';

const NOW = Date.parse('2026-11-30T10:00:00Z');

function statusWith(eventStats?: EventStatsFacts): StatusDocument {
  const input: StatusInput = {
    now: NOW,
    gateway: { id: 'lyon-edge-01', site: 'lyon' },
    rules: { stallAfterIntervals: 10, backlogDegradedAfterMs: 300_000, backlogFailingAfterMs: 3_600_000 },
    storage: {
      max_bytes: 1e9,
      when_full: 'drop_oldest',
      quarantine_max_bytes: 1e8,
      dead_letters_max_bytes: 1e8,
    },
    daemon: {
      version: '1.0.0',
      pid: 1,
      startedAt: NOW - 60_000,
      configFile: '/etc/plantgate/plant.yaml',
      loadedAt: NOW - 60_000,
      reloads: 0,
      ready: true,
    },
    sources: [],
    sinks: [],
    journal: {
      records: 0,
      bytes: 0,
      first_seq: 0,
      last_seq: 0,
      sinks: {},
      quarantine: { total: 0, by_reason: {} },
      dead_letters: { batches: 0, records: 0 },
      blocked: false,
    },
    eventsDerived: 0,
    recentDrops: {},
  };
  return buildStatus(eventStats ? { ...input, eventStats } : input);
}

const stats = (over: Partial<EventStatsFacts> = {}): EventStatsFacts => ({
  accepted: 100,
  ignored: { bad_quality: 3, invalid_value: 0, duplicate: 5, out_of_order: 2 },
  forced: 4,
  pending: 7,
  open_windows: 2,
  open_downtimes: 1,
  emitted: { production_count: 9 },
  state_discarded: 0,
  ...over,
});

describe('/metrics: the deriver figures', () => {
  it('shows ignored by reason, forced, pending and open windows, and follows the document', async () => {
    let doc = statusWith(stats());
    const reg = createMetrics(new Registry(), () => doc);
    let text = await reg.metrics();
    expect(text).toContain('plantgate_events_samples_ignored{reason="bad_quality"} 3');
    expect(text).toContain('plantgate_events_samples_ignored{reason="duplicate"} 5');
    expect(text).toContain('plantgate_events_samples_ignored{reason="out_of_order"} 2');
    expect(text).toContain('plantgate_events_samples{stage="forced"} 4');
    expect(text).toContain('plantgate_events_samples{stage="pending"} 7');
    expect(text).toContain('plantgate_events_samples{stage="accepted"} 100');
    expect(text).toContain('plantgate_events_open{kind="window"} 2');
    expect(text).toContain('plantgate_events_open{kind="downtime"} 1');
    doc = statusWith(stats({ pending: 0, forced: 6 }));
    text = await reg.metrics();
    expect(text).toContain('plantgate_events_samples{stage="pending"} 0');
    expect(text).toContain('plantgate_events_samples{stage="forced"} 6');
  });

  it('has no deriver series when no events are configured', async () => {
    const doc = statusWith();
    expect(doc.events).toBeUndefined();
    const text = await createMetrics(new Registry(), () => doc).metrics();
    expect(text).not.toMatch(/^plantgate_events_\w+(\{[^}]*\})? \d/m);
    expect(text).toContain('plantgate_status 0');
  });
});
