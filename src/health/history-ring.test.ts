// The status page's history ring stays the size it was made: ten windows of ticks keep exactly one window of
// points, oldest first; series beyond the cap are refused and counted, never allocated; a series gone for a
// whole window frees its slot; the values read from /status are the ones the charts are titled after. Counts,
// not heap figures, so the test does not depend on the garbage collector.
import { describe, expect, it } from 'vitest';
import { HistoryRing, historyIntervalMs, historyValues } from './history-ring.js';
import type { StatusDocument } from './status-document.js';

const v = (id: string, value: number) => ({ metric: 'backlog_records' as const, id, value });

describe('HistoryRing', () => {
  it('keeps exactly N points after 10 x N pushes, oldest first, in order across the wrap', () => {
    const ring = new HistoryRing({ points: 36, maxSeries: 4, intervalMs: 10 });
    for (let i = 1; i <= 360; i++) ring.push(i * 10, [v('a', i)]);
    const snap = ring.snapshot();
    expect(ring.length).toBe(36);
    expect(snap.t.length).toBe(36);
    expect(snap.capacity).toBe(36);
    expect(snap.t[0]).toBe(325 * 10);
    expect(snap.t.at(-1)).toBe(3600);
    expect(snap.series).toHaveLength(1);
    expect(snap.series[0]?.values).toEqual(Array.from({ length: 36 }, (_, k) => 325 + k));
  });

  it('serves the same amount of JSON after 2 windows and after 10 (nothing accumulates)', () => {
    const ring = new HistoryRing({ points: 36, maxSeries: 4, intervalMs: 10 });
    const tick = (i: number) => ring.push(1_000_000 + i, [v('a', 5), v('b', 7)]);
    for (let i = 0; i < 72; i++) tick(i);
    const after2 = JSON.stringify(ring.snapshot()).length;
    for (let i = 72; i < 360; i++) tick(i);
    expect(JSON.stringify(ring.snapshot()).length).toBe(after2);
    expect(ring.seriesCount).toBe(2);
  });

  it('before the first wrap, holds only the points pushed', () => {
    const ring = new HistoryRing({ points: 10, maxSeries: 2, intervalMs: 10 });
    for (let i = 1; i <= 3; i++) ring.push(i, [v('a', i * 2)]);
    expect(ring.snapshot().t).toEqual([1, 2, 3]);
    expect(ring.snapshot().series[0]?.values).toEqual([2, 4, 6]);
  });

  it('refuses and counts series beyond the cap, and never holds more', () => {
    const ring = new HistoryRing({ points: 8, maxSeries: 3, intervalMs: 10 });
    for (let tick = 0; tick < 100; tick++) {
      ring.push(
        tick,
        Array.from({ length: 10 }, (_, k) => v(`s${k}`, tick)),
      );
      expect(ring.seriesCount).toBe(3);
    }
    const snap = ring.snapshot();
    expect(snap.series.map((s) => s.id)).toEqual(['s0', 's1', 's2']);
    expect(snap.refused_values).toBe(7 * 100);
  });

  it('gives a value-less point null, and frees the slot of a series gone for a whole window', () => {
    const ring = new HistoryRing({ points: 4, maxSeries: 1, intervalMs: 10 });
    ring.push(1, [v('old', 1)]);
    ring.push(2, []);
    expect(ring.snapshot().series[0]?.values).toEqual([1, null]);
    ring.push(3, [v('new', 3)]);
    expect(ring.snapshot().refused_values).toBe(1);
    ring.push(4, []);
    ring.push(5, [v('new', 5)]);
    // 'old' was last seen 4 ticks (a whole window) ago: its slot went back, 'new' has it now.
    expect(ring.snapshot().series.map((s) => s.id)).toEqual(['new']);
    expect(ring.snapshot().series[0]?.values).toEqual([null, null, null, 5]);
  });

  it('rejects a ring that could not hold a line', () => {
    expect(() => new HistoryRing({ points: 1, maxSeries: 1, intervalMs: 10 })).toThrow(RangeError);
    expect(() => new HistoryRing({ points: 10, maxSeries: 0, intervalMs: 10 })).toThrow(RangeError);
  });
});

describe('historyValues and the sampling interval', () => {
  it('reads each source rate, each sink backlog and, when measured, its latency', () => {
    const doc = {
      sources: { 'gen-1': { rate_per_s: 12.5 } },
      sinks: { central: { backlog: 7, latency_ms: 3.2 }, erp: { backlog: 0 } },
    } as unknown as StatusDocument;
    expect(historyValues(doc)).toEqual([
      { metric: 'ingest_rate_per_s', id: 'gen-1', value: 12.5 },
      { metric: 'backlog_records', id: 'central', value: 7 },
      { metric: 'latency_ms', id: 'central', value: 3.2 },
      { metric: 'backlog_records', id: 'erp', value: 0 },
    ]);
  });

  it('samples every 10 s unless a test sets PLANTGATE_HISTORY_SAMPLE_MS within 50 ms..10 s', () => {
    expect(historyIntervalMs({})).toBe(10_000);
    expect(historyIntervalMs({ PLANTGATE_HISTORY_SAMPLE_MS: '100' })).toBe(100);
    expect(historyIntervalMs({ PLANTGATE_HISTORY_SAMPLE_MS: '1' })).toBe(10_000);
    expect(historyIntervalMs({ PLANTGATE_HISTORY_SAMPLE_MS: 'fast' })).toBe(10_000);
    expect(historyIntervalMs({ PLANTGATE_HISTORY_SAMPLE_MS: '60000' })).toBe(10_000);
  });
});
