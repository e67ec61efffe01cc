// The `mqtt` sink (format json) against the embedded aedes broker, with a bare MQTT.js subscriber as the
// independent receiver: every record of a batch arrives on its topic before write() reports ok; the number of
// messages waiting for a PUBACK stays bounded; a connection lost mid-batch is a retryable failure; a record whose
// topic would hold a wildcard refuses its batch (a dead letter) without publishing anything.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../../../simulators/mqtt/broker.js';
import { Secret } from '../../config/kit/primitives.js';
import type { EventRecord } from '../../model/records.js';
import type { Batch, BatchEntry } from '../kit/types.js';
import { captureLogger, makeReading, waitUntil } from '../test-support.js';
import { mqttSinkSchema, type ResolvedMqttSinkConfig } from './config.js';
import { MqttSink } from './sink.js';

let broker: RunningBroker;
let observer: MqttClient;
const received: Array<{ topic: string; payload: string }> = [];
const sinks: MqttSink[] = [];

beforeAll(async () => {
  broker = await startBroker({ port: 0 });
  observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clean: true });
  observer.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
  await observer.subscribeAsync('#', { qos: 1 });
});
afterEach(async () => {
  broker.aedes.authorizePublish = (_c, _p, cb) => cb(null);
  await Promise.all(sinks.splice(0).map((s) => s.stop()));
  received.length = 0;
});
afterAll(async () => {
  await observer.endAsync();
  await broker.stop();
});

function sinkOf(over: Record<string, unknown> = {}): MqttSink {
  const cfg = mqttSinkSchema.parse({
    id: 'central',
    type: 'mqtt',
    url: broker.url,
    protocol_version: 4,
    reconnect: { initial: '50ms', max: '200ms' },
    ...over,
  }) as ResolvedMqttSinkConfig;
  const sink = new MqttSink(cfg, { gatewayId: 'lyon-edge-01', site: 'lyon', log: captureLogger().log });
  sinks.push(sink);
  return sink;
}

function batchOf(entries: BatchEntry[], first = 1): Batch {
  return {
    batch_id: `lyon-edge-01:central:${first}-${first + entries.length - 1}`,
    first_seq: first,
    last_seq: first + entries.length - 1,
    entries,
  };
}

const event: EventRecord = {
  id: 'e1',
  kind: 'event',
  type: 'production.count',
  ts: '2026-11-27T10:00:00.000Z',
  subject: 'lyon.press1',
  data: { count: 12 },
};

describe('mqtt sink, format json', () => {
  it('publishes one message per record on its topic and reports ok once every PUBACK is in', async () => {
    const sink = sinkOf();
    await sink.start();
    const readings = Array.from({ length: 300 }, (_, i) => makeReading(i));
    const entries: BatchEntry[] = [
      ...readings.map((r, i) => (i % 2 === 0 ? { record: r, json: JSON.stringify(r) } : { record: r })),
      { record: event },
    ];
    const outcome = await sink.write(batchOf(entries), new AbortController().signal);
    expect(outcome).toMatchObject({ ok: true });
    await waitUntil(() => received.length === 301, { diag: () => received.length });
    expect(received.filter((m) => m.topic === 'lyon/lyon/press1/hydraulic_pressure')).toHaveLength(300);
    expect(received.filter((m) => m.topic === 'lyon/events/production.count')).toHaveLength(1);
    const ids = new Set(received.map((m) => (JSON.parse(m.payload) as { id: string }).id));
    expect(ids).toEqual(new Set([...readings.map((r) => r.id), 'e1']));
    expect(JSON.parse(received[0]?.payload as string)).toEqual(readings[0]);
  });

  it('expands the topic templates of readings and events', async () => {
    const sink = sinkOf({
      topic: 'plants/{site}/{gateway}/{source}/{signal}',
      event_topic: '{site}/{sink}/ev/{type}/{subject}',
    });
    await sink.start();
    const r = makeReading(1);
    expect(
      await sink.write(batchOf([{ record: r }, { record: event }]), new AbortController().signal),
    ).toMatchObject({ ok: true });
    await waitUntil(() => received.length === 2);
    expect(received.map((m) => m.topic).sort()).toEqual([
      'lyon/central/ev/production.count/lyon.press1',
      'plants/lyon/lyon-edge-01/press-1/lyon.press1.hydraulic_pressure',
    ]);
  });

  it('keeps at most max_inflight_messages waiting for their PUBACK, whatever the batch size', async () => {
    const held: Array<() => void> = [];
    let maxHeld = 0;
    broker.aedes.authorizePublish = (client, _packet, cb) => {
      if (client?.id !== 'plantgate-lyon-edge-01-sink-central') return cb(null);
      held.push(() => cb(null));
      maxHeld = Math.max(maxHeld, held.length);
    };
    // Released one at a time, so the client always has a full window it could overfill.
    const releaser = setInterval(() => held.shift()?.(), 2);
    try {
      const sink = sinkOf({ max_inflight_messages: 5 });
      await sink.start();
      const entries = Array.from({ length: 200 }, (_, i) => ({ record: makeReading(i) }));
      expect(await sink.write(batchOf(entries), new AbortController().signal)).toMatchObject({ ok: true });
      expect(maxHeld).toBe(5);
    } finally {
      clearInterval(releaser);
    }
  });

  it('fails a batch retryably when the connection drops before every PUBACK arrived, then delivers it again', async () => {
    const held: Array<() => void> = [];
    broker.aedes.authorizePublish = (client, _packet, cb) => {
      if (client?.id === 'plantgate-lyon-edge-01-sink-central') held.push(() => cb(null));
      else cb(null);
    };
    const sink = sinkOf();
    await sink.start();
    const entries = Array.from({ length: 50 }, (_, i) => ({ record: makeReading(i) }));
    const pending = sink.write(batchOf(entries), new AbortController().signal);
    await waitUntil(() => held.length > 0);
    expect(broker.dropClient('plantgate-lyon-edge-01-sink-central')).toBe(true);
    const outcome = await pending;
    expect(outcome).toMatchObject({ ok: false, retryable: true });
    expect(outcome.ok ? '' : outcome.error).toMatch(/connection to the broker was lost/);
    broker.aedes.authorizePublish = (_c, _p, cb) => cb(null);
    // Resent as the forwarder does: until the sink is connected again and every PUBACK came back.
    await waitUntil(async () => (await sink.write(batchOf(entries), new AbortController().signal)).ok);
    await waitUntil(() => new Set(received.map((m) => m.payload)).size === 50);
  });

  it('refuses a batch whose record would publish on a topic with a wildcard, naming it, and sends nothing', async () => {
    const sink = sinkOf();
    await sink.start();
    const bad = makeReading(1, 'lyon.press+1.pressure');
    const outcome = await sink.write(
      batchOf([{ record: makeReading(0) }, { record: bad }]),
      new AbortController().signal,
    );
    expect(outcome).toMatchObject({ ok: false, retryable: false });
    expect(outcome.ok ? '' : outcome.error).toBe(
      `record ${bad.id} cannot be published: topic "lyon/lyon/press+1/pressure": a topic name cannot hold "+" or "#". Change topic/event_topic (or the name), then replay the dead letter.`,
    );
    // A later good batch goes through, and nothing of the refused one was published before it.
    expect(await sink.write(batchOf([{ record: event }], 3), new AbortController().signal)).toMatchObject({
      ok: true,
    });
    await waitUntil(() => received.length === 1);
    expect(received[0]?.topic).toBe('lyon/events/production.count');
  });

  it('reports not connected (retryable) while the broker is unreachable', async () => {
    const sink = sinkOf({ url: 'mqtt://127.0.0.1:1', connect_timeout: '1s' });
    await sink.start();
    const outcome = await sink.write(batchOf([{ record: makeReading(0) }]), new AbortController().signal);
    expect(outcome).toMatchObject({ ok: false, retryable: true });
    expect(outcome.ok ? '' : outcome.error).toMatch(/^not connected to the broker \(.*ECONNREFUSED/);
  });

  it('authenticates with the password the loader resolved, and reports a refused one as not connected', async () => {
    const guarded = await startBroker({ port: 0, auth: { username: 'edge', password: 'right' } });
    try {
      const make = (password: string) => {
        const cfg = mqttSinkSchema.parse({
          id: 'central',
          type: 'mqtt',
          url: guarded.url,
          protocol_version: 4,
          reconnect: { initial: '50ms', max: '200ms' },
          auth: { username: 'edge', password_env: 'CENTRAL_MQTT_PASSWORD' },
        }) as ResolvedMqttSinkConfig;
        cfg.auth = { ...(cfg.auth as NonNullable<typeof cfg.auth>), password: new Secret(password, 'env:X') };
        const sink = new MqttSink(cfg, { gatewayId: 'lyon-edge-01', site: 'lyon', log: captureLogger().log });
        sinks.push(sink);
        return sink;
      };
      const wrong = make('wrong');
      await wrong.start();
      await waitUntil(async () => {
        const o = await wrong.write(batchOf([{ record: makeReading(0) }]), new AbortController().signal);
        return !o.ok && o.retryable && /Bad username or password|Not authorized/.test(o.error);
      });
      await wrong.stop();
      const right = make('right');
      await right.start();
      await waitUntil(
        async () =>
          (await right.write(batchOf([{ record: makeReading(0) }]), new AbortController().signal)).ok,
      );
    } finally {
      await Promise.all(sinks.splice(0).map((s) => s.stop()));
      await guarded.stop();
    }
  });

  it('refuses to start with a password reference the loader did not resolve, naming the key but no value', async () => {
    const sink = sinkOf({ auth: { username: 'edge', password_env: 'CENTRAL_MQTT_PASSWORD' } });
    await expect(sink.start()).rejects.toMatchObject({
      code: 'CONFIG_SECRET_MISSING',
      message:
        'MQTT sink "central": auth.password_env was not resolved; the configuration must come through the config loader.',
    });
  });
});
