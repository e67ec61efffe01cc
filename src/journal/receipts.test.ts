// Delivery receipts in the real LevelDB journal: written with the ack (or dead letter) they record, found by any
// seq of their batch, bounded per sink (the oldest go), kept across a reopen, and a replay's receipt replaces
// the rejection's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sinkSelector } from '../forward/select.js';
import { makeReading } from '../forward/test-support.js';
import { LevelJournal } from './level-journal.js';
import type { Receipt } from './types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function open(dir: string, receiptsPerSink = 5): Promise<LevelJournal> {
  const j = new LevelJournal({
    dir,
    maxBytes: 64 << 20,
    whenFull: 'drop_oldest',
    commitIntervalMs: 2,
    receiptsPerSink,
  });
  await j.open();
  await j.setSinks([sinkSelector({ id: 'erp' })]);
  return j;
}

const receipt = (first: number, last: number, extra: Partial<Receipt> = {}): Receipt => ({
  batch_id: `gw:erp:${first}-${last}`,
  sink: 'erp',
  first_seq: first,
  last_seq: last,
  records: last - first + 1,
  attempts: 1,
  outcome: 'delivered',
  status: 200,
  at: 1_700_000_000_000 + last,
  ...extra,
});

describe('delivery receipts', () => {
  it('are found by any seq of their batch, bounded per sink, and survive a reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plantgate-receipts-'));
    dirs.push(dir);
    let j = await open(dir);
    await j.append(Array.from({ length: 80 }, (_, i) => makeReading(i)));
    for (let b = 0; b < 8; b++) {
      const first = b * 10 + 1;
      await j.ack('erp', first + 9, 10, { receipts: [receipt(first, first + 9)] });
    }
    expect((await j.receipts('erp', { seq: 75 }))[0]?.batch_id).toBe('gw:erp:71-80');
    expect((await j.receipts('erp', { seq: 31 }))[0]?.batch_id).toBe('gw:erp:31-40');
    // Five kept: batches 1-30 are gone.
    expect(await j.receipts('erp', { seq: 25 })).toEqual([]);
    expect((await j.receipts('erp', { latest: 100 })).map((r) => r.last_seq)).toEqual([80, 70, 60, 50, 40]);
    await j.close();
    j = await open(dir);
    expect(j.cursor('erp')).toBe(80);
    expect((await j.receipts('erp', { latest: 100 })).map((r) => r.last_seq)).toEqual([80, 70, 60, 50, 40]);
    // Writing more after the reopen keeps the bound (the index is read back from disk).
    await j.append([makeReading(100)]);
    await j.ack('erp', 81, 1, { receipts: [receipt(81, 81)] });
    expect((await j.receipts('erp', { latest: 100 })).map((r) => r.last_seq)).toEqual([81, 80, 70, 60, 50]);
    await j.close();
  });

  it('a replayed dead letter replaces its rejection receipt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plantgate-receipts-'));
    dirs.push(dir);
    const j = await open(dir);
    const records = Array.from({ length: 10 }, (_, i) => makeReading(i));
    await j.append(records);
    await j.deadLetter(
      {
        batch_id: 'gw:erp:1-10',
        sink: 'erp',
        at: 1,
        status: 422,
        error: 'no',
        records,
        first_seq: 1,
        last_seq: 10,
      },
      10,
      { receipts: [receipt(1, 10, { outcome: 'dead_lettered', status: 422 })] },
    );
    expect((await j.receipts('erp', { seq: 5 }))[0]).toMatchObject({ outcome: 'dead_lettered', status: 422 });
    await j.removeDeadLetter('gw:erp:1-10', 'delivered', {
      receipts: [receipt(1, 10, { outcome: 'replayed' })],
    });
    expect(await j.receipts('erp', { latest: 10 })).toEqual([
      expect.objectContaining({ outcome: 'replayed', status: 200 }),
    ]);
    await j.close();
  });
});
