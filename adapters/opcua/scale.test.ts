// The opcua adapter at scale: 10,000 monitored items created in chunks under the server's
// MaxMonitoredItemsPerCall, all delivering.
import { afterEach, describe, expect, it } from 'vitest';
import { type OpcuaSim, startOpcuaSim } from '../../simulators/opcua/server.js';
import { OpcuaAdapter } from './adapter.js';
import { opcuaSourceSchema } from './config.js';
import { collector, tempEnv, waitFor } from './test-harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('opcua at scale', () => {
  it('subscribes 10,000 monitored items in chunks within MaxMonitoredItemsPerCall and delivers them all', async () => {
    const s: OpcuaSim = await startOpcuaSim({
      tickMs: 0,
      extraItems: 10_000,
      maxMonitoredItemsPerCall: 1000,
    });
    cleanups.push(() => s.stop());
    const cfg = opcuaSourceSchema.parse({
      id: 'press-1',
      type: 'opcua',
      endpoint: s.endpoint,
      publishing_interval: '200ms',
      signals: Array.from({ length: 10_000 }, (_, i) => ({
        name: `lyon.extra.item_${i}`,
        node: `ns=1;s=Extra.${i}`,
      })),
    });
    const env = tempEnv();
    const c = collector(cfg.id, { keep: false });
    const adapter = new OpcuaAdapter(cfg, env);
    await adapter.start(c.ctx);
    cleanups.push(async () => {
      await adapter.stop();
      env.cleanup();
    });
    await waitFor(() => c.latest.size === 10_000, 'a value of every one of the 10,000 items', 45_000);
    const h = adapter.health();
    expect(h.state).toBe('connected');
    expect(h.counters?.monitored_items).toBe(10_000);
    expect(h.counters?.failed_items).toBe(0);
    expect(h.counters?.create_monitored_items_calls).toBe(10);
    expect(s.monitoredItemCount()).toBe(10_000);
    expect(c.latest.get('lyon.extra.item_9999')).toMatchObject({
      value: 9999 / 1e6,
      address: 'ns=1;s=Extra.9999',
      status: 'good',
    });
  });
});
