// MQTT end to end with the built daemon: acknowledge-after-persist proven by kill -9 during a steady QoS 1 flow.
// The embedded broker keeps the gateway's persistent session; every message the publisher got a PUBACK for must
// end up at the receiver (as its three readings) or in quarantine, across ten SIGKILLs and restarts. Then the
// broker redelivers messages whose records were already synced (PUBACK lost, then a reconnect or a kill -9): the
// journal takes each reading once and /status counts the repeats as duplicates_suppressed.
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

  // Issue #11 item 12. The broker's "lose PUBACKs" mode makes it forget the gateway's PUBACKs, so everything the
  // gateway synced and acknowledged in that window is redelivered on the next connection: exactly what the broker
  // sees when the gateway dies between the journal sync and the PUBACK. The receiver is down meanwhile, so the
  // records are still in the journal when the daemon is killed (its tail is where the ids are recovered from).
  it('a redelivery of synced messages (after a reconnect, and after kill -9) is journaled once and counted', async () => {
    const t = tempDir();
    temps.push(t);
    const down = await startReceiver({ port: 0 });
    down.setFaults({ status: 503 });
    const config = mqttConfig(t.dir, broker.url, `${down.url}/central`);
    (config.gateway as Record<string, unknown>).id = 'edge-mqtt-dedupe';
    const source = (config.sources as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    (source.subscriptions as Array<Record<string, unknown>>)[0]!.topic = 'lyon/line9/+/telemetry';
    const file = writeConfig(t.dir, 'plant.yaml', config);
    const clientId = 'plantgate-edge-mqtt-dedupe-line-2';
    const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clean: true });
    let n = 0;
    const publish = async (count: number) => {
      for (let i = 0; i < count; i++, n++) {
        const m = { ts: 1_764_237_600_000 + n, speed: n, temp: 40 + (n % 7), count: n };
        await pub.publishAsync('lyon/line9/press1/telemetry', JSON.stringify(m), { qos: 1 });
      }
    };
    type Src = {
      counters?: Record<string, number>;
      duplicates_suppressed?: number;
      received: number;
      ingested: number;
    };
    const src = async (d: Awaited<ReturnType<typeof startDaemon>>) =>
      (await d.status()).sources['line-2'] as Src;

    const subscribed = new Promise<void>((resolve) => {
      broker.aedes.on('subscribe', (_subs, client) => {
        if (client?.id === clientId) resolve();
      });
    });
    let p = await startDaemon(file);
    await subscribed;

    // 1. PUBACKs lost, then the connection drops: the same process gets the 50 messages again.
    broker.losePubacks(clientId);
    await publish(50);
    await waitFor(
      '50 messages synced and acknowledged',
      async () => ((await src(p)).counters?.acked ?? 0) >= 50,
    );
    broker.losePubacks(undefined);
    expect(broker.dropClient(clientId)).toBe(true);
    const afterReconnect = await waitFor(
      'the redelivery to be suppressed',
      async () => {
        const s = await src(p);
        // aedes does not set the DUP flag on a redelivery: count messages instead.
        return (s.counters?.messages ?? 0) >= 100 && (s.duplicates_suppressed ?? 0) >= 150 ? s : false;
      },
      { detail: () => src(p) },
    );
    // Each reading journaled once; every repeat counted (received = ingested + duplicates_suppressed).
    expect(afterReconnect.ingested).toBe(150);
    expect(afterReconnect.received).toBe(150 + (afterReconnect.duplicates_suppressed ?? 0));

    // 2. PUBACKs lost, then kill -9: the restarted daemon recovers the ids from the journal's tail.
    broker.losePubacks(clientId);
    await publish(50);
    await waitFor(
      '50 more synced and acknowledged',
      async () => ((await src(p)).counters?.acked ?? 0) >= 150,
    );
    const beforeKill = await p.status();
    expect(beforeKill.sinks.central!.ledger.queued).toBe(300);
    p.kill('SIGKILL');
    await p.exited;
    broker.losePubacks(undefined);
    p = await startDaemon(file);
    const afterRestart = await waitFor(
      'the redelivery after kill -9 to be suppressed',
      async () => {
        const s = await p.status();
        const l = s.sources['line-2'] as Src;
        return (l.counters?.acked ?? 0) >= 50 && (l.duplicates_suppressed ?? 0) >= 150 ? s : false;
      },
      { detail: () => p.status() },
    );
    // The journal took each reading once: 100 messages, 3 readings each, across both redeliveries.
    expect(afterRestart.sinks.central!.ledger.ingested).toBe(300);
    expect(afterRestart.sinks.central!.ledger.queued).toBe(300);
    const suppressed = (afterRestart.sources['line-2'] as Src).duplicates_suppressed;
    expect(afterRestart.ledger.pipeline).toMatchObject({ received: suppressed, ingested: 0, balanced: true });
    const metrics = (await p.get('/metrics')).body;
    expect(metrics).toContain(`plantgate_duplicates_suppressed_total{source="line-2"} ${suppressed}`);

    // The receiver comes back: 300 readings, each id once.
    down.setFaults({ clear: true });
    await waitFor('delivery', async () => (await p.status()).sinks.central!.ledger.queued === 0, {
      timeoutMs: 60_000,
    });
    const st = down.stats();
    expect(st.records).toBe(300);
    expect(st.duplicate_records).toBe(0);
    const ids = down.records('/central').map((r) => r.id);
    expect(new Set(ids).size).toBe(300);
    await pub.endAsync();
    await p.stop();
    await down.close();
  }, 180_000);
});
