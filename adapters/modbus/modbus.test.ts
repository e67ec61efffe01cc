// The Modbus adapter against the Modbus simulator over real TCP: values of the press and packer maps,
// counters that wrap, an offline unit isolated while the other keeps its rate, a refused register named,
// recovery after a server restart, and the drift-free schedule counting overruns instead of piling up.
import { afterEach, describe, expect, it } from 'vitest';
import { type ModbusSim, startModbusSim } from '../../simulators/modbus/server.js';
import { type ModbusSourceConfig, modbusSourceSchema } from './config.js';
import { ModbusAdapter } from './modbus.js';
import { type Recorder, recordingContext, waitFor } from './test-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sim(opts: Parameters<typeof startModbusSim>[0] = {}): Promise<ModbusSim> {
  const s = await startModbusSim(opts);
  cleanups.push(() => s.stop());
  return s;
}

async function run(
  cfg: Record<string, unknown>,
  rec: Recorder = recordingContext(),
): Promise<{ adapter: ModbusAdapter; rec: Recorder }> {
  const parsed: ModbusSourceConfig = modbusSourceSchema.parse({ id: 'test', type: 'modbus', ...cfg });
  const adapter = new ModbusAdapter(parsed);
  await adapter.start(rec.ctx);
  cleanups.push(() => adapter.stop());
  return { adapter, rec };
}

const mapSignals = (prefix: string) => [
  { name: `${prefix}.analog_abcd`, register: 'holding:0', type: 'float32' },
  { name: `${prefix}.analog_cdab`, register: 'holding:2', type: 'float32', word_order: 'little' },
  { name: `${prefix}.temp`, register: 'holding:4', type: 'int16', scale: { factor: 0.1 } },
  { name: `${prefix}.state`, register: 'holding:5', type: 'uint16' },
  { name: `${prefix}.running_flag`, register: 'holding:6', bit: 0 },
  { name: `${prefix}.lot`, register: 'holding:20', type: 'string', length: 4 },
  { name: `${prefix}.lifetime`, register: 'holding:34', type: 'uint64' },
  { name: `${prefix}.count_abcd`, register: '40101', type: 'uint32' },
  { name: `${prefix}.count_cdab`, register: 'holding:102', type: 'uint32', order: 'CDAB' },
  { name: `${prefix}.speed_badc`, register: 'input:0', type: 'float32', order: 'BADC' },
  { name: `${prefix}.speed_dcba`, register: 'input:2', type: 'float32', order: 'DCBA' },
  { name: `${prefix}.running`, register: 'coil:0' },
  { name: `${prefix}.guard_closed`, register: 'discrete:1' },
];

describe('modbus adapter against the simulator', () => {
  it('reads the press and the packer: every type, both word orders, counters that wrap', async () => {
    const s = await sim({ tickMs: 20, counterStart: 2 ** 32 - 30 });
    const { adapter, rec } = await run({
      tcp: `127.0.0.1:${s.port}`,
      poll_interval: '50ms',
      devices: [
        { unit_id: 1, name: 'press', signals: mapSignals('t.press') },
        { unit_id: 2, name: 'packer', signals: mapSignals('t.packer') },
      ],
    });
    // The packer's counter starts 30 below 2^32 and counts most ticks: it must be seen high, then wrapped.
    let sawHigh = false;
    await waitFor(
      'the packer counter to wrap',
      () => {
        for (const b of rec.batchesOf(2)) {
          const v = b.find((x) => x.signal === 't.packer.count_abcd')?.value as number;
          if (v > 2 ** 32 - 1000) sawHigh = true;
          else if (sawHigh && v < 1000) return true;
        }
        return false;
      },
      15_000,
    );
    for (const unit of [1, 2]) {
      const batches = rec.batchesOf(unit);
      expect(batches.length).toBeGreaterThan(3);
      for (const b of batches) {
        const v = Object.fromEntries(b.map((x) => [x.signal.split('.').pop(), x.value]));
        // One request reads both copies, so the two word orders must agree exactly in every poll.
        expect(v.analog_abcd).toBe(v.analog_cdab);
        expect(v.count_abcd).toBe(v.count_cdab);
        expect(v.speed_badc).toBe(v.speed_dcba);
        expect(typeof v.analog_abcd).toBe('number');
        expect(v.lot).toMatch(/^LOT-\d{4}$/);
        expect(typeof v.lifetime).toBe('bigint');
        expect(v.lifetime as bigint).toBeGreaterThanOrEqual(2n ** 60n);
        expect([0, 1, 2, 3]).toContain(v.state);
        // The coil comes in its own request, so the model may tick in between: only its type is checked.
        // running_flag is a bit of holding:6, read in the same request as the state in holding:5.
        expect(typeof v.running).toBe('boolean');
        expect(v.running_flag).toBe(v.state === 1);
        expect(typeof v.guard_closed).toBe('boolean');
        expect(Number.isInteger(v.temp)).toBe(true);
      }
      const press = batches[0]?.find((x) => x.signal.endsWith('.analog_abcd'))?.value as number;
      if (unit === 1) expect(press).toBeGreaterThan(1000); // hydraulic pressure around 1500 psi
      expect(batches[0]?.[0]?.address).toMatch(new RegExp(`^unit ${unit} `));
    }
    // The plan for the map: holding 0..37 (gap 7..19 bridged), holding 100..103, input 0..3, coil 0, discrete 1.
    expect(adapter.devices().map((d) => d.requests_per_poll)).toEqual([5, 5]);
    expect(adapter.health().state).toBe('connected');
  });

  it('reads RTU frames over TCP (serial-to-Ethernet converter), one request at a time', async () => {
    const s = await sim({ tickMs: 0, rtuOverTcpPort: 0 });
    s.write(1, 'holding:100', [0x0001, 0x0002]);
    s.write(2, 'holding:100', [0x0002, 0x0001]);
    s.write(2, 'coil:3', [true]);
    const { adapter, rec } = await run({
      rtu_over_tcp: `127.0.0.1:${s.rtuPort}`,
      poll_interval: '50ms',
      timeout: '300ms',
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
    });
    await waitFor('polls of both units', () => rec.batchesOf(1).length >= 3 && rec.batchesOf(2).length >= 3);
    const latest = rec.latest();
    expect(latest.get('t.rtu.u1')?.value).toBe(0x00010002);
    expect(latest.get('t.rtu.u2')?.value).toBe(0x00010002);
    expect(latest.get('t.rtu.coil')?.value).toBe(true);
    expect(adapter.devices().every((d) => d.counters.timeouts === 0)).toBe(true);
  });

  it('isolates an offline unit while the other keeps its rate, and logs each change once', async () => {
    const s = await sim({ tickMs: 0 });
    const interval = 100;
    const { adapter, rec } = await run({
      tcp: `127.0.0.1:${s.port}`,
      poll_interval: `${interval}ms`,
      timeout: '200ms',
      retries: 1,
      backoff_initial: '300ms',
      backoff_max: '1s',
      devices: [
        { unit_id: 1, signals: [{ name: 't.u1.state', register: 'holding:5' }] },
        { unit_id: 2, signals: [{ name: 't.u2.state', register: 'holding:5' }] },
      ],
    });
    await waitFor('both units polled', () => rec.batchesOf(1).length >= 2 && rec.batchesOf(2).length >= 2);
    s.setOffline(2, true);
    await waitFor('unit 2 marked offline', () => adapter.devices()[1]?.state === 'offline');
    const u2Cycles = adapter.devices()[1]?.counters.cycles ?? 0;
    const before = rec.batchesOf(1).length;
    const t0 = Date.now();
    // Long enough for several probes of unit 2 (backoff 300 ms, 600 ms, 1 s).
    await waitFor(
      'three probes of the offline unit',
      () => (adapter.devices()[1]?.counters.cycles ?? 0) >= u2Cycles + 3,
      10_000,
    );
    const elapsed = Date.now() - t0;
    const polls = rec.batchesOf(1).length - before;
    // The healthy unit keeps (nearly) its full rate: one poll per interval.
    expect(polls).toBeGreaterThanOrEqual(Math.floor((elapsed / interval) * 0.8));
    const h = adapter.health();
    expect(h.state).toBe('connected');
    expect(h.detail).toMatch(/unit 2 does not answer/);
    expect(h.counters?.devices_offline).toBe(1);
    expect(adapter.devices()[1]?.counters.timeouts).toBeGreaterThanOrEqual(3);
    // Probes of an offline unit do not retry: one request each.
    const d2 = adapter.devices()[1];
    expect(d2?.counters.retries).toBeLessThanOrEqual(1);
    expect(rec.logs.filter((l) => /unit 2 does not answer/.test(l.msg))).toHaveLength(1);

    s.setOffline(2, false);
    await waitFor('unit 2 back online', () => adapter.devices()[1]?.state === 'online', 5_000);
    const back = rec.batchesOf(2).length;
    await waitFor('unit 2 polled again', () => rec.batchesOf(2).length >= back + 2);
    expect(rec.logs.filter((l) => /unit 2 answers again/.test(l.msg))).toHaveLength(1);
    expect(adapter.health().counters?.devices_offline).toBe(0);
  });

  it('keeps most of the rate of the healthy unit when the connection is serialized', async () => {
    const s = await sim({ tickMs: 0 });
    const interval = 100;
    const { adapter, rec } = await run({
      tcp: `127.0.0.1:${s.port}`,
      serialize: true,
      poll_interval: `${interval}ms`,
      timeout: '150ms',
      retries: 2,
      backoff_initial: '1s',
      backoff_max: '2s',
      devices: [
        { unit_id: 1, signals: [{ name: 't.u1.state', register: 'holding:5' }] },
        { unit_id: 2, signals: [{ name: 't.u2.state', register: 'holding:5' }] },
      ],
    });
    await waitFor('both units polled', () => rec.batchesOf(1).length >= 2 && rec.batchesOf(2).length >= 2);
    s.setOffline(2, true);
    await waitFor('unit 2 marked offline', () => adapter.devices()[1]?.state === 'offline');
    const before = rec.batchesOf(1).length;
    const t0 = Date.now();
    await waitFor('3 s of polling', () => Date.now() - t0 >= 3000, 5000);
    const polls = rec.batchesOf(1).length - before;
    // A probe holds the bus for one timeout (150 ms) every 1-2 s, never retries*timeout every poll.
    expect(polls).toBeGreaterThanOrEqual(Math.floor((3000 / interval) * 0.75));
  });

  it('names the signal behind an illegal-address exception and keeps reading the others', async () => {
    const s = await sim({ tickMs: 0 });
    s.write(1, 'holding:150', [1234]);
    s.write(1, 'holding:170', [4321]);
    s.injectException(1, 'holding:160', 2);
    const { adapter, rec } = await run({
      tcp: `127.0.0.1:${s.port}`,
      poll_interval: '50ms',
      unit_id: 1,
      max_gap: 30,
      signals: [
        { name: 't.ok.first', register: 'holding:150' },
        { name: 't.bad.refused', register: 'holding:160' },
        { name: 't.ok.second', register: 'holding:170' },
        { name: 't.bad.missing', register: 'holding:500', type: 'uint32' },
      ],
    });
    await waitFor('two polls after the split', () => rec.batches.length >= 3);
    const latest = rec.latest();
    expect(latest.get('t.ok.first')?.value).toBe(1234);
    expect(latest.get('t.ok.second')?.value).toBe(4321);
    expect(latest.has('t.bad.refused')).toBe(false);
    expect(latest.has('t.bad.missing')).toBe(false);
    const excluded = adapter.devices()[0]?.excluded ?? [];
    expect(excluded.map((e) => e.signal).sort()).toEqual(['t.bad.missing', 't.bad.refused']);
    expect(excluded.find((e) => e.signal === 't.bad.missing')?.reason).toMatch(
      /refused holding:500\.\.501 with Modbus exception 2 \(illegal data address\); check the register of t\.bad\.missing/,
    );
    const h = adapter.health();
    expect(h.state).toBe('connected');
    expect(h.detail).toMatch(/t\.bad\.refused is not read/);
    expect(h.counters?.signals_excluded).toBe(2);
    // The device itself is healthy: a refused register is not an outage.
    expect(adapter.devices()[0]?.state).toBe('online');
    const warned = rec.logs.filter((l) => l.level === 40 && /t\.bad\./.test(l.msg));
    expect(warned).toHaveLength(2);
    // After the split the good signals are read without bridging the refused register.
    const perPoll = adapter.devices()[0]?.requests_per_poll;
    expect(perPoll).toBe(2);
  });

  it('recovers after the server restarts', async () => {
    const s = await sim({ tickMs: 10 });
    const { adapter, rec } = await run({
      tcp: `127.0.0.1:${s.port}`,
      poll_interval: '50ms',
      timeout: '300ms',
      backoff_initial: '100ms',
      unit_id: 1,
      signals: [{ name: 't.press.count', register: 'holding:100', type: 'uint32' }],
    });
    await waitFor('first polls', () => rec.batches.length >= 2);
    await s.restart();
    await waitFor('the loss to be noticed', () => (adapter.health().counters?.disconnects ?? 0) >= 1);
    const after = rec.batches.length;
    await waitFor('polls after the restart', () => rec.batches.length >= after + 3, 10_000);
    const h = adapter.health();
    expect(h.state).toBe('connected');
    expect(h.counters?.connects).toBeGreaterThanOrEqual(2);
    expect(rec.logs.filter((l) => /Connection to .* lost/.test(l.msg))).toHaveLength(1);
    expect(rec.logs.filter((l) => /Connection to .* is back/.test(l.msg))).toHaveLength(1);
  });

  it('keeps a drift-free schedule: a slow emit is counted as overruns, never caught up in a burst', async () => {
    const s = await sim({ tickMs: 0 });
    const interval = 50;
    const { adapter, rec } = await run(
      {
        tcp: `127.0.0.1:${s.port}`,
        poll_interval: `${interval}ms`,
        unit_id: 1,
        signals: [{ name: 't.u1.state', register: 'holding:5' }],
      },
      recordingContext({ emitDelayMs: 130 }),
    );
    const t0 = Date.now();
    await waitFor('1.5 s of polling', () => Date.now() - t0 >= 1500, 5000);
    const d = adapter.devices()[0];
    const cycles = d?.counters.cycles ?? 0;
    // Each poll takes ~130 ms (3 slots): about 1500/150 polls, and the skipped slots are counted.
    expect(cycles).toBeLessThanOrEqual(Math.ceil(1500 / 130) + 1);
    expect(cycles).toBeGreaterThanOrEqual(5);
    expect(d?.counters.overruns).toBeGreaterThanOrEqual(cycles - 2);
    // When the back-pressure ends, the missed slots are not replayed: the rate goes back to one per interval.
    rec.setEmitDelay(0);
    await waitFor(
      'the slow emit in flight to finish',
      () => (adapter.devices()[0]?.counters.cycles ?? 0) >= cycles + 2,
    );
    const from = adapter.devices()[0]?.counters.cycles ?? 0;
    const t1 = Date.now();
    await waitFor('500 ms at full rate', () => Date.now() - t1 >= 500, 2000);
    const burst = (adapter.devices()[0]?.counters.cycles ?? 0) - from;
    expect(burst).toBeLessThanOrEqual(Math.ceil((Date.now() - t1) / interval) + 1);
    expect(burst).toBeGreaterThanOrEqual(5);
  });

  it('counts timeouts and retries of a slow device, and reports a refused connection as reconnecting', async () => {
    const s = await sim({ tickMs: 0 });
    s.setLatency(120);
    const { adapter } = await run({
      tcp: `127.0.0.1:${s.port}`,
      poll_interval: '50ms',
      timeout: '60ms',
      retries: 2,
      backoff_initial: '100ms',
      unit_id: 1,
      signals: [{ name: 't.u1.state', register: 'holding:5' }],
    });
    await waitFor('the device to be declared offline', () => adapter.devices()[0]?.state === 'offline');
    const c = adapter.devices()[0]?.counters;
    expect(c?.timeouts).toBeGreaterThanOrEqual(3);
    expect(c?.retries).toBeGreaterThanOrEqual(2);
    expect(adapter.health().state).toBe('down');
    s.setLatency(0);
    await waitFor('the device to answer again', () => adapter.devices()[0]?.state === 'online', 5000);

    await s.stop();
    await waitFor(
      'the connection to be reported down',
      () => adapter.health().state === 'reconnecting',
      5000,
    );
    expect(adapter.health().detail).toMatch(/is not reachable/);
  });
});
