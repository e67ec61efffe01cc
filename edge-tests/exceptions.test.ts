// Exception queues by owner with the built daemon: owners inherit downward (signal, source, gateway), quarantine
// entries and dead letters carry theirs, /status and /metrics group them by owner with the top reasons, the CLI
// filters by owner, and 10,000 bad samples give exactly one data.exception event per owner per window.
import { describe, expect, it } from 'vitest';
import { baseConfig, edgeSuite, runCli, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();
const BAD = 10_000;

describe('exceptions by owner', () => {
  it('10,000 bad samples: one data.exception per owner per window, entries and /status grouped by owner', async () => {
    const d = suite.dir();
    const cfg = baseConfig(d, `${suite.receiver.url}/ingest`);
    cfg.gateway = { ...(cfg.gateway as object), owner: 'controls', exception_events: { window: '3s' } };
    cfg.sources = [
      {
        // Every sample invalid (NaN): 2 signals x 10 per 10 ms tick until 5,000 each = 10,000 bad samples in ~5 s.
        id: 'press',
        type: 'generator',
        owner: 'maintenance',
        interval: '10ms',
        batch: 10,
        limit: BAD / 2,
        signals: [
          { name: 'lab.press.thickness', shape: 'sine', owner: 'quality', invalid_every: 1 },
          { name: 'lab.press.temp', shape: 'sine', invalid_every: 1 },
        ],
      },
      {
        // Good samples from a source with no owner: nothing for "controls" to hear about.
        id: 'line',
        type: 'generator',
        interval: '50ms',
        batch: 5,
        signals: [{ name: 'lab.line.speed', shape: 'sine' }],
      },
    ];
    cfg.sinks = [
      {
        id: 'tickets',
        type: 'http',
        url: `${suite.receiver.url}/tickets`,
        select: { kinds: ['event'], types: ['data.exception'] },
        batch: { max_records: 100, max_wait: '100ms' },
        retry: { initial: '100ms', max: '1s' },
      },
    ];
    const file = writeConfig(d, 'plant.yaml', cfg);
    const daemon = await startDaemon(file);
    const s = await waitFor(
      'every bad sample quarantined and its window sent',
      async () => {
        const st = await daemon.status();
        const events = suite.receiver.records('/tickets');
        const sum = events.reduce((n, e) => n + Number((e.data as { total: number }).total), 0);
        return st.quarantine.total === BAD && sum === BAD ? st : false;
      },
      { timeoutMs: 40_000, intervalMs: 250 },
    );

    // One event per owner per window, none for an owner with nothing to report.
    const events = suite.receiver.records('/tickets').map((e) => e.data as Record<string, unknown>);
    const keys = events.map((e) => `${e.owner} ${e.window_start}`);
    expect(new Set(keys).size).toBe(keys.length);
    const owners = [...new Set(events.map((e) => e.owner))].sort();
    expect(owners).toEqual(['maintenance', 'quality']);
    const total = (o: string) => events.filter((e) => e.owner === o).reduce((n, e) => n + Number(e.total), 0);
    expect(total('quality')).toBe(BAD / 2);
    expect(total('maintenance')).toBe(BAD / 2);
    // At most one event per owner per window the burst spanned (it lasts about 5 s; windows are 3 s).
    expect(events.filter((e) => e.owner === 'quality').length).toBeLessThanOrEqual(4);
    const q = events.find((e) => e.owner === 'quality') as {
      by_reason: Record<string, number>;
      by_signal: Record<string, number>;
      examples: Array<{ reason: string; signal?: string }>;
    };
    expect(Object.keys(q.by_reason)).toEqual(['not_finite']);
    expect(Object.keys(q.by_signal)).toEqual(['lab.press.thickness']);
    expect(q.examples).toHaveLength(1);
    expect(q.examples[0]).toMatchObject({ reason: 'not_finite', signal: 'lab.press.thickness' });

    // /status groups since the start, with the top reason, first/last seen and an example.
    const byOwner = (
      s.exceptions as { by_owner: Record<string, { total: number; reasons: Array<Record<string, unknown>> }> }
    ).by_owner;
    expect(Object.keys(byOwner).sort()).toEqual(['maintenance', 'quality']);
    expect(byOwner.quality?.total).toBe(BAD / 2);
    expect(byOwner.quality?.reasons[0]).toMatchObject({ reason: 'not_finite', count: BAD / 2 });
    expect(byOwner.quality?.reasons[0]?.first_seen).toMatch(/^\d{4}-\d\d-\d\dT/);
    const metrics = await daemon.get('/metrics');
    expect(metrics.body).toContain('plantgate_exceptions_total{owner="quality",reason="not_finite"} 5000');

    // The CLI filters by owner; an unknown owner is an error that names the valid ones.
    const list = await runCli([
      'quarantine',
      'list',
      '--owner',
      'quality',
      '--limit',
      '20',
      '--json',
      '-c',
      file,
    ]);
    expect(list.code, list.stderr).toBe(0);
    const entries = JSON.parse(list.stdout).entries as Array<{ owner: string; sample: { signal: string } }>;
    expect(entries).toHaveLength(20);
    expect(new Set(entries.map((e) => e.owner))).toEqual(new Set(['quality']));
    expect(new Set(entries.map((e) => e.sample.signal))).toEqual(new Set(['lab.press.thickness']));
    const wrong = await runCli(['quarantine', 'list', '--owner', 'qualty', '-c', file]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/owner/);
    expect(wrong.stderr).toContain('quality');
    await daemon.stop();
  }, 90_000);

  it("a dead letter belongs to its sink's owner: dead-letters list --owner", async () => {
    const d = suite.dir();
    const cfg = baseConfig(d, `${suite.receiver.url}/ingest`);
    const sink = (cfg.sinks as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    sink.owner = 'erp-team';
    const file = writeConfig(d, 'plant.yaml', cfg);
    suite.receiver.setFaults({ status: 422, count: 1 });
    const daemon = await startDaemon(file);
    const s = await waitFor(
      'a dead letter',
      async () => {
        const st = await daemon.status();
        return st.dead_letters.batches === 1 ? st : false;
      },
      { timeoutMs: 20_000 },
    );
    const byOwner = (
      s.exceptions as { by_owner: Record<string, { total: number; reasons: Array<{ reason: string }> }> }
    ).by_owner;
    expect(byOwner['erp-team']?.reasons[0]?.reason).toBe('dead_letter_422');
    const mine = JSON.parse(
      (await runCli(['dead-letters', 'list', '--owner', 'erp-team', '--json', '-c', file])).stdout,
    );
    expect(mine.dead_letters).toHaveLength(1);
    expect(mine.dead_letters[0].owner).toBe('erp-team');
    const none = JSON.parse(
      (await runCli(['dead-letters', 'list', '--owner', 'unassigned', '--json', '-c', file])).stdout,
    );
    expect(none.dead_letters).toHaveLength(0);
    await daemon.stop();
  }, 60_000);
});
