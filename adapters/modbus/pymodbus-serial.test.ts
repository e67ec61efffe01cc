// Modbus RTU over a real serial line against a second, independent implementation (issue 17, item 4): Debian's
// pymodbus serves RTU on one end of a socat pty pair, the adapter opens the other through `serialport` as it
// opens /dev/ttyUSB0. Neither side shares code with the other or with our simulator, so a framing, CRC or
// decoding mistake made the same way on both sides of serial.test.ts shows up here. Every golden case's
// registers live on their own unit id of the one line; every data type decodes to the golden value, and two
// unit ids are polled by one adapter on the same line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  NO_PYMODBUS,
  PYMODBUS_PYTHON,
  type PymodbusData,
  type PymodbusRtuServer,
  startPymodbusRtu,
} from '../../simulators/pymodbus/test-support.js';
import { type ModbusSourceConfig, modbusSourceSchema } from './config.js';
import { NO_SOCAT, ptyPair, type SerialLine, SOCAT, unplugAll } from './serial-line.js';
import {
  expectedValue,
  type GoldenCase,
  goldenValueCases,
  startAdapter,
  valuesOf,
} from './serial-test-support.js';
import { waitFor } from './test-harness.js';

const skipReason = !SOCAT ? NO_SOCAT : !PYMODBUS_PYTHON ? NO_PYMODBUS : undefined;
/** A skipped test says why in its name. */
const title = (t: string) => (skipReason ? `${t} [skipped: ${skipReason}]` : t);

// Case i's registers are unit i + 1's: the cases reuse addresses, and the line carries many units.
const valueCases = goldenValueCases().map((c, i) => ({ ...c, unit: i + 1 }));

function expectedOf(c: GoldenCase): Record<string, unknown> {
  return Object.fromEntries(Object.entries(c.expected ?? {}).map(([k, v]) => [k, expectedValue(v)]));
}

// What pymodbus opens its end with; the adapter's YAML says the same, as on a real line. No parity: the Linux pty
// driver drops PARENB, and this machine's kernel (6.18) then fails a tcsetattr whose only change was PARENB with
// EINVAL, which pyserial's second reconfigure of the port (pymodbus sets a timeout after opening) is. A real UART
// keeps parity; serial.test.ts runs the adapter itself with even parity.
const SERIAL = { baud: 38400, parity: 'none', stop_bits: 2 } as const;

let dir: string;
let line: SerialLine;
let server: PymodbusRtuServer | undefined;
const stops: Array<() => Promise<unknown>> = [];
const start = (cfg: ModbusSourceConfig) => startAdapter(cfg, stops);

beforeAll(async () => {
  if (skipReason) return;
  dir = mkdtempSync(join(tmpdir(), 'plantgate-pymodbus-'));
  line = await ptyPair(join(dir, 'ttyRS485'), join(dir, 'ttyPymodbus'));
  const data: PymodbusData = {};
  for (const c of valueCases) data[c.unit] = c.data.registers ?? {};
  server = await startPymodbusRtu({
    device: join(dir, 'ttyPymodbus'),
    baud: SERIAL.baud,
    parity: SERIAL.parity,
    stopBits: SERIAL.stop_bits,
    data,
    dataFile: join(dir, 'registers.json'),
  });
}, 30_000);

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
});

afterAll(async () => {
  await server?.stop();
  await unplugAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function source(rest: Record<string, unknown>): ModbusSourceConfig {
  return modbusSourceSchema.parse({
    id: 'rtu-pymodbus',
    type: 'modbus',
    serial: { port: line.device, ...SERIAL },
    poll_interval: '100ms',
    timeout: '1s',
    reconnect: { initial: '100ms', max: '400ms' },
    ...rest,
  });
}

describe('Modbus RTU over a serial device against pymodbus (socat pty pair, Debian python3-pymodbus)', () => {
  it.skipIf(skipReason !== undefined)(
    title('decodes every data type of the golden cases served by pymodbus'),
    async () => {
      expect(valueCases.length).toBeGreaterThanOrEqual(6);
      for (const c of valueCases) {
        const { tcp: _tcp, ...config } = c.data.config;
        const { adapter, rec } = await start(source({ ...config, unit_id: c.unit }));
        const batch = await waitFor(`the first poll of ${c.name}`, () => rec.batches[0], 15_000);
        expect(valuesOf(batch), `${c.name} (unit ${c.unit})`).toStrictEqual(expectedOf(c.data));
        expect(adapter.health().counters, c.name).toMatchObject({ timeouts: 0 });
        await adapter.stop();
      }
      expect(server?.stderr()).toBe('');
    },
    120_000,
  );

  it.skipIf(skipReason !== undefined)(
    title('polls two unit ids on the same line, each decoding its own registers'),
    async () => {
      const [a, b] = valueCases as [(typeof valueCases)[number], (typeof valueCases)[number]];
      const { adapter, rec } = await start(
        source({
          devices: [
            { unit_id: a.unit, signals: a.data.config.signals },
            { unit_id: b.unit, signals: b.data.config.signals },
          ],
        }),
      );
      await waitFor(
        'both units polled twice',
        () => rec.batchesOf(a.unit).length >= 2 && rec.batchesOf(b.unit).length >= 2,
        20_000,
      );
      for (const batch of rec.batchesOf(a.unit)) expect(valuesOf(batch)).toStrictEqual(expectedOf(a.data));
      for (const batch of rec.batchesOf(b.unit)) expect(valuesOf(batch)).toStrictEqual(expectedOf(b.data));
      expect(adapter.devices().map((d) => d.state)).toEqual(['online', 'online']);
      expect(adapter.health().counters).toMatchObject({
        timeouts: 0,
        [`unit_${a.unit}_timeouts`]: 0,
        [`unit_${b.unit}_timeouts`]: 0,
      });
    },
    60_000,
  );
});
