// What both serial-line test files (serial.test.ts against our simulator, pymodbus-serial.test.ts against
// Debian's pymodbus) share: the golden cases that carry expected values, and starting an adapter on a line
// with its stop registered for the test's cleanup. Test code only: excluded from the build.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { RawSample } from '../../src/model/records.js';
import type { ModbusSourceConfig } from './config.js';
import { ModbusAdapter } from './modbus.js';
import { recordingContext } from './test-harness.js';

const CASES = join(dirname(fileURLToPath(import.meta.url)), 'testcases');

export interface GoldenCase {
  config: { signals: unknown[] } & Record<string, unknown>;
  registers?: Record<string, Array<number | boolean>>;
  expected?: Record<string, unknown>;
}

/** The golden cases (adapters/modbus/testcases/*) that say which values their registers decode to. */
export function goldenValueCases(): Array<{ name: string; data: GoldenCase }> {
  return readdirSync(CASES)
    .map((name) => ({
      name,
      data: parse(readFileSync(join(CASES, name, 'case.yaml'), 'utf8')) as GoldenCase,
    }))
    .filter((c) => c.data.expected);
}

/** "123n" in YAML stands for a bigint, since YAML has none. */
export function expectedValue(v: unknown): unknown {
  return typeof v === 'string' && /^-?\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v;
}

/** Starts an adapter on a recording context; its stop joins `stops`, which the test's afterEach runs. */
export async function startAdapter(
  cfg: ModbusSourceConfig,
  stops: Array<() => Promise<unknown>>,
): Promise<{ adapter: ModbusAdapter; rec: ReturnType<typeof recordingContext> }> {
  const adapter = new ModbusAdapter(cfg);
  const rec = recordingContext();
  stops.push(() => adapter.stop());
  await adapter.start(rec.ctx);
  return { adapter, rec };
}

/** One emitted batch as signal -> value. */
export function valuesOf(batch: RawSample[]): Record<string, unknown> {
  return Object.fromEntries(batch.map((s) => [s.signal, s.value]));
}
