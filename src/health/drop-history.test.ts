// The "dropped in the last 15 min" figure of /status: growth of the journal's cumulative per-sink drop counters
// since the oldest sample kept, so old drops stop counting once they are older than the window.
import { describe, expect, it } from 'vitest';
import type { JournalStats } from '../journal/types.js';
import { DropHistory } from './drop-history.js';

const MIN = 60_000;
const T0 = Date.parse('2026-11-30T10:00:00Z');

/** Journal stats whose sinks dropped these records, by sink and cause. */
function stats(dropped: Record<string, Record<string, number>>): JournalStats {
  const sinks: JournalStats['sinks'] = {};
  for (const [id, d] of Object.entries(dropped)) {
    sinks[id] = { ingested: 0, delivered: 0, queued: 0, dead_lettered: 0, dropped: d, cursor: 0 };
  }
  return {
    records: 0,
    bytes: 0,
    first_seq: 0,
    last_seq: 0,
    sinks,
    quarantine: { total: 0, by_reason: {} },
    dead_letters: { batches: 0, records: 0 },
    blocked: false,
  };
}

describe('DropHistory', () => {
  it('counts every drop as recent before the first sample', () => {
    const h = new DropHistory();
    expect(h.recent(stats({ central: { max_bytes: 5, max_age: 2 } }))).toEqual({ central: 7 });
  });

  it('reports the growth since the oldest sample, summed over causes', () => {
    const h = new DropHistory();
    h.record(stats({ central: { max_bytes: 100 }, erp: {} }), T0);
    h.record(stats({ central: { max_bytes: 130 }, erp: {} }), T0 + MIN);
    expect(h.recent(stats({ central: { max_bytes: 150, max_age: 20 }, erp: {} }))).toEqual({
      central: 70,
      erp: 0,
    });
  });

  it('forgets samples older than 16 minutes, so drops from longer ago stop counting', () => {
    const h = new DropHistory();
    h.record(stats({ central: { max_bytes: 100 } }), T0);
    for (let m = 1; m <= 15; m++) h.record(stats({ central: { max_bytes: 100 } }), T0 + m * MIN);
    // 16 min after the first: still kept (the window is 15 to 16 minutes).
    h.record(stats({ central: { max_bytes: 400 } }), T0 + 16 * MIN);
    expect(h.recent(stats({ central: { max_bytes: 400 } }))).toEqual({ central: 300 });
    // 17 min: the sample at T0 is gone; the oldest kept (T0 + 1 min) already had 100.
    h.record(stats({ central: { max_bytes: 400 } }), T0 + 17 * MIN);
    expect(h.recent(stats({ central: { max_bytes: 400 } }))).toEqual({ central: 300 });
    // 33 min: every sample before the 400 is gone; nothing recent any more.
    h.record(stats({ central: { max_bytes: 400 } }), T0 + 33 * MIN);
    expect(h.recent(stats({ central: { max_bytes: 400 } }))).toEqual({ central: 0 });
  });

  it('counts a sink that appeared after the oldest sample from zero', () => {
    const h = new DropHistory();
    h.record(stats({ central: {} }), T0);
    expect(h.recent(stats({ central: {}, added: { max_age: 4 } }))).toEqual({ central: 0, added: 4 });
  });
});
