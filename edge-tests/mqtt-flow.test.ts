// MQTT end to end with the built daemon: acknowledge-after-persist proven by kill -9 during a steady QoS 1 flow.
// The embedded broker keeps the gateway's persistent session; every message the publisher got a PUBACK for must
// end up at the receiver (as its three readings) or in quarantine, across ten SIGKILLs and restarts.
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../simulators/mqtt/broker.js';
import { startLinePublisher } from '../simulators/mqtt/line-publisher.js';
import { type Receiver, startReceiver } from '../simulators/receiver/receiver.js';
import { killAll, startDaemon, tempDir, waitFor, writeConfig } from './lib/harness.js';

let receiver: Receiver;
let broker: RunningBroker;
const temps: Array<{ cleanup(): void }> = [];

beforeAll(async () => {
  receiver = await startReceiver({ port: 0 });
  broker = await startBroker({ port: 0 });
});
afterAll(async () => {
  killAll();
  await broker.stop();
  await receiver.close();
  for (const t of temps) t.cleanup();
});
afterEach(() => killAll());

function mqttConfig(stateDir: string, brokerUrl: string, sinkUrl: string): Record<string, unknown> {
  return {
    gateway: { id: 'edge-mqtt-01', site: 'lyon', timezone: 'Europe/Paris' },
    storage: { dir: stateDir, max_bytes: '256MiB', commit_interval: '10ms' },
    health: { listen: '127.0.0.1:0' },
    sources: [
      {
        id: 'line-2',
        type: 'mqtt',
        url: brokerUrl,
        protocol_version: 4,
        clean_start: false,
        reconnect: { min: '100ms', max: '1s' },
        subscriptions: [
          {
            topic: 'lyon/line2/+/telemetry',
            qos: 1,
            payload: 'json',
            signal: 'lyon.line2.{topic[2]}.{key}',
            timestamp: { field: 'ts', unit: 'ms' },
          },
        ],
      },
    ],
    sinks: [
      {
        id: 'central',
        type: 'http',
        url: sinkUrl,
        batch: { max_records: 500, max_wait: '50ms' },
        retry: { initial: '100ms', max: '1s' },
      },
    ],
  };
}

describe('MQTT through the daemon', () => {
  it('kill -9 ten times during a steady QoS 1 flow: every acknowledged message arrives, none is missing', async () => {
    const t = tempDir();
    temps.push(t);
    const file = writeConfig(t.dir, 'plant.yaml', mqttConfig(t.dir, broker.url, `${receiver.url}/central`));
    // The first start creates the persistent session, so the broker queues for it while the daemon is dead.
    let p = await startDaemon(file);
    await waitFor('subscribed', async () => (await p.status()).sources['line-2']!.state === 'connected');
    const total = 4000;
    // An independent observer on the broker records what was really published (the expected readings).
    const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clean: true });
    const expected = new Set<string>();
    observer.on('message', (topic, payload) => {
      const machine = topic.split('/')[2];
      const m = JSON.parse(payload.toString()) as Record<string, number>;
      const ts = new Date(m.ts as number).toISOString();
      for (const key of ['speed', 'temp', 'count'])
        expected.add(`lyon.line2.${machine}.${key}|${ts}|${m[key]}`);
    });
    await observer.subscribeAsync('lyon/line2/+/telemetry', { qos: 1 });
    const pub = await startLinePublisher({ url: broker.url, rate: 250, qos: 1, limit: total });
    const killLog: Array<{ at: number; sent: number; received: number }> = [];
    for (let i = 0; i < 10; i++) {
      const target = receiver.stats().records + 30 + Math.floor(Math.random() * 200);
      await waitFor('flow before the kill', () => receiver.stats().records >= target || pub.sent >= total, {
        timeoutMs: 30_000,
      });
      killLog.push({ at: Date.now(), sent: pub.sent, received: receiver.stats().records });
      p.kill('SIGKILL');
      await p.exited;
      p = await startDaemon(file);
    }
    await pub.done;
    const st = await waitFor(
      'everything delivered',
      async () => {
        const s = await p.status();
        return pub.sent >= total &&
          receiver.stats().records >= expected.size &&
          s.sinks.central!.ledger.queued === 0
          ? s
          : false;
      },
      {
        timeoutMs: 60_000,
        detail: async () => {
          const seen = new Set<string>();
          for (const r of receiver.records('/central'))
            if (typeof r.signal === 'string' && r.signal.endsWith('.count'))
              seen.add(`${r.signal}:${r.value}`);
          const missing: number[] = [];
          for (let n = 0; n < total; n++)
            if (![...['press1', 'filler2', 'packer3']].some((m) => seen.has(`lyon.line2.${m}.count:${n}`)))
              missing.push(n);
          return {
            published: pub.sent,
            receiver: receiver.stats().records,
            missing: missing.slice(0, 50),
            kills: killLog,
          };
        },
      },
    );
    await observer.endAsync();
    const got = new Set(receiver.records('/central').map((r) => `${r.signal}|${r.ts}|${r.value}`));
    const lost = [...expected].filter((k) => !got.has(k));
    expect(lost).toEqual([]);
    expect(got.size).toBe(expected.size);
    const counts = new Set<number>();
    for (const r of receiver.records('/central')) {
      if (r.kind === 'reading' && typeof r.signal === 'string' && r.signal.endsWith('.count'))
        counts.add(r.value as number);
    }
    const missing: number[] = [];
    for (let n = 0; n < total; n++) if (!counts.has(n)) missing.push(n);
    expect(missing).toEqual([]);
    // Readings of one signal with the same timestamp and value share their content id: the receiver holds
    // each distinct reading once (the publisher's catch-up bursts produce a few such twins).
    expect(receiver.stats().records).toBe(expected.size);
    expect(st.quarantine.total).toBe(0);
    expect(st.sinks.central!.ledger.balanced).toBe(true);
    await pub.stop();
    await p.stop();
  }, 180_000);
});
