// `plantgate trace` against the built daemon: a delivered batch and seq are found through the delivery receipts
// (after the records left the journal), a record held back by an outage is pending, a rejected one is in dead
// letters, and every POST carried a traceparent whose trace id the receipt names.
import { describe, expect, it } from 'vitest';
import { baseConfig, edgeSuite, runCli, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();

describe('plantgate trace', () => {
  it('answers for a batch id, a seq and a record id: delivered, pending, dead-lettered', async () => {
    const d = suite.dir();
    const cfg = baseConfig(d, `${suite.receiver.url}/ingest`, { generator: { interval: '50ms', batch: 5 } });
    const file = writeConfig(d, 'plant.yaml', cfg);
    const daemon = await startDaemon(file);
    await waitFor('a few batches delivered', () => suite.receiver.stats().batches >= 3);
    const delivered = suite.receiver.batches()[1] as { batch_id: string };
    const headers = suite.receiver.lastHeaders('/ingest');
    expect(String(headers?.traceparent)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    const byBatch = await runCli(['trace', delivered.batch_id, '-c', file, '--json']);
    expect(byBatch.code, byBatch.stderr).toBe(0);
    const a = JSON.parse(byBatch.stdout);
    expect(a.sinks[0]).toMatchObject({
      sink: 'central',
      state: 'delivered',
      receipt: { batch_id: delivered.batch_id, outcome: 'delivered', status: 200, attempts: 1 },
    });
    const seq = Number(delivered.batch_id.split(':')[2]?.split('-')[0]);
    const human = await runCli(['trace', String(seq), '-c', file]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`sink central: delivered`);
    expect(human.stdout).toContain(`in batch ${delivered.batch_id}`);
    expect(human.stdout).toContain(`trace ${a.sinks[0].receipt.trace_id}`);

    // An outage: the newest record is pending for the sink.
    await suite.receiver.goDown();
    const held = await waitFor(
      'a backlog',
      async () => {
        const s = await daemon.status();
        return s.sinks.central!.backlog > 50 ? s : false;
      },
      { timeoutMs: 20_000 },
    );
    expect(held.sinks.central!.backlog).toBeGreaterThan(50);
    // The delivered seq is still answered from its receipt (its records may be gone from the journal).
    const still = JSON.parse((await runCli(['trace', String(seq), '-c', file, '--json'])).stdout);
    expect(still.sinks[0]).toMatchObject({ state: 'delivered', receipt: { batch_id: delivered.batch_id } });
    const pendingSeq = held.journal.last_seq as number;
    expect(pendingSeq).toBeGreaterThan(seq);
    const pending = JSON.parse((await runCli(['trace', String(pendingSeq), '-c', file, '--json'])).stdout);
    expect(pending.in_journal).toBe(true);
    expect(pending.sinks[0]).toMatchObject({ sink: 'central', state: 'pending' });
    const byId = JSON.parse((await runCli(['trace', pending.record.id, '-c', file, '--json'])).stdout);
    expect(byId).toMatchObject({ kind: 'record', seq: pendingSeq, in_journal: true });

    // Back up, but the next batch is refused for good: its records are found in dead letters.
    suite.receiver.setFaults({ status: 422, count: 1 });
    await suite.receiver.comeUp();
    const dl = await waitFor(
      'a dead letter',
      async () => {
        const s = await daemon.status();
        return s.dead_letters.batches === 1 ? s : false;
      },
      { timeoutMs: 20_000 },
    );
    expect(dl.dead_letters.batches).toBe(1);
    const list = await runCli(['dead-letters', 'list', '-c', file, '--json']);
    const letter = JSON.parse(list.stdout).dead_letters[0] as { batch_id: string };
    const rejected = JSON.parse((await runCli(['trace', letter.batch_id, '-c', file, '--json'])).stdout);
    expect(rejected.dead_letter).toMatchObject({ batch_id: letter.batch_id, status: 422 });
    expect(rejected.sinks[0]).toMatchObject({
      state: 'dead_lettered',
      receipt: { outcome: 'dead_lettered', status: 422 },
    });
    await daemon.stop();
  }, 90_000);
});
