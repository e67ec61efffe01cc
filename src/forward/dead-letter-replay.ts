// Replaying one dead letter: an operator fixed what made the receiver reject a batch and sends it again, with its
// original batch id, in one attempt. Apart from the forwarding loop because it runs on demand (the admin API, the
// CLI on a stopped gateway) and touches the loop's state only through the sink's health.
import type { Logger } from 'pino';
import type { DeadLetter, Journal } from '../journal/types.js';
import { linkedSignal } from './kit/abort.js';
import { traceIdOf } from './kit/trace.js';
import type { Batch, Sink, WriteOutcome } from './kit/types.js';
import type { SinkHealthTracker } from './sink-health.js';
import { type TotalsKeeper, tallyOf } from './totals.js';

/** The backstop on one replay when the caller gives no signal; the sink's own request timeout comes first. */
const REPLAY_DEADLINE_MS = 120_000;

export interface DeadLetterReplayDeps {
  journal: Journal;
  sink: Sink;
  sinkId: string;
  log: Logger;
  health: SinkHealthTracker;
  /** Whether the forwarder runs the sink now; otherwise the sink is opened for this one request. */
  sinkRunning: boolean;
  /** The sink's reconciliation totals, when on: a replayed batch counts in the window it is delivered in. */
  totals?: TotalsKeeper | undefined;
}

/**
 * Re-sends a dead-lettered batch of the sink with its original batch id (one attempt). On 2xx the dead letter is
 * removed and counted delivered. Undefined when no such dead letter exists.
 */
export async function replayDeadLetter(
  deps: DeadLetterReplayDeps,
  batchId: string,
  signal?: AbortSignal,
): Promise<WriteOutcome | undefined> {
  const letter = await deps.journal.getDeadLetter(batchId);
  if (!letter || letter.sink !== deps.sinkId) return undefined;
  const ownSink = !deps.sinkRunning;
  if (ownSink) await deps.sink.start();
  const deadline = linkedSignal(signal ?? new AbortController().signal, REPLAY_DEADLINE_MS);
  try {
    return await replay(deps, letter, deadline.signal);
  } finally {
    deadline.dispose();
    if (ownSink) await deps.sink.stop();
  }
}

/** The seqs a dead letter's batch covered. */
export function deadLetterSeqs(letter: DeadLetter): { first_seq: number; last_seq: number } {
  if (letter.first_seq !== undefined && letter.last_seq !== undefined) {
    return { first_seq: letter.first_seq, last_seq: letter.last_seq };
  }
  // Letters stored before DeadLetter carried its seqs: they are in the batch id, `<gateway>:<sink>:<first>-<last>`.
  const m = /:(\d+)-(\d+)$/.exec(letter.batch_id);
  return { first_seq: m ? Number(m[1]) : 0, last_seq: m ? Number(m[2]) : 0 };
}

async function replay(
  deps: DeadLetterReplayDeps,
  letter: DeadLetter,
  signal: AbortSignal,
): Promise<WriteOutcome> {
  const batchId = letter.batch_id;
  const entries = letter.records.map((record) => ({ record }));
  const batch: Batch = { batch_id: batchId, ...deadLetterSeqs(letter), entries };
  await deps.totals?.ready();
  const outcome = await deps.sink.write(batch, signal);
  deps.health.replayAttempt(outcome);
  if (outcome.ok) {
    // Merged and written in the same commit as the removal (no await in between).
    deps.totals?.closeIfDue();
    await deps.journal.removeDeadLetter(batchId, 'delivered', {
      state: deps.totals?.onReplayed(batchId, tallyOf(entries)),
      receipts: [
        {
          batch_id: batchId,
          sink: deps.sinkId,
          ...deadLetterSeqs(letter),
          records: letter.records.length,
          attempts: 1,
          outcome: 'replayed',
          ...(outcome.status !== undefined ? { status: outcome.status } : {}),
          at: Date.now(),
          trace_id: traceIdOf(batchId),
        },
      ],
    });
    deps.health.replayDelivered(batchId, letter.records.length);
    deps.log.info(
      { batch_id: batchId, trace_id: traceIdOf(batchId), records: letter.records.length },
      'A dead-lettered batch was replayed and delivered.',
    );
  } else {
    deps.log.warn(
      { batch_id: batchId, trace_id: traceIdOf(batchId), error: outcome.error },
      'Replaying a dead-lettered batch failed; it stays in dead letters.',
    );
  }
  return outcome;
}
