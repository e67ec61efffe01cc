// Delivery receipts: per sink, a bounded log of what happened to each batch (its id, seq range, records,
// attempts, outcome, HTTP status, time), written in the same synced commit as the cursor move or the dead letter
// it records, so `plantgate trace` can say "delivered to erp at 10:31:02 in batch X" long after the records
// themselves left the journal. Keyed by sink and last seq, so a seq finds its batch with one seek.
import { PlantgateError } from '../kit/errors.js';
import type { JournalCore, Op } from './core.js';
import type { Receipt } from './types.js';

/** Receipts kept per sink unless the journal is opened with another bound. */
export const DEFAULT_RECEIPTS_PER_SINK = 10_000;

const PREFIX = 'r!';
const pad = (seq: number) => seq.toString().padStart(16, '0');
const sinkRange = (sink: string) => ({ gte: `${PREFIX}${sink}!`, lt: `${PREFIX}${sink}"` });
const keyOf = (sink: string, lastSeq: number) => `${PREFIX}${sink}!${pad(lastSeq)}`;

/** Per journal, per sink: the last seqs of the receipts on disk, oldest first (loaded at the first write). */
const rings = new WeakMap<JournalCore, Map<string, number[]>>();

async function ringOf(core: JournalCore, sink: string): Promise<number[]> {
  let m = rings.get(core);
  if (!m) {
    m = new Map();
    rings.set(core, m);
  }
  let ring = m.get(sink);
  if (ring) return ring;
  ring = [];
  try {
    for await (const k of core.store.keys(sinkRange(sink)))
      ring.push(Number(k.slice(k.lastIndexOf('!') + 1)));
  } catch (err) {
    throw core.wrapDbError(err, 'reading delivery receipts');
  }
  m.set(sink, ring);
  return ring;
}

/**
 * Adds the puts of `receipts` (and the deletes of the oldest beyond `max` per sink) to a commit's ops; the
 * in-memory index follows only when the commit succeeded.
 */
export async function writeReceipts(
  core: JournalCore,
  receipts: readonly Receipt[],
  max: number,
  ops: Op[],
  onSuccess: Array<() => void>,
): Promise<void> {
  const bySink = new Map<string, Receipt[]>();
  for (const r of receipts) bySink.set(r.sink, [...(bySink.get(r.sink) ?? []), r]);
  for (const [sink, list] of bySink) {
    const ring = await ringOf(core, sink);
    const next = [...ring];
    const have = new Set(next);
    for (const r of list) {
      // A replayed dead letter's receipt replaces the one of its rejection (same batch, same key).
      ops.push({ type: 'put', key: keyOf(sink, r.last_seq), value: JSON.stringify(r) });
      if (!have.has(r.last_seq)) {
        have.add(r.last_seq);
        next.push(r.last_seq);
      }
    }
    next.sort((a, b) => a - b);
    while (next.length > max) {
      const old = next.shift() as number;
      ops.push({ type: 'del', key: keyOf(sink, old) });
    }
    onSuccess.push(() => {
      ring.length = 0;
      ring.push(...next);
    });
  }
}

/** The receipt of the batch of `sink` that holds `seq`, if one is kept. */
export async function receiptForSeq(
  core: JournalCore,
  sink: string,
  seq: number,
): Promise<Receipt | undefined> {
  try {
    for await (const v of core
      .openDb()
      .values({ gte: keyOf(sink, seq), lt: `${PREFIX}${sink}"`, limit: 1 })) {
      const r = JSON.parse(v) as Receipt;
      return r.first_seq <= seq ? r : undefined;
    }
  } catch (err) {
    throw core.wrapDbError(err, 'reading delivery receipts');
  }
  return undefined;
}

/** The newest receipts of a sink, newest first. */
export async function latestReceipts(core: JournalCore, sink: string, limit: number): Promise<Receipt[]> {
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new PlantgateError('INVALID_ARGUMENT', `limit must be an integer from 1 to 10000, not ${limit}`);
  }
  const out: Receipt[] = [];
  try {
    for await (const v of core.openDb().values({ ...sinkRange(sink), reverse: true, limit })) {
      out.push(JSON.parse(v) as Receipt);
    }
  } catch (err) {
    throw core.wrapDbError(err, 'reading delivery receipts');
  }
  return out;
}
