// Golden cases of the Modbus adapter (adapters/modbus/testcases/<case>/case.yaml): register words computed
// independently of the decoder (Python's struct), the config that reads them and the values expected, or a
// config mistake and the exact messages. Value cases run twice: through the planner and decoder alone, and
// end to end through the adapter against the Modbus simulator holding the same words.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type ModbusSim, startModbusSim } from '../../simulators/modbus/server.js';
import type { RawSample } from '../../src/model/records.js';
import { isBitTable, parseRegister } from './address.js';
import { checkModbusSource } from './checks.js';
import { type ModbusSourceConfig, modbusSourceSchema, resolveDevices } from './config.js';
import { decodeBlock, ModbusAdapter } from './modbus.js';
import { planDevice } from './plan.js';
import { recordingContext, waitFor } from './test-harness.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CASES = join(HERE, 'testcases');

interface GoldenCase {
  config: Record<string, unknown>;
  registers?: Record<string, Array<number | boolean>>;
  expected?: Record<string, unknown>;
  errors?: Array<{ path: string; message: string }>;
  /** Valid config, but check-config warns (exit 0). */
  warnings?: Array<{ path: string; message: string }>;
}

const cases = readdirSync(CASES).map((name) => ({
  name,
  data: parse(readFileSync(join(CASES, name, 'case.yaml'), 'utf8')) as GoldenCase,
}));
const valueCases = cases.filter((c) => c.data.expected);
const errorCases = cases.filter((c) => c.data.errors);
const warningCases = cases.filter((c) => c.data.warnings);

/** "123n" in YAML stands for a bigint, since YAML has none. */
function expectedValue(v: unknown): unknown {
  return typeof v === 'string' && /^-?\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v;
}

function memoryOf(registers: GoldenCase['registers']): Map<string, number | boolean> {
  const mem = new Map<string, number | boolean>();
  for (const [addr, values] of Object.entries(registers ?? {})) {
    const ref = parseRegister(addr);
    if (typeof ref === 'string') throw new Error(ref);
    values.forEach((v, i) => {
      mem.set(`${ref.table}:${ref.address + i}`, v);
    });
  }
  return mem;
}

function parseCase(data: GoldenCase): ModbusSourceConfig {
  const r = modbusSourceSchema.safeParse(data.config);
  if (!r.success) throw new Error(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  return r.data;
}

function expectSamples(samples: RawSample[], expected: Record<string, unknown>): void {
  const got = Object.fromEntries(samples.map((s) => [s.signal, s.value]));
  const want = Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, expectedValue(v)]));
  expect(got).toStrictEqual(want);
}

describe('golden cases: planner and decoder', () => {
  it('has a value case for every type and order', () => {
    const seen = new Set<string>();
    for (const c of valueCases) {
      const cfg = parseCase(c.data);
      for (const d of resolveDevices(cfg))
        for (const s of d.signals) seen.add(`${s.type}/${s.count > 1 ? s.order : '-'}`);
    }
    for (const t of ['int32', 'uint32', 'int64', 'uint64', 'float32', 'float64']) {
      for (const o of ['ABCD', 'CDAB', 'BADC', 'DCBA']) expect(seen, `${t} ${o}`).toContain(`${t}/${o}`);
    }
    for (const t of ['bool', 'int16', 'uint16']) expect(seen, t).toContain(`${t}/-`);
    expect([...seen].some((k) => k.startsWith('string/'))).toBe(true);
  });

  it.each(valueCases.map((c) => [c.name, c.data] as const))('%s', (_name, data) => {
    const cfg = parseCase(data);
    expect(checkModbusSource(cfg)).toEqual([]);
    const mem = memoryOf(data.registers);
    const samples: RawSample[] = [];
    for (const device of resolveDevices(cfg)) {
      for (const block of planDevice(device, cfg)) {
        const words: Array<number | boolean> = [];
        for (let a = block.start; a < block.start + block.count; a++) {
          words.push(mem.get(`${block.table}:${a}`) ?? (isBitTable(block.table) ? false : 0));
        }
        decodeBlock(device, block.table, words, block.start, block.items, 1000, samples);
      }
    }
    expectSamples(samples, data.expected ?? {});
  });
});

describe('golden cases: config mistakes', () => {
  it.each(errorCases.map((c) => [c.name, c.data] as const))('%s', (_name, data) => {
    const r = modbusSourceSchema.safeParse(data.config);
    const got = r.success
      ? checkModbusSource(r.data)
          .filter((p) => p.severity !== 'warning')
          .map((p) => ({ path: p.path.join('.'), message: p.message }))
      : r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    expect(got).toEqual(data.errors);
  });
});

describe('golden cases: config warnings', () => {
  it.each(warningCases.map((c) => [c.name, c.data] as const))('%s', (_name, data) => {
    const problems = checkModbusSource(parseCase(data));
    expect(problems.filter((p) => p.severity !== 'warning')).toEqual([]);
    const got = problems.map((p) => ({ path: p.path.join('.'), message: p.message }));
    expect(got).toEqual(data.warnings);
  });
});

describe('golden cases: end to end against the simulator', () => {
  let sim: ModbusSim;
  beforeAll(async () => {
    // Frozen values (tickMs 0): the only words in the registers are the ones each case writes.
    sim = await startModbusSim({ tickMs: 0, units: [1] });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it.each(valueCases.map((c) => [c.name, c.data] as const))('%s', async (_name, data) => {
    for (const [addr, values] of Object.entries(data.registers ?? {})) sim.write(1, addr, values);
    const cfg = parseCase({
      ...data,
      config: { ...data.config, tcp: `127.0.0.1:${sim.port}`, poll_interval: '50ms' },
    });
    const rec = recordingContext();
    const adapter = new ModbusAdapter(cfg);
    await adapter.start(rec.ctx);
    try {
      const batch = await waitFor('the first poll', () => rec.batches[0]);
      expectSamples(batch, data.expected ?? {});
      for (const s of batch)
        expect(s.address).toMatch(/^unit 1 (holding|input|coil|discrete):\d+( bit \d+)?$/);
    } finally {
      await adapter.stop();
    }
  });
});
