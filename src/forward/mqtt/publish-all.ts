// One batch as a series of MQTT messages: published in order through the link, and settled only when every PUBACK
// has arrived (ok) or the first failure is known (the rest of the batch is given up, the forwarder resends it
// whole). A deadline covers the whole batch; past it the connection is dropped, which frees what the client holds.
import { linkedSignal } from '../kit/abort.js';
import type { WriteOutcome } from '../kit/types.js';
import { type Link, PublishError } from './link.js';

/** One message: `send` publishes it through the link with the given abort signal. */
export type Send = (signal: AbortSignal) => Promise<void>;

export async function publishAll(
  link: Link,
  sends: readonly Send[],
  signal: AbortSignal,
  timeoutMs: number,
): Promise<WriteOutcome> {
  const t0 = performance.now();
  const attempt = linkedSignal(signal, timeoutMs);
  // Aborted at the first failure, the deadline or the end: publishes still waiting for a slot are given up.
  const giveUp = new AbortController();
  const onAttemptAbort = () => giveUp.abort();
  attempt.signal.addEventListener('abort', onAttemptAbort, { once: true });
  try {
    const failure = await new Promise<Error | undefined>((resolve) => {
      let left = sends.length;
      if (left === 0) resolve(undefined);
      for (const send of sends) {
        send(giveUp.signal).then(
          () => {
            left -= 1;
            if (left === 0) resolve(undefined);
          },
          (err: unknown) => resolve(err instanceof Error ? err : new Error(String(err))),
        );
      }
      giveUp.signal.addEventListener('abort', () => resolve(new PublishError('aborted', true)), {
        once: true,
      });
    });
    if (failure === undefined) return { ok: true, status: 0, latency_ms: performance.now() - t0 };
    if (attempt.timedOut()) {
      link.drop();
      return {
        ok: false,
        retryable: true,
        error: `the broker did not acknowledge every message within ${timeoutMs} ms; the connection is dropped and the batch resent`,
      };
    }
    if (signal.aborted) {
      return { ok: false, retryable: true, error: 'the batch was aborted (the forwarder is stopping)' };
    }
    const retryable = !(failure instanceof PublishError) || failure.retryable;
    const status = failure instanceof PublishError ? failure.reasonCode : undefined;
    return retryable
      ? { ok: false, retryable: true, ...(status !== undefined ? { status } : {}), error: failure.message }
      : { ok: false, retryable: false, ...(status !== undefined ? { status } : {}), error: failure.message };
  } finally {
    attempt.signal.removeEventListener('abort', onAttemptAbort);
    giveUp.abort();
    attempt.dispose();
  }
}
