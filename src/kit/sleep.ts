// sleep: the one wait-for-a-delay of the components (it was written in the OPC UA and the Modbus adapters). A
// stop must never wait out a reconnect delay, so an abort signal ends the wait at once; the delay is cut to what
// Node's timers take (a longer one would fire after 1 ms).
import { MAX_TIMER_MS } from './backoff.js';

/** Resolves after `ms` (at once for ms <= 0), or as soon as `signal` aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!(ms > 0) || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, Math.min(ms, MAX_TIMER_MS));
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
