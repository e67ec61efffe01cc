// `plantgate modbus read` (issue #18, item 1) against the Modbus simulator, through the BUILT command line:
// raw registers and the decoded value for the source's connection settings, Modicon and zero-based addresses,
// word orders, 64-bit integers past 2^53 printed exactly, and the failures an engineer meets while
// commissioning (a refused address, a silent unit, an ambiguous device, an unknown source), each with its
// exit code.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { encodeRegisters } from '../../adapters/modbus/test-encode.js';
import { runCli } from '../../edge-tests/lib/harness.js';
import { type ModbusSim, startModbusSim } from '../../simulators/modbus/server.js';

describe('plantgate modbus read', () => {
  let sim: ModbusSim;
  let dir: string;
  let file: string;
  const read = (...args: string[]) => runCli(['modbus', 'read', ...args, '-c', file]);

  beforeAll(async () => {
    // Frozen values: the registers hold exactly what the test writes. Unit 3 is silent (offline).
    sim = await startModbusSim({ tickMs: 0, units: [1, 2, 3] });
    sim.write(1, 'holding:100', encodeRegisters(123456.5, { type: 'float32', order: 'CDAB' }));
    sim.write(1, 'holding:110', encodeRegisters(2n ** 53n + 1n, { type: 'uint64', order: 'ABCD' }));
    sim.write(1, 'holding:120', [0x0102]);
    sim.setOffline(3, true);
    dir = mkdtempSync(join(tmpdir(), 'plantgate-modbus-read-'));
    file = join(dir, 'plant.yaml');
    writeFileSync(
      file,
      stringify({
        gateway: { id: 'lab-edge-01', site: 'lab', timezone: 'Europe/Paris' },
        storage: { dir: join(dir, 'state') },
        sources: [
          {
            id: 'press-1',
            type: 'modbus',
            tcp: `127.0.0.1:${sim.port}`,
            unit_id: 1,
            signals: [{ name: 'lab.press1.state', register: 'holding:5' }],
          },
          {
            id: 'bus',
            type: 'modbus',
            tcp: `127.0.0.1:${sim.port}`,
            timeout: '300ms',
            devices: [
              { unit_id: 2, name: 'packer', signals: [{ name: 'lab.packer.state', register: 'holding:5' }] },
              { unit_id: 3, name: 'dryer', signals: [{ name: 'lab.dryer.state', register: 'holding:5' }] },
            ],
          },
        ],
        sinks: [
          {
            id: 'central',
            type: 'http',
            url: 'https://central.example/ingest',
            select: { signals: ['lab.*'] },
          },
        ],
      }),
    );
  });
  afterAll(async () => {
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints the raw registers, the value in the given word order, the other orders and a signals: line', async () => {
    const r = await read('press-1', '40101', '--type', 'float32', '--word-order', 'little');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [w0, w1] = encodeRegisters(123456.5, { type: 'float32', order: 'CDAB' }) as [number, number];
    const hex = (w: number) => `0x${w.toString(16).toUpperCase().padStart(4, '0')}`;
    expect(r.stdout).toContain(
      `press-1: Modbus TCP 127.0.0.1:${sim.port}, unit 1: holding:100..101 (Modicon 40101..40102)`,
    );
    expect(r.stdout).toContain(`holding:100  ${hex(w0)}`);
    expect(r.stdout).toContain(`holding:101  ${hex(w1)}`);
    expect(r.stdout).toContain('value (float32 CDAB): 123456.5\n');
    expect(r.stdout).toMatch(/in other orders: ABCD \S+, BADC \S+, DCBA \S+/);
    expect(r.stdout).toContain(
      'signal: - { name: press_1.value, register: "holding:100", type: float32, order: CDAB }',
    );
  });

  it('gives the same answer as JSON, with a 64-bit integer past 2^53 exact', async () => {
    const r = await read('press-1', 'holding:110', '--type', 'uint64', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({
      source: 'press-1',
      unit: 1,
      register: 'holding:110..113',
      modicon: '40111..40114',
      raw: encodeRegisters(2n ** 53n + 1n, { type: 'uint64', order: 'ABCD' }),
      type: 'uint64',
      order: 'ABCD',
      value: '9007199254740993',
    });
  });

  it('reads one bit of a register, and a device of a multi-device source chosen with --unit', async () => {
    const bit = await read('press-1', 'holding:120', '--bit', '8', '--json');
    expect(bit.code).toBe(0);
    expect(JSON.parse(bit.stdout)).toMatchObject({ raw: [0x0102], type: 'bool', value: true });
    const unit2 = await read('bus', 'holding:5', '--unit', '2', '--json');
    expect(unit2.code).toBe(0);
    expect(JSON.parse(unit2.stdout)).toMatchObject({ unit: 2, raw: sim.read(2, 'holding:5', 1) });
  });

  it('fails with exit 1 and the reason when the device refuses the address or does not answer', async () => {
    const refused = await read('press-1', 'holding:500');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'unit 1 holding:500 (1 register) was refused with Modbus exception 2 (illegal data address)',
    );
    const silent = await read('bus', 'holding:5', '--unit', '3');
    expect(silent.code).toBe(1);
    expect(silent.stderr).toContain('unit 3 holding:5 (1 register): no answer within 300 ms');
    expect(silent.stdout).toBe('');
  });

  it('refuses with exit 2 what it cannot probe: an ambiguous device, an unknown source, a bad register', async () => {
    const ambiguous = await read('bus', 'holding:5');
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain(
      'source "bus" has several devices; name one with --unit: 2 (packer), 3 (dryer)',
    );
    const unknown = await read('press-9', 'holding:5');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no modbus source "press-9"');
    expect(unknown.stderr).toContain('modbus sources: press-1, bus');
    const short = await read('press-1', '100');
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('register 100 needs its table: write "holding:100"');
    const coil = await read('press-1', 'coil:1', '--type', 'float32');
    expect(coil.code).toBe(2);
    expect(coil.stderr).toContain('coils hold single bits, so they can only be read as bool');
  });
});
