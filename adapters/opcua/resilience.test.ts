// The opcua adapter through server restarts, dropped sessions, a server outage and a blocked journal.

import { OPCUAClientBase } from 'node-opcua';
import { afterEach, describe, expect, it } from 'vitest';
import { type OpcuaSim, startOpcuaSim } from '../../simulators/opcua/server.js';
import { OpcuaAdapter } from './adapter.js';
import { type OpcuaSourceConfig, opcuaSourceSchema } from './config.js';
import { collector, tempEnv, waitFor } from './test-harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sim(opts: Parameters<typeof startOpcuaSim>[0]): Promise<OpcuaSim> {
  const s = await startOpcuaSim(opts);
  cleanups.push(() => s.stop());
  return s;
}

function parse(raw: Record<string, unknown>): OpcuaSourceConfig {
  return opcuaSourceSchema.parse({ id: 'press-1', type: 'opcua', ...raw });
}

async function run(cfg: OpcuaSourceConfig, opts: { keep?: boolean } = {}) {
  const env = tempEnv();
  const c = collector(cfg.id, opts);
  const adapter = new OpcuaAdapter(cfg, env);
  await adapter.start(c.ctx);
  cleanups.push(async () => {
    c.unblock();
    await adapter.stop();
    env.cleanup();
  });
  return { c, adapter };
}

const fast = {
  publishing_interval: '100ms',
  keepalive_count: 3,
  request_timeout: '2s',
  reconnect: { initial: '100ms', max: '500ms' },
};

function clientCount(): number {
  return (OPCUAClientBase as unknown as { registry: { count(): number } }).registry.count();
}

describe('opcua resilience', () => {
  it('comes back after five server restarts in a row, with every monitored item restored', async () => {
    const s = await sim({ tickMs: 100 });
    const cfg = parse({
      endpoint: s.endpoint,
      ...fast,
      signals: [
        { name: 'lyon.press1.hydraulic_pressure', node: 'ns=1;s=Press1.Hydraulic.Pressure' },
        { name: 'lyon.packer3.motor_temp', node: 'ns=1;s=Packer3.MotorTemp' },
        { name: 'lyon.press1.lot_id', browse_path: 'Objects/1:Press1/1:LotId' },
      ],
    });
    const clientsBefore = clientCount();
    const { c, adapter } = await run(cfg);
    await waitFor(
      () => adapter.health().state === 'connected' && c.samples.length > 0,
      'the first connection',
    );
    for (let i = 1; i <= 5; i++) {
      await s.restart();
      const restartedAt = Date.now();
      // Data flowing again: a fresh value of each signal, stamped after the restart, without any manual step.
      await waitFor(
        () =>
          ['lyon.press1.hydraulic_pressure', 'lyon.packer3.motor_temp', 'lyon.press1.lot_id'].every((sig) =>
            c.samples.some((x) => x.signal === sig && (x.ts as Date).getTime() >= restartedAt - 5),
          ),
        `data after restart ${i}`,
      );
      const h = adapter.health();
      expect(h.state).toBe('connected');
      expect(h.counters?.reconnects).toBe(i);
      expect(h.counters?.monitored_items).toBe(3);
      expect(s.sessionCount()).toBe(1);
      expect(s.monitoredItemCount()).toBe(3);
    }
    // Nothing outlives a broken connection: one client object, one session.
    expect(clientCount() - clientsBefore).toBe(1);
    await adapter.stop();
    expect(clientCount()).toBe(clientsBefore);
  });

  it('recovers when the server drops the session (invalid session)', async () => {
    const s = await sim({ tickMs: 100 });
    const cfg = parse({
      endpoint: s.endpoint,
      ...fast,
      signals: [{ name: 'lyon.press1.part_count', node: 'ns=1;s=Press1.PartCount' }],
    });
    const { c, adapter } = await run(cfg);
    await waitFor(() => c.samples.length > 0, 'the first value');
    expect(s.dropSessions()).toBe(1);
    const droppedAt = Date.now();
    await waitFor(() => (adapter.health().counters?.reconnects ?? 0) >= 1, 'a new session');
    await waitFor(
      () => c.samples.some((x) => (x.ts as Date).getTime() > droppedAt),
      'data after the new session',
    );
    expect(s.sessionCount()).toBe(1);
    // Which detector notices first depends on timing (a Bad* service result, the session's own close or
    // keep-alive failure, or missed publish responses); each one rebuilds the connection exactly once.
    const counters = adapter.health().counters ?? {};
    expect(counters.connections_lost).toBe(1);
    expect(adapter.health().last_error).toMatch(/session|keep-alive|publish response|Bad|closed|lost/i);
  });

  it('reports reconnecting, then down, while the server is away, and recovers on its own', async () => {
    const s = await sim({ tickMs: 100 });
    const port = s.port;
    const cfg = parse({
      endpoint: s.endpoint,
      ...fast,
      signals: [{ name: 'lyon.press1.part_count', node: 'ns=1;s=Press1.PartCount' }],
    });
    const { c, adapter } = await run(cfg);
    await waitFor(() => c.samples.length > 0, 'the first value');
    const lastBefore = adapter.health().last_sample_at as number;
    await s.stop();
    await waitFor(() => adapter.health().state === 'reconnecting', 'state reconnecting');
    await waitFor(() => adapter.health().state === 'down', 'state down after repeated failures');
    expect(adapter.health().detail).toMatch(
      /cannot connect to opc\.tcp:\/\/127\.0\.0\.1:\d+ \(\d+ attempts; last value \d+ s ago\)/,
    );
    const back = await sim({ tickMs: 100, port });
    await waitFor(() => adapter.health().state === 'connected', 'the reconnection', 20_000);
    await waitFor(() => (adapter.health().last_sample_at ?? 0) > lastBefore, 'data after the outage');
    expect(back.sessionCount()).toBe(1);
  });

  it('keeps memory bounded while the journal is blocked, counting what it drops', async () => {
    const s = await sim({ tickMs: 20, extraItems: 200 });
    const cfg = parse({
      endpoint: s.endpoint,
      ...fast,
      max_pending: 500,
      signals: Array.from({ length: 200 }, (_, i) => ({
        name: `lyon.extra.item_${i}`,
        node: `ns=1;s=Extra.${i}`,
      })),
    });
    const { c, adapter } = await run(cfg, { keep: false });
    await waitFor(() => c.emits > 0, 'the first emit');
    c.block();
    await waitFor(() => (adapter.health().counters?.dropped_backpressure ?? 0) > 1000, 'drops while blocked');
    // The queue never holds more than max_pending plus the one batch in flight.
    expect(adapter.health().counters?.pending).toBeLessThanOrEqual(500 + 200);
    c.unblock();
    const emits = c.emits;
    await waitFor(() => c.emits > emits + 2, 'emits after unblocking');
    expect(adapter.health().state).toBe('connected');
  });
});
