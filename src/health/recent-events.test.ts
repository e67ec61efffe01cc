// Recent alarms and events for the status page: changes between two /status documents become entries (a source
// that lost its connection with its error, a sink retrying and back, dead letters, drops by a bound), newest
// first, the list never longer than its cap, and receiver text kept as it came.
import { describe, expect, it } from 'vitest';
import { RecentEvents } from './recent-events.js';
import type { SinkStatus, SourceStatus, StatusDocument } from './status-document.js';

function doc(
  sources: Record<string, Partial<SourceStatus>>,
  sinks: Record<string, Partial<SinkStatus> & { dead?: number; dropped?: number }>,
  over: { quarantineDropped?: number } = {},
): StatusDocument {
  return {
    sources: Object.fromEntries(Object.entries(sources).map(([id, s]) => [id, { state: 'connected', ...s }])),
    sinks: Object.fromEntries(
      Object.entries(sinks).map(([id, { dead, dropped, ...k }]) => [
        id,
        {
          state: 'connected',
          backlog: 0,
          ledger: {
            ingested: 0,
            delivered: 0,
            queued: 0,
            dead_lettered: dead ?? 0,
            dropped: { oldest: dropped ?? 0 },
            balanced: true,
          },
          ...k,
        },
      ]),
    ),
    journal: { when_full: 'drop_oldest' },
    quarantine: { dropped: { bound: over.quarantineDropped ?? 0 } },
    dead_letters: { dropped: {} },
  } as unknown as StatusDocument;
}

const T0 = Date.parse('2026-11-30T10:00:00Z');

describe('RecentEvents', () => {
  it('sets a baseline first, then records changes newest first', () => {
    const r = new RecentEvents();
    r.observe(doc({ plc: {} }, { central: {} }), T0);
    expect(r.list()).toEqual([]);
    r.observe(
      doc({ plc: { state: 'reconnecting', last_error: 'ECONNREFUSED' } }, { central: {} }),
      T0 + 1000,
    );
    const hostile = '<script>alert(1)</script>\u001b[31m';
    r.observe(
      doc({ plc: { state: 'reconnecting' } }, { central: { state: 'retrying', last_error: hostile } }),
      T0 + 2000,
    );
    r.observe(doc({ plc: {} }, { central: { dead: 5, last_alarm: 'batch b1 rejected' } }), T0 + 3000);
    const list = r.list();
    expect(list.map((e) => e.kind)).toEqual([
      'dead_letter',
      'sink_up',
      'source_up',
      'sink_down',
      'source_down',
    ]);
    expect(list[0]?.at).toBe('2026-11-30T10:00:03.000Z');
    expect(list.find((e) => e.kind === 'source_down')).toMatchObject({
      subject: 'source plc',
      level: 'alarm',
      text: 'connected → reconnecting: ECONNREFUSED',
    });
    expect(list.find((e) => e.kind === 'sink_down')?.text).toBe(`connected → retrying: ${hostile}`);
    expect(list.find((e) => e.kind === 'dead_letter')?.text).toBe(
      '5 record(s) dead-lettered: batch b1 rejected',
    );
  });

  it('says "connected" for a first connection and "reconnected" after a loss', () => {
    const r = new RecentEvents();
    r.observe(doc({ a: { state: 'starting' } }, {}), T0);
    r.observe(doc({ a: {} }, {}), T0 + 1000);
    r.observe(doc({ a: { state: 'reconnecting' } }, {}), T0 + 2000);
    r.observe(doc({ a: {} }, {}), T0 + 3000);
    // A restart by a reload: no alarm for "starting".
    r.observe(doc({ a: { state: 'starting' } }, {}), T0 + 4000);
    expect(r.list().map((e) => e.text)).toEqual([
      'reconnecting → connected (reconnected)',
      'connected → reconnecting',
      'connected',
    ]);
  });

  it('reports records dropped by a bound', () => {
    const r = new RecentEvents();
    r.observe(doc({}, { central: {} }), T0);
    r.observe(doc({}, { central: { dropped: 40 } }, { quarantineDropped: 2 }), T0 + 1000);
    expect(r.list().map((e) => [e.kind, e.subject])).toEqual([
      ['drop', 'quarantine'],
      ['drop', 'sink central'],
    ]);
    expect(r.list()[1]?.text).toContain('40 record(s) dropped');
  });

  it('keeps at most its cap, dropping the oldest', () => {
    const r = new RecentEvents(5);
    for (let i = 0; i < 500; i++) r.add(T0 + i, 'reload', 'configuration', 'info', `reload ${i}`);
    const list = r.list();
    expect(list).toHaveLength(5);
    expect(list.map((e) => e.text)).toEqual([
      'reload 499',
      'reload 498',
      'reload 497',
      'reload 496',
      'reload 495',
    ]);
  });

  it('does not report a new or removed component as a change', () => {
    const r = new RecentEvents();
    r.observe(doc({ a: {} }, { k: {} }), T0);
    r.observe(doc({ b: { state: 'reconnecting' } }, { j: { state: 'retrying' } }), T0 + 1000);
    expect(r.list()).toEqual([]);
  });
});
