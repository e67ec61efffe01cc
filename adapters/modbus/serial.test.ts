// Modbus RTU over a real serial device (issue 17, item 4): the adapter opens a pseudo-terminal through
// `serialport` as it opens /dev/ttyUSB0, with baud rate, parity and stop bits from the YAML, and the Modbus
// simulator answers RTU frames on the other end (socat joins the pty to the simulator's RTU port). Covered:
// every data type of the golden cases, two unit ids on one line, a corrupted CRC (counted and retried), the
// adapter unplugged and plugged back, and the silence between frames at 9600 and 115200 baud. For the
// corrupted CRC and the silences, the bytes pass a LineTap between two ptys, where the device would be.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ModbusSim, startModbusSim } from '../../simulators/modbus/server.js';
import type { RawSample } from '../../src/model/records.js';
import { type ModbusSourceConfig, modbusSourceSchema } from './config.js';
import {
  type LineTap,
  lineTap,
  NO_SOCAT,
  type SerialLine,
  SOCAT,
  serialLine,
  sttyOf,
  unplugAll,
} from './serial-line.js';
import { expectedValue, goldenValueCases, startAdapter, valuesOf } from './serial-test-support.js';
import { waitFor } from './test-harness.js';

/** A skipped test says why in its name. */
const title = (t: string) => (SOCAT ? t : `${t} [skipped: ${NO_SOCAT}]`);

const valueCases = goldenValueCases();

let dir: string;
let sim: ModbusSim;
const stops: Array<() => Promise<unknown>> = [];
const start = (cfg: ModbusSourceConfig) => startAdapter(cfg, stops);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'plantgate-serial-'));
  // Frozen values (tickMs 0): the registers hold only what each test writes. Units 1 and 2 share the line.
  sim = await startModbusSim({ tickMs: 0, units: [1, 2], rtuOverTcpPort: 0 });
});

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
  await unplugAll();
});

afterAll(async () => {
  await sim?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let lineNo = 0;
/** A fresh pty path joined to the simulator's RTU port. */
async function line(): Promise<SerialLine> {
  lineNo += 1;
  return serialLine(join(dir, `ttyRS485-${lineNo}`), sim.rtuPort as number);
}

/** A fresh pty path whose bytes pass a LineTap (a pty pair, the tap, a second pty) to the simulator. */
async function tap(): Promise<LineTap> {
  lineNo += 1;
  const t = await lineTap(join(dir, `ttyRS485-${lineNo}`), sim.rtuPort as number);
  stops.push(() => t.close());
  return t;
}

function source(
  device: string,
  serial: Record<string, unknown>,
  rest: Record<string, unknown>,
): ModbusSourceConfig {
  return modbusSourceSchema.parse({
    id: 'rtu-1',
    type: 'modbus',
    serial: { port: device, ...serial },
    poll_interval: '100ms',
    timeout: '500ms',
    reconnect: { initial: '100ms', max: '400ms' },
    ...rest,
  });
}

describe('Modbus RTU over a serial device (socat pty, modbus simulator on the other end)', () => {
  it.skipIf(!SOCAT)(
    title(
      'decodes every data type of the golden cases; baud rate and stop bits of the YAML reach the device',
    ),
    async () => {
      expect(valueCases.length).toBeGreaterThanOrEqual(6);
      for (const c of valueCases) {
        for (const [addr, values] of Object.entries(c.data.registers ?? {})) sim.write(1, addr, values);
        const l = await line();
        const { tcp: _tcp, ...config } = c.data.config;
        const { adapter, rec } = await start(
          source(l.device, { baud: 19200, parity: 'even', stop_bits: 1 }, config),
        );
        const batch = await waitFor(`the first poll of ${c.name}`, () => rec.batches[0]);
        const want = Object.fromEntries(
          Object.entries(c.data.expected ?? {}).map(([k, v]) => [k, expectedValue(v)]),
        );
        expect(valuesOf(batch), c.name).toStrictEqual(want);
        // The open device's settings are the YAML's, read back from the kernel. Parity cannot be: the Linux pty
        // driver clears PARENB and forces CS8 on every change (a real UART keeps them).
        const stty = sttyOf(l.device);
        expect(stty, c.name).toMatch(/speed 19200 baud/);
        expect(stty).toMatch(/(^|\s)-cstopb(\s|$)/);
        await adapter.stop();
        await l.unplug();
      }
    },
  );

  it.skipIf(!SOCAT)(title('reads two unit ids on the same line (8N2 at 38400 baud)'), async () => {
    sim.write(1, 'holding:100', [0x0001, 0x86a0]); // 100000, big-endian words
    sim.write(2, 'holding:100', [0x0d40, 0x0003]); // 200000, little-endian words
    sim.write(2, 'coil:3', true);
    sim.resetStats();
    const l = await line();
    const { adapter, rec } = await start(
      source(
        l.device,
        { baud: 38400, parity: 'none', stop_bits: 2 },
        {
          devices: [
            { unit_id: 1, signals: [{ name: 't.rtu.u1', register: 'holding:100', type: 'uint32' }] },
            {
              unit_id: 2,
              signals: [
                { name: 't.rtu.u2', register: 'holding:100', type: 'uint32', word_order: 'little' },
                { name: 't.rtu.coil', register: 'coil:3' },
              ],
            },
          ],
        },
      ),
    );
    await waitFor('both units polled', () => rec.batchesOf(1).length >= 2 && rec.batchesOf(2).length >= 2);
    expect(valuesOf(rec.batchesOf(1)[0] as RawSample[])).toEqual({ 't.rtu.u1': 100000 });
    expect(valuesOf(rec.batchesOf(2)[0] as RawSample[])).toEqual({ 't.rtu.u2': 200000, 't.rtu.coil': true });
    const st = sim.stats();
    expect(st.byUnit[1]).toBeGreaterThanOrEqual(2);
    expect(st.byUnit[2]).toBeGreaterThanOrEqual(4);
    expect(adapter.devices().map((d) => d.state)).toEqual(['online', 'online']);
    expect(adapter.health().counters).toMatchObject({ timeouts: 0, unit_1_timeouts: 0, unit_2_timeouts: 0 });
    const stty = sttyOf(l.device);
    expect(stty).toMatch(/speed 38400 baud/);
    expect(stty).toMatch(/(^|\s)cstopb(\s|$)/);
  });

  it.skipIf(!SOCAT)(
    title('counts an answer with a corrupted CRC and retries it within the same poll'),
    async () => {
      sim.write(1, 'holding:0', [1234, 5678]);
      const t = await tap();
      const { adapter, rec } = await start(
        source(
          t.device,
          { baud: 19200 },
          {
            unit_id: 1,
            retries: 1,
            signals: [
              { name: 't.crc.a', register: 'holding:0', type: 'uint16' },
              { name: 't.crc.b', register: 'holding:1', type: 'uint16' },
            ],
          },
        ),
      );
      await waitFor('a first good poll', () => rec.batches[0]);
      const before = { ...adapter.health().counters };
      const batchesBefore = rec.batches.length;
      t.corruptNext(1);
      await waitFor('the corrupted answer to be counted and retried', () => {
        const c = adapter.health().counters ?? {};
        return (c.retries ?? 0) > (before.retries ?? 0) && rec.batches.length > batchesBefore + 1;
      });
      expect(t.corrupted).toBe(1);
      const c = adapter.health().counters ?? {};
      // Counted with the unanswered requests (a garbled line is silence to the master), retried at once: the poll
      // still delivered, no cycle failed and the device stayed online.
      expect((c.timeouts ?? 0) - (before.timeouts ?? 0)).toBe(1);
      expect((c.retries ?? 0) - (before.retries ?? 0)).toBe(1);
      expect(c.failed_cycles).toBe(before.failed_cycles);
      expect(adapter.devices()[0]?.state).toBe('online');
      for (const b of rec.batches) expect(valuesOf(b)).toEqual({ 't.crc.a': 1234, 't.crc.b': 5678 });
    },
  );

  it.skipIf(!SOCAT)(
    title('an unplugged adapter makes the source reconnecting; it recovers when the path returns'),
    async () => {
      sim.write(1, 'holding:5', [7]);
      const l = await line();
      const { adapter, rec } = await start(
        source(
          l.device,
          { baud: 19200 },
          {
            unit_id: 1,
            signals: [{ name: 't.plug.state', register: 'holding:5', type: 'uint16' }],
          },
        ),
      );
      await waitFor('a first poll', () => rec.batches[0]);
      expect(adapter.health().state).toBe('connected');
      await l.unplug();
      const down = await waitFor('the source to be reconnecting', () => {
        const h = adapter.health();
        return h.state === 'reconnecting' ? h : false;
      });
      expect(down.detail).toContain(l.device);
      const batchesWhileDown = rec.batches.length;
      sim.write(1, 'holding:5', [8]);
      await l.plug();
      await waitFor(
        'polling to resume on the returned path',
        () => rec.batches.length > batchesWhileDown && adapter.health().state === 'connected',
        20_000,
      );
      expect(valuesOf(rec.batches.at(-1) as RawSample[])).toEqual({ 't.plug.state': 8 });
      const c = adapter.health().counters ?? {};
      expect(c.disconnects).toBeGreaterThanOrEqual(1);
      expect(c.connects).toBeGreaterThanOrEqual(2);
    },
  );

  // Modbus RTU ends a frame with a silence of 3.5 characters (t3.5); a device that hears the next request earlier
  // takes it for part of the last frame. 8E1 is 11 bits a character: 4.01 ms at 9600 baud; above 19200 baud the
  // specification fixes 1.75 ms. The tap stands where the device is and times what it hears.
  for (const baud of [9600, 115200]) {
    it.skipIf(!SOCAT)(
      title(`keeps t3.5 of silence between an answer and the next request at ${baud} baud`),
      async () => {
        const t35 = baud > 19200 ? 1.75 : (3.5 * 11 * 1000) / baud;
        const t = await tap();
        await start(
          source(
            t.device,
            { baud, parity: 'even' },
            {
              unit_id: 1,
              max_gap: 0,
              // Four requests a poll, back to back: holding, holding, input, coil.
              signals: [
                { name: 't.gap.a', register: 'holding:0', type: 'uint16' },
                { name: 't.gap.b', register: 'holding:50', type: 'uint16' },
                { name: 't.gap.c', register: 'input:4', type: 'uint16' },
                { name: 't.gap.d', register: 'coil:0' },
              ],
            },
          ),
        );
        await waitFor('40 requests', () => t.frames.filter((f) => f.dir === 'request').length >= 40, 30_000);
        const frames = [...t.frames];
        const gaps: number[] = [];
        for (let i = 1; i < frames.length; i++) {
          const prev = frames[i - 1] as (typeof frames)[number];
          const cur = frames[i] as (typeof frames)[number];
          if (prev.dir === 'answer' && cur.dir === 'request') gaps.push(cur.firstAt - prev.lastAt);
        }
        expect(gaps.length).toBeGreaterThanOrEqual(39);
        // Every request arrived as one frame of its own (8 bytes), never run together with the next one.
        for (const f of frames.filter((x) => x.dir === 'request')) expect(f.bytes).toBe(8);
        const min = Math.min(...gaps);
        console.info(
          `${baud} baud: t3.5 ${t35.toFixed(2)} ms, shortest silence ${min.toFixed(2)} ms over ${gaps.length}`,
        );
        expect(
          min,
          `silences before requests (ms): ${gaps.map((g) => g.toFixed(2)).join(', ')}`,
        ).toBeGreaterThanOrEqual(t35);
      },
    );
  }
});
