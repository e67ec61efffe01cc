// The `mqtt` sink as a Sparkplug B edge node against the embedded aedes broker, watched by a host that decodes
// with its own protobuf reader (test-support.ts, not the sink's encoder): NBIRTH then DBIRTHs with every declared
// signal before any data, aliases that resolve, seq continuous modulo 256, a new DBIRTH for a signal seen first in
// data, the Rebirth NCMD answered, and the NDEATH will carrying the bdSeq of its NBIRTH.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import * as sparkplugPayload from 'sparkplug-payload';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../../../simulators/mqtt/broker.js';
import { type EventRecord, type Reading, readingId } from '../../model/records.js';
import { SparkplugDataType } from '../../model/sparkplug.js';
import type { Batch, BatchEntry, DeclaredSource } from '../kit/types.js';
import { captureLogger, waitUntil } from '../test-support.js';
import { BdSeqStore } from './bdseq.js';
import { mqttSinkSchema, type ResolvedMqttSinkConfig } from './config.js';
import { MqttSink } from './sink.js';
import { sparkplugHost } from './test-support.js';

let broker: RunningBroker;
let hostClient: MqttClient;
let host: ReturnType<typeof sparkplugHost>;
const sinks: MqttSink[] = [];
const dirs: string[] = [];
const CLIENT_ID = 'plantgate-lyon-edge-01-sink-central';

const declared: DeclaredSource[] = [
  {
    id: 'press-1',
    signals: [
      { name: 'lyon.press1.pressure', unit: 'bar' },
      { name: 'lyon.press1.count', value_type: 'integer' },
      { name: 'lyon.press1.running', value_type: 'boolean' },
    ],
  },
  { id: 'oven-2', signals: [{ name: 'lyon.oven2.recipe', value_type: 'string' }] },
];

beforeAll(async () => {
  broker = await startBroker({ port: 0 });
  hostClient = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clean: true });
  hostClient.on('message', (topic, payload) => host.onMessage(topic, payload));
  await hostClient.subscribeAsync('spBv1.0/lyon/#', { qos: 1 });
});
afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await hostClient.endAsync();
  await broker.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function sinkOf(stateDir?: string): MqttSink {
  host = sparkplugHost('lyon', 'edge-01');
  const cfg = mqttSinkSchema.parse({
    id: 'central',
    type: 'mqtt',
    url: broker.url,
    protocol_version: 4,
    format: 'sparkplug_b',
    sparkplug: { group_id: 'lyon', edge_node_id: 'edge-01' },
    reconnect: { initial: '50ms', max: '200ms' },
  }) as ResolvedMqttSinkConfig;
  const sink = new MqttSink(cfg, {
    gatewayId: 'lyon-edge-01',
    site: 'lyon',
    log: captureLogger().log,
    declared: () => declared,
    ...(stateDir !== undefined ? { stateDir } : {}),
  });
  sinks.push(sink);
  return sink;
}

function reading(
  source: string,
  signal: string,
  n: number,
  value: Reading['value'],
  extra: Partial<Reading> = {},
): Reading {
  const ts = new Date(Date.parse('2026-11-27T10:00:00Z') + n * 1000).toISOString();
  return {
    id: readingId('lyon-edge-01', signal, ts, value),
    kind: 'reading',
    signal,
    value,
    ts,
    ingest_ts: ts,
    quality: 'good',
    source: { id: source, type: 'generator', address: signal },
    ...extra,
  };
}

let seq = 1;
function batchOf(records: Array<Reading | EventRecord>): Batch {
  const entries: BatchEntry[] = records.map((record) => ({ record }));
  const first = seq;
  seq += entries.length;
  return {
    batch_id: `lyon-edge-01:central:${first}-${seq - 1}`,
    first_seq: first,
    last_seq: seq - 1,
    entries,
  };
}

const write = async (sink: MqttSink, records: Array<Reading | EventRecord>) =>
  waitUntil(async () => (await sink.write(batchOf(records), new AbortController().signal)).ok);

describe('mqtt sink, format sparkplug_b', () => {
  it('births every declared signal, then sends data by alias with continuous seq across the 255 wrap', async () => {
    const sink = sinkOf();
    await sink.start();
    await waitUntil(() => host.nbirths === 1 && host.dbirths === 2, { diag: () => host });
    // 300 single-record batches: 300 DDATA, so seq wraps past 255.
    for (let n = 0; n < 300; n++) await write(sink, [reading('press-1', 'lyon.press1.pressure', n, n / 4)]);
    await write(sink, [
      reading('press-1', 'lyon.press1.count', 1, 41),
      reading('press-1', 'lyon.press1.count', 2, '9007199254740993', { value_type: 'integer' }),
      reading('press-1', 'lyon.press1.running', 1, true, { quality: 'uncertain' }),
      reading('oven-2', 'lyon.oven2.recipe', 1, 'R-17'),
    ]);
    await waitUntil(() => (host.values.get('oven-2')?.length ?? 0) === 1, { diag: () => host.problems });
    expect(host.problems).toEqual([]);
    expect(host.dbirths).toBe(2); // nothing undeclared arrived: no extra DBIRTH
    // Aliases in a fixed order: sources by id (oven-2 before press-1), signals by name, from 3.
    expect(host.birthMetrics.get('press-1')).toEqual([
      { name: 'lyon.press1.count', alias: 4, datatype: SparkplugDataType.Int64 },
      { name: 'lyon.press1.pressure', alias: 5, datatype: SparkplugDataType.Double, unit: 'bar' },
      { name: 'lyon.press1.running', alias: 6, datatype: SparkplugDataType.Boolean },
    ]);
    expect(host.birthMetrics.get('oven-2')).toEqual([
      { name: 'lyon.oven2.recipe', alias: 3, datatype: SparkplugDataType.String },
    ]);
    const press = host.values.get('press-1') ?? [];
    expect(press.filter((v) => v.metric === 'lyon.press1.pressure').map((v) => v.value)).toEqual(
      Array.from({ length: 300 }, (_, n) => n / 4),
    );
    expect(press.filter((v) => v.metric !== 'lyon.press1.pressure')).toEqual([
      { metric: 'lyon.press1.count', value: 41, ts: Date.parse('2026-11-27T10:00:01Z') },
      { metric: 'lyon.press1.count', value: '9007199254740993', ts: Date.parse('2026-11-27T10:00:02Z') },
      { metric: 'lyon.press1.running', value: true, ts: Date.parse('2026-11-27T10:00:01Z'), quality: 64 },
    ]);
    expect(host.values.get('oven-2')).toEqual([
      { metric: 'lyon.oven2.recipe', value: 'R-17', ts: Date.parse('2026-11-27T10:00:01Z') },
    ]);
  });

  it('announces a signal first seen in data with a new DBIRTH, and sends events as the node Event metric', async () => {
    const sink = sinkOf();
    await sink.start();
    await waitUntil(() => host.dbirths === 2);
    const ev: EventRecord = {
      id: 'e1',
      kind: 'event',
      type: 'machine.downtime',
      ts: '2026-11-27T10:05:00.000Z',
      subject: 'lyon.press1',
      data: { seconds: 30 },
    };
    await write(sink, [
      reading('press-1', 'lyon.press1.new_one', 1, 3.5),
      ev,
      reading('mixer-9', 'lyon.mixer9.speed', 1, 12),
    ]);
    await waitUntil(() => (host.values.get('')?.length ?? 0) === 1 && host.values.has('mixer-9'), {
      diag: () => host,
    });
    expect(host.problems).toEqual([]);
    expect(host.dbirths).toBe(4); // press-1 again (new metric) and mixer-9 (a new device)
    expect(host.values.get('press-1')).toEqual([
      { metric: 'lyon.press1.new_one', value: 3.5, ts: Date.parse('2026-11-27T10:00:01Z') },
    ]);
    expect(host.values.get('')?.[0]).toMatchObject({ metric: 'Event', ts: Date.parse(ev.ts) });
    expect(JSON.parse(host.values.get('')?.[0]?.value as string)).toEqual(ev);
  });

  it('answers a Rebirth NCMD with NBIRTH and every DBIRTH, and data continues on the new seq', async () => {
    const sink = sinkOf();
    await sink.start();
    await waitUntil(() => host.dbirths === 2);
    await write(sink, [reading('press-1', 'lyon.press1.pressure', 1, 1.5)]);
    const codec = sparkplugPayload.get('spBv1.0');
    const cmd = codec?.encodePayload({
      timestamp: Date.now(),
      metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }],
    }) as Uint8Array;
    await hostClient.publishAsync('spBv1.0/lyon/NCMD/edge-01', Buffer.from(cmd), { qos: 1 });
    await waitUntil(() => host.nbirths === 2 && host.dbirths === 4, { diag: () => host });
    await write(sink, [reading('press-1', 'lyon.press1.pressure', 2, 2.5)]);
    await waitUntil(() => (host.values.get('press-1')?.length ?? 0) === 2);
    expect(host.problems).toEqual([]);
    expect(host.births[0]).toBe(host.births[1]); // a rebirth keeps the connection's bdSeq
  });

  it('registers the NDEATH with the bdSeq of its NBIRTH as the will, and the next connection increments it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plantgate-spb-'));
    dirs.push(dir);
    const sink = sinkOf(dir);
    await sink.start();
    await waitUntil(() => host.nbirths === 1);
    // The broker drops the connection without a DISCONNECT: it publishes the will.
    expect(broker.dropClient(CLIENT_ID)).toBe(true);
    await waitUntil(() => host.deaths.length === 1 && host.nbirths === 2, { diag: () => host });
    expect(host.deaths[0]).toBe(host.births[0]);
    expect(host.births[1]).toBe(((host.births[0] as bigint) + 1n) % 256n);
    const stored = JSON.parse(readFileSync(join(dir, 'sink-central.sparkplug.json'), 'utf8')) as {
      bd_seq: number;
    };
    expect(BigInt(stored.bd_seq)).toBe(host.births[1]);
    // A planned stop publishes the NDEATH itself, with the same bdSeq.
    await sink.stop();
    await waitUntil(() => host.deaths.length === 2);
    expect(host.deaths[1]).toBe(host.births[1]);
    expect(host.problems).toEqual([]);
  });
});

describe('BdSeqStore', () => {
  it('continues from the stored value across instances, wrapping at 256', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plantgate-bdseq-'));
    dirs.push(dir);
    const file = join(dir, 'bd.json');
    const a = new BdSeqStore(file);
    const first = await a.next();
    expect(await a.next()).toBe((first + 1) % 256);
    const b = new BdSeqStore(file);
    expect(await b.next()).toBe((first + 2) % 256);
    // Without a file (a sink built outside the daemon) it starts anywhere and still wraps.
    const c = new BdSeqStore();
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) seen.add(await c.next());
    expect(seen.size).toBe(256);
  });
});
