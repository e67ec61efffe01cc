// Edge-derived events end to end: a simulated packer's part counter (Modbus, uint32, wrapping and reset) is
// read by the built daemon, turned into production.count windows, and confirmed to the ERP receiver. The ERP's
// total must equal the machine's true production exactly, across a kill -9 and a WAN outage.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ModbusSim, startModbusSim } from '../simulators/modbus/server.js';
import { type Receiver, startReceiver } from '../simulators/receiver/receiver.js';
import { killAll, startDaemon, tempDir, waitFor, writeConfig } from './lib/harness.js';

let receiver: Receiver;
let plc: ModbusSim;
const temps: Array<{ cleanup(): void }> = [];
const COUNTER = 'holding:100';
const UNIT = 2;
const MAX = 4294967295;

beforeAll(async () => {
  receiver = await startReceiver({ port: 0 });
  // Frozen value model: the test is the machine and produces the parts itself.
  plc = await startModbusSim({ port: 0, tickMs: 0, units: [1, 2] });
});
afterAll(async () => {
  killAll();
  await plc.stop();
  await receiver.close();
  for (const t of temps) t.cleanup();
});
afterEach(() => killAll());

function setCounter(v: number): void {
  plc.write(UNIT, COUNTER, [Math.floor(v / 65536) & 0xffff, v & 0xffff]);
}

describe('production counts for the ERP', () => {
  it('confirms exactly the parts the machine made, across a wrap, a reset, a kill -9 and an ERP outage', async () => {
    const t = tempDir();
    temps.push(t);
    const cfg = {
      gateway: { id: 'edge-events-01', site: 'lyon', timezone: 'Europe/Paris' },
      storage: { dir: t.dir, commit_interval: '10ms' },
      health: { listen: '127.0.0.1:0' },
      sources: [
        {
          id: 'packer-3',
          type: 'modbus',
          tcp: `127.0.0.1:${plc.port}`,
          unit_id: UNIT,
          poll_interval: '100ms',
          signals: [
            { name: 'lyon.packer3.good_count', register: COUNTER, type: 'uint32', value_type: 'integer' },
          ],
        },
      ],
      events: [
        {
          type: 'production.count',
          counter: 'lyon.packer3.good_count',
          counter_max: MAX,
          window: '2s',
          lateness: '500ms',
          subject: 'lyon.packer3',
          work_order: { value: 'WO-4711' },
        },
      ],
      sinks: [
        {
          id: 'erp',
          type: 'http',
          url: `${receiver.url}/erp`,
          select: { kinds: ['event'], types: ['production.count'] },
          batch: { max_records: 100, max_wait: '50ms' },
          retry: { initial: '100ms', max: '500ms' },
        },
      ],
    };
    let counter = MAX - 400; // wraps within the first seconds
    setCounter(counter);
    const file = writeConfig(t.dir, 'plant.yaml', cfg);
    let p = await startDaemon(file);
    // The first sample is the baseline: production counts from there.
    await waitFor('baseline read', async () => (await p.status()).sources['packer-3']!.received > 0);
    let produced = 0;
    let resetDone = false;
    let pausedUntil = 0;
    const machine = setInterval(() => {
      const now = Date.now();
      if (!resetDone && produced > 1500) {
        // Shift change: the machine stops, then the operator resets the counter and the next parts count from 0.
        // (Parts made after the last poll and before a reset are invisible to any reader, so the stop lasts
        // several poll intervals: that is the physical limit, not the gateway's.)
        if (pausedUntil === 0) pausedUntil = now + 600;
        if (now < pausedUntil) return;
        counter = 0;
        resetDone = true;
      }
      const parts = Math.floor(Math.random() * 6);
      counter = (counter + parts) % (MAX + 1);
      produced += parts;
      setCounter(counter);
    }, 20);
    try {
      await waitFor('some windows confirmed', () => (receiver.stats().paths['/erp']?.records ?? 0) >= 1, {
        timeoutMs: 20_000,
      });
      p.kill('SIGKILL');
      await p.exited;
      p = await startDaemon(file);
      await waitFor('reset seen', () => resetDone, { timeoutMs: 30_000 });
      await receiver.goDown();
      const downAt = Date.now();
      await waitFor('a 3 s ERP outage', () => Date.now() - downAt >= 3000);
      await receiver.comeUp();
      await waitFor('more production', () => produced > 3000, { timeoutMs: 30_000 });
    } finally {
      clearInterval(machine);
    }
    const stoppedAt = Date.now();
    const trueTotal = produced;
    const sumGood = () =>
      receiver
        .records('/erp')
        .filter((r) => r.kind === 'event' && r.type === 'production.count')
        .reduce((a, r) => a + Number((r.data as { good: number }).good), 0);
    // Windows close at end + lateness; wait until the last one has been confirmed and nothing is queued.
    const st = await waitFor(
      'the last window confirmed',
      async () => {
        const s = await p.status();
        return Date.now() - stoppedAt > 4000 && sumGood() >= trueTotal && s.sinks.erp!.ledger.queued === 0
          ? s
          : false;
      },
      { timeoutMs: 30_000 },
    ).catch(async (err: Error) => {
      const s = await p.status();
      throw new Error(
        `${err.message}: ERP confirmed ${sumGood()} of ${trueTotal} parts; erp sink ${JSON.stringify(s.sinks.erp)}; events derived ${s.ledger.events_derived}; quarantine ${JSON.stringify(s.quarantine)}; events ${JSON.stringify(receiver.records('/erp').map((r) => r.data))}`,
      );
    });
    expect(sumGood()).toBe(trueTotal);
    const events = receiver.records('/erp');
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    const data = events.map((e) => e.data as { work_order?: string; wraps?: number; resets?: number });
    expect(data.every((d) => d.work_order === 'WO-4711')).toBe(true);
    expect(data.reduce((a, d) => a + (d.wraps ?? 0), 0)).toBe(1);
    expect(data.reduce((a, d) => a + (d.resets ?? 0), 0)).toBe(1);
    expect(st.sinks.erp!.ledger.balanced).toBe(true);
    await p.stop();
  }, 120_000);
});
