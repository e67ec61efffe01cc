// Sparkplug B in against Debian's mosquitto (MQTT 5 and 3.1.1), with Eclipse Tahu's sparkplug-client as the edge
// node: BIRTH, alias-only DATA, an unknown alias answered by a Rebirth the node performs, our own NCMD not echoed
// back on MQTT 5 (no-local), and a QoS 2 Sparkplug message whose PUBREC waits for the emit (redelivered by
// mosquitto after a cut connection). Run with `npm run test:interop`; skipped when mosquitto is not installed.
import { existsSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type EdgeNode, startEdgeNode } from '../../simulators/sparkplug/edge-node.js';
import { MOSQUITTO, type Mosquitto, startMosquitto, startProxy } from './interop-peers.js';
import { MqttAdapter } from './mqtt.js';
import { createTestContext, mqttConfig, pollUntil, TEST_ENV, type TestContext } from './test-harness.js';

const codec = sparkplugPayload.get('spBv1.0');
const HAVE_MOSQUITTO = existsSync(MOSQUITTO);

let broker: Mosquitto;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

beforeAll(async () => {
  if (HAVE_MOSQUITTO) broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.stop();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {});
});

async function startAdapter(
  pv: 4 | 5,
  id: string,
  url = broker.url,
): Promise<{ adapter: MqttAdapter; tc: TestContext }> {
  const tc = createTestContext();
  const adapter = new MqttAdapter(
    mqttConfig({
      url,
      protocol_version: pv,
      client_id: id,
      reconnect: { initial: '50ms', max: '300ms' },
      subscriptions: [
        {
          topic: `spBv1.0/${id}/+/#`,
          payload: 'sparkplug_b',
          qos: 2,
          signal: '{group}.{node}.{device}.{metric}',
          rebirth_interval: '0s',
        },
      ],
    }),
    TEST_ENV,
  );
  cleanups.push(async () => {
    tc.openGate();
    await adapter.stop();
  });
  await adapter.start(tc.ctx);
  return { adapter, tc };
}

/** mosquitto has no subscription hook: publish probe NBIRTHs until one comes through. */
async function waitFlowing(pv: 4 | 5, group: string, tc: TestContext): Promise<MqttClient> {
  const pub = await mqtt.connectAsync(broker.url, { protocolVersion: pv, clean: true });
  pub.on('error', () => {});
  cleanups.push(() => pub.endAsync(true));
  const probe = Buffer.from(
    codec!.encodePayload({ seq: 0, metrics: [{ name: 'probe', type: 'Int32', value: 1 }] }),
  );
  const probes = () => tc.samples().filter((s) => s.signal.endsWith('._.probe')).length;
  const before = probes();
  await pollUntil(async () => {
    await pub.publishAsync(`spBv1.0/${group}/NBIRTH/probe`, probe, { qos: 1 });
    return probes() > before;
  }, 'messages to flow to the adapter');
  return pub;
}

describe.skipIf(!HAVE_MOSQUITTO).each([5, 4] as const)(
  `sparkplug_b source against mosquitto, MQTT protocol level %i${HAVE_MOSQUITTO ? '' : ` (skipped: ${MOSQUITTO} is not installed; apt-get install -y mosquitto)`}`,
  (pv) => {
    it('BIRTH, alias-only DATA, an unknown alias answered by a Rebirth; our own NCMD echoed only without no-local', async () => {
      const group = `sp-birth-${pv}`;
      const { adapter, tc } = await startAdapter(pv, group);
      await waitFlowing(pv, group, tc);
      const n: EdgeNode = startEdgeNode({
        url: broker.url,
        group,
        node: 'press',
        metrics: [{ name: 'Motor/Speed', alias: 1, type: 'Double', value: 10 }],
      });
      cleanups.push(() => n.stop());
      await n.born;
      await pollUntil(() => tc.samples().some((s) => s.value === 10), 'the NBIRTH');
      n.nodeData([{ alias: 1, type: 'Double', value: 11 } as never]);
      await pollUntil(() => tc.samples().some((s) => s.value === 11), 'alias-only DATA');
      n.nodeData([{ alias: 7, type: 'Double', value: 1 } as never]);
      await pollUntil(() => n.rebirthCommands === 1 && n.births === 2, 'the Rebirth');
      const speed = `${group.replace(/-/g, '_')}.press._.motor_speed`;
      await pollUntil(
        () => tc.samples().filter((s) => s.signal === speed).length === 3,
        'the second NBIRTH read',
      );
      const ignored = adapter.health().counters?.sparkplug_ignored ?? 0;
      // MQTT 5 subscribes with no-local: the broker does not send our own Rebirth request back to us.
      if (pv === 5) expect(ignored).toBe(0);
      else
        await pollUntil(
          () => (adapter.health().counters?.sparkplug_ignored ?? 0) >= 1,
          'our own NCMD echoed',
        );
      expect(adapter.health().counters?.rebirths_requested).toBe(1);
    });

    it('QoS 2: the PUBREC waits for the emit; after a cut connection mosquitto redelivers', async () => {
      const group = `sp-q2-${pv}`;
      const proxy = await startProxy(broker.port);
      cleanups.push(() => proxy.stop());
      const { adapter, tc } = await startAdapter(pv, group, proxy.url);
      const pub = await waitFlowing(pv, group, tc);
      const acked = adapter.health().counters?.acked ?? 0;
      tc.closeGate();
      const birth = codec!.encodePayload({ seq: 0, metrics: [{ name: 'v', type: 'Int32', value: 42 }] });
      await pub.publishAsync(`spBv1.0/${group}/NBIRTH/q2`, Buffer.from(birth), { qos: 2 });
      const count = () => tc.samples().filter((s) => s.value === 42).length;
      await pollUntil(() => count() === 1, 'the NBIRTH to reach emit');
      expect(proxy.cut()).toBeGreaterThanOrEqual(1);
      await pollUntil(() => count() === 2, 'mosquitto to redeliver after the reconnect');
      tc.openGate();
      await pollUntil(() => (adapter.health().counters?.acked ?? 0) > acked, 'the PUBREC');
      proxy.cut();
      await pollUntil(() => (adapter.health().counters?.connects ?? 0) >= 3, 'the third connection');
      await waitFlowing(pv, group, tc);
      expect(count()).toBe(2);
    });
  },
);
