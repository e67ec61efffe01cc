// Reconciliation totals with the built daemon and the receiver simulator reconciling each window
// (docs/reconciliation.md): windows spanning a WAN outage and a kill -9 all reconcile, a dead letter replayed
// later counts in the window it was delivered in, and a receiver that silently loses one record is caught.
// Windows are 2 s here (any length that divides a day works the same; 1 h is the default).
import { describe, expect, it } from 'vitest';
import type { Reconciliation } from '../simulators/receiver/reconcile.js';
import { baseConfig, edgeSuite, runCli, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();

function config(d: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const cfg = baseConfig(d, `${suite.receiver.url}/ingest`, { generator: { interval: '50ms', batch: 5 } });
  const sink = (cfg.sinks as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
  sink.totals = { window: '2s' };
  sink.batch = { max_records: 100, max_wait: '100ms' };
  Object.assign(sink, extra);
  return cfg;
}

const windows = () => suite.receiver.reconciliations();

/** Consecutive windows cover consecutive seq ranges: nothing falls between two windows. */
function expectContiguous(
  ws: Reconciliation[],
  totals: Array<{ first_seq: number; last_seq: number }>,
): void {
  expect(ws.length).toBe(totals.length);
  for (let i = 1; i < totals.length; i++) {
    expect((totals[i] as { first_seq: number }).first_seq).toBe(
      (totals[i - 1] as { last_seq: number }).last_seq + 1,
    );
  }
}

function totalsRecords(): Array<{
  first_seq: number;
  last_seq: number;
  records: number;
  window_start: string;
}> {
  return suite.receiver
    .records()
    .filter((r) => r.kind === 'event' && r.type === 'control.totals')
    .map((r) => r.data as { first_seq: number; last_seq: number; records: number; window_start: string })
    .sort((a, b) => a.window_start.localeCompare(b.window_start));
}

describe('reconciliation totals', () => {
  it('windows spanning an outage and a kill -9 all reconcile, with contiguous seq ranges', async () => {
    const d = suite.dir();
    const file = writeConfig(d, 'plant.yaml', config(d));
    let daemon = await startDaemon(file);
    await waitFor('two windows reconciled', () => windows().length >= 2, { timeoutMs: 20_000 });

    // A WAN outage across at least two window boundaries: those windows count nothing, and their totals wait
    // in the journal with the backlog.
    await suite.receiver.goDown();
    const downAt = Date.now();
    await waitFor('5 s of outage', async () => Date.now() - downAt >= 5000 && (await daemon.status()), {
      timeoutMs: 20_000,
      intervalMs: 250,
    });
    await suite.receiver.comeUp();
    const afterOutage = windows().length;
    await waitFor('windows after the outage', () => windows().length >= afterOutage + 4, {
      timeoutMs: 30_000,
    });

    // A kill -9 in the middle of the flow; the same state directory is started again.
    daemon.kill('SIGKILL');
    await daemon.exited;
    daemon = await startDaemon(file);
    const afterKill = windows().length;
    await waitFor('windows after the restart', () => windows().length >= afterKill + 3, {
      timeoutMs: 30_000,
    });
    await daemon.stop();

    const ws = windows();
    const bad = ws.filter((w) => w.status !== 'reconciled');
    expect(bad, JSON.stringify(bad.slice(0, 3), null, 1)).toEqual([]);
    expectContiguous(ws, totalsRecords());
    // The windows hold records (not only empty ones), and the outage windows are empty.
    expect(ws.reduce((n, w) => n + w.held.records, 0)).toBeGreaterThan(500);
    expect(ws.some((w) => w.expected.records === 0)).toBe(true);
  }, 120_000);

  it('a dead letter replayed later counts in the window of its delivery; a lost record is a mismatch', async () => {
    const d = suite.dir();
    const file = writeConfig(d, 'plant.yaml', config(d));
    const daemon = await startDaemon(file);
    await waitFor('first window', () => windows().length >= 1, { timeoutMs: 20_000 });
    // The next batch is refused for good: a dead letter.
    suite.receiver.setFaults({ status: 422, count: 1 });
    const dead = await waitFor(
      'a dead letter',
      async () => {
        const s = await daemon.status();
        return s.dead_letters.batches === 1 ? s : false;
      },
      { timeoutMs: 20_000 },
    );
    expect(dead.dead_letters.batches).toBe(1);
    // Let the dead letter's window close, then replay it in a later one.
    const before = windows().length;
    await waitFor('the dead letter window closed', () => windows().length >= before + 2, {
      timeoutMs: 20_000,
    });
    const replay = await runCli(['dead-letters', 'replay', '--all', '-c', file]);
    expect(replay.code, replay.stderr).toBe(0);
    await waitFor(
      'the replay counted in a window',
      () => totalsRecordsData().some((t) => t.replayed.length === 1),
      { timeoutMs: 20_000 },
    );
    const replayedIn = totalsRecordsData().find((t) => t.replayed.length === 1);
    expect(replayedIn?.replayed[0]?.records).toBeGreaterThan(0);

    // A receiver that silently loses one record it had acknowledged: that window does not reconcile.
    const n = windows().length;
    const victim = await waitFor(
      'a record of the open window',
      () => {
        const last = totalsRecords().at(-1);
        const recs = suite.receiver.records().filter((r) => r.kind === 'reading');
        return last ? recs.at(-1)?.id : undefined;
      },
      { timeoutMs: 10_000 },
    );
    expect(suite.receiver.loseRecord(victim as string)).toBe(true);
    await waitFor('the next windows', () => windows().length >= n + 2, { timeoutMs: 20_000 });
    await daemon.stop();

    const ws = windows();
    const mismatched = ws.filter((w) => w.status === 'mismatch');
    expect(mismatched).toHaveLength(1);
    expect(mismatched[0]?.missing).toEqual([victim]);
    expect(mismatched[0]?.differences.join('; ')).toMatch(/records: expected \d+, held \d+/);
    expect(ws.filter((w) => w.status === 'reconciled').length).toBe(ws.length - 1);
  }, 120_000);
});

function totalsRecordsData(): Array<{ replayed: Array<{ batch_id: string; records: number }> }> {
  return suite.receiver
    .records()
    .filter((r) => r.kind === 'event' && r.type === 'control.totals')
    .map((r) => r.data as { replayed: Array<{ batch_id: string; records: number }> });
}
