// Modbus int64/uint64 on both sides of 2^53, end to end (field fixes #11, item 3): registers in the Modbus
// simulator, read by the BUILT daemon, delivered to the receiver. A value JSON carries exactly arrives as a
// number; one beyond ±(2^53-1) arrives as its exact decimal text with value_type "integer", never rounded and
// never quarantined. The decoder's side (numbers while exact, bigint beyond) is in the golden cases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeSuite, startDaemon, waitFor, writeConfig } from '../../edge-tests/lib/harness.js';
import { type ModbusSim, startModbusSim } from '../../simulators/modbus/server.js';
import type { Order } from './codec.js';
import { encodeRegisters } from './test-encode.js';

const TWO_53 = 2n ** 53n;

/** name, register, type, order, value written, what the receiver must get. */
const CASES: Array<{
  name: string;
  register: number;
  type: 'int64' | 'uint64';
  order: Order;
  value: bigint;
  want: { value: number | string; value_type?: 'integer' };
}> = [
  {
    name: 'u_below',
    register: 150,
    type: 'uint64',
    order: 'ABCD',
    value: TWO_53 - 1n,
    want: { value: 2 ** 53 - 1 },
  },
  {
    name: 'u_at',
    register: 154,
    type: 'uint64',
    order: 'CDAB',
    value: TWO_53,
    want: { value: '9007199254740992', value_type: 'integer' },
  },
  {
    name: 'u_above',
    register: 158,
    type: 'uint64',
    order: 'ABCD',
    value: TWO_53 + 1n,
    want: { value: '9007199254740993', value_type: 'integer' },
  },
  {
    name: 'u_max',
    register: 162,
    type: 'uint64',
    order: 'DCBA',
    value: 2n ** 64n - 1n,
    want: { value: '18446744073709551615', value_type: 'integer' },
  },
  {
    name: 'i_below',
    register: 166,
    type: 'int64',
    order: 'ABCD',
    value: -(TWO_53 - 1n),
    want: { value: -(2 ** 53 - 1) },
  },
  {
    name: 'i_above',
    register: 170,
    type: 'int64',
    order: 'BADC',
    value: -(TWO_53 + 1n),
    want: { value: '-9007199254740993', value_type: 'integer' },
  },
  {
    name: 'i_min',
    register: 174,
    type: 'int64',
    order: 'ABCD',
    value: -(2n ** 63n),
    want: { value: '-9223372036854775808', value_type: 'integer' },
  },
];

describe('modbus 64-bit integers around 2^53, through the daemon', () => {
  const suite = edgeSuite();
  let sim: ModbusSim;
  beforeAll(async () => {
    // Frozen values (tickMs 0): the registers hold exactly what the test writes.
    sim = await startModbusSim({ tickMs: 0, units: [1] });
    for (const c of CASES)
      sim.write(1, `holding:${c.register}`, encodeRegisters(c.value, { type: c.type, order: c.order }));
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('delivers exact numbers below 2^53 and exact decimal text with value_type integer beyond', async () => {
    const dir = suite.dir();
    const file = writeConfig(dir, 'plant.yaml', {
      gateway: { id: 'edge-test-01', site: 'lab', timezone: 'Europe/Paris' },
      storage: { dir: `${dir}/state`, max_bytes: '64MiB', when_full: 'drop_oldest', commit_interval: '10ms' },
      health: { listen: '127.0.0.1:0' },
      sources: [
        {
          id: 'meter-1',
          type: 'modbus',
          tcp: `127.0.0.1:${sim.port}`,
          unit_id: 1,
          poll_interval: '200ms',
          signals: CASES.map((c) => ({
            name: `lab.meter.${c.name}`,
            register: `holding:${c.register}`,
            type: c.type,
            order: c.order,
          })),
        },
      ],
      sinks: [
        {
          id: 'central',
          type: 'http',
          url: suite.receiver.url,
          select: { signals: ['lab.*'] },
          batch: { max_records: 500, max_wait: '100ms' },
        },
      ],
    });
    const d = await startDaemon(file);
    const latest = await waitFor(
      'a record of every signal at the receiver',
      () => {
        const m = new Map<string, Record<string, unknown>>();
        for (const r of suite.receiver.records()) m.set(String(r.signal), r);
        return m.size === CASES.length ? m : undefined;
      },
      { timeoutMs: 30_000, detail: () => suite.receiver.stats() },
    );
    for (const c of CASES) {
      const r = latest.get(`lab.meter.${c.name}`);
      expect({ signal: c.name, value: r?.value, value_type: r?.value_type }).toEqual({
        signal: c.name,
        value: c.want.value,
        value_type: c.want.value_type,
      });
    }
    // Nothing was quarantined: big integers are values, not parse failures.
    const status = await d.status();
    expect(status.quarantine.total).toBe(0);
    expect(await d.stop()).toEqual({ code: 0, signal: null });
  });
});
