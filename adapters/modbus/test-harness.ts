// Test harness for the Modbus adapter: an AdapterContext that records what the adapter emits and logs (the
// adapter's real consumer is the pipeline; this stands in for it, it does not mock a product component),
// and a wait-for-condition helper so tests never sleep for a fixed time.
import { pino } from 'pino';
import { type Truthy, waitFor as waitForCondition } from '../../src/kit/testing/wait.js';
import type { RawSample } from '../../src/model/records.js';
import type { AdapterContext, EmitResult } from '../kit/types.js';

export interface Recorder {
  ctx: AdapterContext;
  /** Every emit call, in order. */
  batches: RawSample[][];
  /** Parsed log lines (pino JSON). */
  logs: Array<{ level: number; msg: string; [k: string]: unknown }>;
  abort: AbortController;
  /** Latest sample of each signal. */
  latest(): Map<string, RawSample>;
  /** Emits whose samples came from `unit`. */
  batchesOf(unit: number): RawSample[][];
  /** Makes every following emit take this long, like a journal applying back-pressure. */
  setEmitDelay(ms: number): void;
}

export function recordingContext(opts: { emitDelayMs?: number } = {}): Recorder {
  const batches: RawSample[][] = [];
  const logs: Recorder['logs'] = [];
  const stream = {
    write(line: string) {
      logs.push(JSON.parse(line) as Recorder['logs'][number]);
    },
  };
  const log = pino({ level: 'debug', base: { component: 'source', kind: 'modbus', id: 'test' } }, stream);
  const abort = new AbortController();
  let emitDelayMs = opts.emitDelayMs ?? 0;
  const ctx: AdapterContext = {
    id: 'test',
    log,
    signal: abort.signal,
    async emit(samples): Promise<EmitResult> {
      batches.push([...samples]);
      if (emitDelayMs > 0) await new Promise((r) => setTimeout(r, emitDelayMs));
      return { accepted: samples.length, quarantined: 0 };
    },
    async reject() {
      throw new Error('the modbus adapter never rejects payloads');
    },
  };
  return {
    ctx,
    batches,
    logs,
    abort,
    latest() {
      const m = new Map<string, RawSample>();
      for (const b of batches) for (const s of b) m.set(s.signal, s);
      return m;
    },
    setEmitDelay(ms) {
      emitDelayMs = ms;
    },
    batchesOf(unit) {
      return batches.filter((b) => b[0]?.address.startsWith(`unit ${unit} `));
    },
  };
}

/** The shared waitFor with the timeout as a plain third argument, as the Modbus tests and serial-line.ts call it. */
export function waitFor<T>(what: string, cond: () => T | Promise<T>, timeoutMs = 10_000): Promise<Truthy<T>> {
  return waitForCondition(what, cond, { timeoutMs });
}
