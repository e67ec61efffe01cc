// Helpers shared by the journal's tests and its contract suite: record builders, a deadline-bounded poll, and the
// ledger identity check every journal backend must satisfy at all times.
import { expect } from 'vitest';
import { waitFor } from '../kit/testing/wait.js';
import type { EventRecord, Reading } from '../model/records.js';
import type { JournalStats } from './types.js';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);

/** A reading with a fixed-width value, so readings built with different `i` (below 1e6) have the same size. */
export function reading(i: number, signal = 'lyon.press1.hydraulic_pressure'): Reading {
  const ts = new Date(T0 + i).toISOString();
  return {
    id: `r${String(i).padStart(31, '0')}`,
    kind: 'reading',
    signal,
    value: 1_000_000 + i,
    unit: 'bar',
    ts,
    ingest_ts: ts,
    quality: 'good',
    source: { id: 'press-1', type: 'opcua', address: 'ns=3;i=1001' },
  };
}

export function event(i: number, type = 'production.count'): EventRecord {
  return {
    id: `e${String(i).padStart(31, '0')}`,
    kind: 'event',
    type,
    ts: new Date(T0 + i).toISOString(),
    subject: 'lyon.packer3',
    data: { count: 1_000_000 + i },
  };
}

/** The shared waitFor in the argument order the journal tests use; checks every 5 ms (commits are fast). */
export async function pollUntil(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(what, cond, { timeoutMs, intervalMs: 5 });
}

/** Tracks whether a promise settled, without awaiting it. */
export function track<T>(p: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let done = false;
  const promise = p.finally(() => {
    done = true;
  });
  // The caller awaits `promise`; this only keeps an early rejection from being reported as unhandled.
  promise.catch(() => undefined);
  return { settled: () => done, promise };
}

export function droppedTotal(d: Record<string, number>): number {
  return Object.values(d).reduce((a, b) => a + b, 0);
}

/** `ingested = delivered + queued + dead_lettered + dropped` for every sink, and no counter below zero. */
export function expectLedgerBalanced(stats: JournalStats): void {
  for (const [id, s] of Object.entries(stats.sinks)) {
    const rhs = s.delivered + s.queued + s.dead_lettered + droppedTotal(s.dropped);
    expect(rhs, `ledger of sink ${id}: ${JSON.stringify(s)}`).toBe(s.ingested);
    for (const n of [s.delivered, s.queued, s.dead_lettered, ...Object.values(s.dropped)]) {
      expect(n, `counter of sink ${id} below zero: ${JSON.stringify(s)}`).toBeGreaterThanOrEqual(0);
    }
  }
  expect(stats.records).toBeGreaterThanOrEqual(0);
  expect(stats.bytes).toBeGreaterThanOrEqual(0);
}
