// Test harness for the opcua adapter: a real AdapterContext whose emit collects samples in memory (standing in
// for the journal, not mocking the adapter), plus a wait-for-condition helper with a deadline.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { type Truthy, waitFor as waitForCondition } from '../../src/kit/testing/wait.js';
import type { RawSample } from '../../src/model/records.js';
import type { AdapterContext, AdapterEnv, EmitResult } from '../kit/types.js';

export interface Collector {
  ctx: AdapterContext;
  samples: RawSample[];
  emits: number;
  /** Latest sample per signal. */
  latest: Map<string, RawSample>;
  abort: AbortController;
  /** Makes emit wait (journal blocked) until `unblock()`. */
  block(): void;
  unblock(): void;
}

export function collector(id = 'opcua-test', opts: { keep?: boolean } = {}): Collector {
  const abort = new AbortController();
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  const c: Collector = {
    samples: [],
    emits: 0,
    latest: new Map(),
    abort,
    block() {
      gate = new Promise((r) => {
        open = r;
      });
    },
    unblock() {
      open();
      gate = undefined;
    },
    ctx: {
      id,
      log: pino({ level: process.env.PG_TEST_LOG ?? 'silent' }).child({
        component: 'source',
        kind: 'opcua',
        id,
      }),
      signal: abort.signal,
      async emit(samples: readonly RawSample[]): Promise<EmitResult> {
        if (gate) await gate;
        c.emits += 1;
        if (opts.keep !== false) for (const s of samples) c.samples.push(s);
        for (const s of samples) c.latest.set(s.signal, s);
        return { accepted: samples.length, quarantined: 0 };
      },
      async reject(): Promise<void> {},
    },
  };
  return c;
}

export function tempEnv(): AdapterEnv & { cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'plantgate-opcua-'));
  return {
    gatewayId: 'test-gw',
    site: 'test',
    timezone: 'UTC',
    stateDir: dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The shared waitFor in the argument order the OPC UA tests use, checking every 25 ms by default. */
export function waitFor<T>(
  cond: () => T | Promise<T>,
  what: string,
  timeoutMs = 15_000,
  everyMs = 25,
): Promise<Truthy<T>> {
  return waitForCondition(what, cond, { timeoutMs, intervalMs: everyMs });
}
