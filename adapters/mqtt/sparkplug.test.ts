// Sparkplug B in, adapter level: an independent edge node (Eclipse Tahu's sparkplug-client, its own MQTT.js v4)
// on the embedded broker. Golden values for every scalar datatype, aliases, is_null, non-scalar metrics, the
// Rebirth after DATA without BIRTH and after a seq gap, NDEATH/DDEATH with bdSeq, malformed protobuf, and QoS 2
// (PUBREC only once the message is durable, proved by redelivery) for JSON and Sparkplug.
import mqtt, { type MqttClient } from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import protoModule from 'sparkplug-payload/lib/sparkplugPayloadProto.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../../simulators/mqtt/broker.js';
import { type EdgeNode, type EdgeNodeOptions, startEdgeNode } from '../../simulators/sparkplug/edge-node.js';
import { MqttAdapter } from './mqtt.js';
import { float32Decimal } from './sparkplug-values.js';
import { createTestContext, mqttConfig, pollUntil, TEST_ENV, type TestContext } from './test-harness.js';

const codec = sparkplugPayload.get('spBv1.0');
const { Payload } = protoModule.org.eclipse.tahu.protobuf;

const SP_SUB = {
  topic: 'spBv1.0/lab/+/#',
  payload: 'sparkplug_b',
  signal: '{group}.{node}.{device}.{metric}',
  rebirth_interval: '50ms',
};

let broker: RunningBroker;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

beforeEach(async () => {
  broker = await startBroker();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {});
  await broker.stop();
});

function subscribed(clientId: string): Promise<void> {
  return new Promise((resolve) => {
    broker.aedes.on('subscribe', (_subs, client) => {
      if (client?.id === clientId) resolve();
    });
  });
}

async function startAdapter(
  overrides: Record<string, unknown> = {},
): Promise<{ adapter: MqttAdapter; tc: TestContext }> {
  const tc = createTestContext();
  const cfg = mqttConfig({
    url: broker.url,
    protocol_version: 4,
    reconnect: { initial: '50ms', max: '200ms' },
    subscriptions: [SP_SUB],
    ...overrides,
  });
  const adapter = new MqttAdapter(cfg, TEST_ENV);
  cleanups.push(async () => {
    tc.openGate();
    await adapter.stop();
  });
  const sub = subscribed(adapter.clientId);
  await adapter.start(tc.ctx);
  await sub;
  return { adapter, tc };
}

function edge(opts: Omit<EdgeNodeOptions, 'url' | 'group'>): EdgeNode {
  const n = startEdgeNode({ url: broker.url, group: 'lab', ...opts });
  cleanups.push(() => n.stop());
  return n;
}

async function publisher(): Promise<MqttClient> {
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clean: true });
  cleanups.push(() => c.endAsync(true));
  return c;
}

/** Latest sample per signal. */
function latest(tc: TestContext): Map<string, Record<string, unknown>> {
  const m = new Map<string, Record<string, unknown>>();
  for (const s of tc.samples()) m.set(s.signal, s as unknown as Record<string, unknown>);
  return m;
}

const TS = 1_764_237_600_123;

/** name, Sparkplug type, value sent, the raw sample value and declared value type plantgate must produce. */
const GOLDEN: Array<[string, string, unknown, unknown, string]> = [
  ['i8 min', 'Int8', -128, -128, 'integer'],
  ['i8 max', 'Int8', 127, 127, 'integer'],
  ['i16 min', 'Int16', -32768, -32768, 'integer'],
  ['i32 min', 'Int32', -2147483648, -2147483648, 'integer'],
  ['i32 max', 'Int32', 2147483647, 2147483647, 'integer'],
  ['i64 small', 'Int64', -42, -42, 'integer'],
  ['i64 below', 'Int64', -(2 ** 53 - 1), -(2 ** 53 - 1), 'integer'],
  ['i64 min', 'Int64', '-9223372036854775808', -(2n ** 63n), 'integer'],
  ['i64 max', 'Int64', '9223372036854775807', 2n ** 63n - 1n, 'integer'],
  ['u8 max', 'UInt8', 255, 255, 'integer'],
  ['u16 max', 'UInt16', 65535, 65535, 'integer'],
  ['u32 max', 'UInt32', 4294967295, 4294967295, 'integer'],
  ['u64 below', 'UInt64', 2 ** 53 - 1, 2 ** 53 - 1, 'integer'],
  ['u64 above', 'UInt64', '9007199254740993', 2n ** 53n + 1n, 'integer'],
  ['u64 max', 'UInt64', '18446744073709551615', 2n ** 64n - 1n, 'integer'],
  ['float', 'Float', 21.1, 21.1, 'number'],
  ['float nan', 'Float', Number.NaN, Number.NaN, 'number'],
  ['float inf', 'Float', Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, 'number'],
  ['float -inf', 'Float', Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, 'number'],
  ['double', 'Double', 0.1, 0.1, 'number'],
  ['double max', 'Double', Number.MAX_VALUE, Number.MAX_VALUE, 'number'],
  ['double nan', 'Double', Number.NaN, Number.NaN, 'number'],
  ['bool true', 'Boolean', true, true, 'boolean'],
  ['bool false', 'Boolean', false, false, 'boolean'],
  ['string empty', 'String', '', '', 'string'],
  ['string', 'String', 'Motor läuft ✓', 'Motor läuft ✓', 'string'],
  ['text', 'Text', 'line 1\nline 2', 'line 1\nline 2', 'string'],
  ['uuid', 'UUID', '123e4567-e89b-12d3-a456-426614174000', '123e4567-e89b-12d3-a456-426614174000', 'string'],
  ['Folder/Date Time', 'DateTime', TS, '2025-11-27T10:00:00.123Z', 'string'],
];

const sanitize = (s: string) => s.toLowerCase().replace(/[^a-z0-9_]/g, '_');

describe('sparkplug_b source with an independent edge node', () => {
  it('maps every scalar datatype to golden values; DataSet, Template and Bytes are quarantined as bad_type', async () => {
    const { tc } = await startAdapter();
    const metrics = GOLDEN.map(([name, type, value]) => ({
      name,
      type,
      value,
    })) as EdgeNodeOptions['metrics'];
    const n = edge({
      node: 'matrix',
      devices: {
        'Dev 1': [
          ...(metrics ?? []),
          {
            name: 'table',
            type: 'DataSet',
            value: { numOfColumns: 1, columns: ['a'], types: ['Int32'], rows: [[1]] },
          } as never,
          {
            name: 'udt',
            type: 'Template',
            value: { metrics: [{ name: 'x', type: 'Int32', value: 1 }], parameters: [], isDefinition: false },
          } as never,
          { name: 'blob', type: 'Bytes', value: new Uint8Array([1, 2, 3]) } as never,
        ],
      },
    });
    await n.born;
    await pollUntil(() => tc.samples().length >= GOLDEN.length && tc.rejects.length >= 3, 'the DBIRTH');
    const got = latest(tc);
    for (const [name, , , want, vt] of GOLDEN) {
      const s = got.get(`lab.matrix.dev_1.${sanitize(name)}`);
      expect({ name, value: s?.value, value_type: s?.value_type }).toEqual({
        name,
        value: want,
        value_type: vt,
      });
    }
    expect(got.get('lab.matrix.dev_1.folder_date_time')?.address).toBe('lab/matrix/Dev 1:Folder/Date Time');
    expect(tc.rejects.map((r) => [r.reason, JSON.parse(r.raw).name])).toEqual([
      ['bad_type', 'table'],
      ['bad_type', 'udt'],
      ['bad_type', 'blob'],
    ]);
    expect(tc.rejects[0]?.detail).toMatch(/DataSet metric is not a scalar value/);
    expect(tc.samples().every((s) => s.ts !== undefined)).toBe(true);
  });

  it('resolves DATA that carries aliases only; metric timestamps win over the payload timestamp', async () => {
    const { tc } = await startAdapter();
    const n = edge({
      node: 'press',
      metrics: [
        { name: 'Motor 1/Speed', alias: 1, type: 'Double', value: 10 },
        { name: 'Motor 1/Running', alias: 2, type: 'Boolean', value: true },
      ],
      devices: { plc: [{ name: 'count', alias: 3, type: 'UInt32', value: 7 }] },
    });
    await n.born;
    await pollUntil(() => tc.samples().length === 3, 'the births');
    n.nodeData(
      [
        { alias: 1, type: 'Double', value: 12.5, timestamp: TS } as never,
        { alias: 2, type: 'Boolean', value: false } as never,
      ],
      { timestamp: TS + 1000 },
    );
    n.deviceData('plc', [{ alias: 3, type: 'UInt32', value: 8 } as never], { timestamp: TS + 2000 });
    await pollUntil(() => tc.samples().length === 6, 'the alias-only DATA');
    expect(
      tc
        .samples()
        .slice(3)
        .map((s) => [s.signal, s.value, s.ts]),
    ).toEqual([
      ['lab.press._.motor_1_speed', 12.5, TS],
      ['lab.press._.motor_1_running', false, TS + 1000],
      ['lab.press.plc.count', 8, TS + 2000],
    ]);
    expect(tc.rejects).toEqual([]);
  });

  it('DATA without a BIRTH, an unknown alias and a seq gap each bring a Rebirth; the reborn node resolves', async () => {
    // No rate limit here: every unresolved message asks (the limit has its own test below).
    const { adapter, tc } = await startAdapter({ subscriptions: [{ ...SP_SUB, rebirth_interval: '0s' }] });
    const pub = await publisher();
    // An NDATA of a node the host never saw born: quarantined whole, and a Rebirth goes to the node.
    const n = edge({ node: 'late', metrics: [{ name: 'temp', alias: 5, type: 'Float', value: 20 }] });
    await n.born;
    await pollUntil(() => tc.samples().length === 1, 'the NBIRTH');
    await pub.publishAsync(
      'spBv1.0/lab/NDATA/ghost',
      Buffer.from(
        codec!.encodePayload({ timestamp: TS, seq: 3, metrics: [{ alias: 5, type: 'Float', value: 1 }] }),
      ),
      { qos: 1 },
    );
    await pollUntil(() => tc.rejects.length === 1, 'the ghost NDATA quarantined');
    expect(tc.rejects[0]).toMatchObject({ reason: 'missing_field', address: 'spBv1.0/lab/NDATA/ghost' });
    expect(tc.rejects[0]?.detail).toMatch(/before any NBIRTH.*Rebirth requested/);
    expect(tc.rejects[0]?.raw).toMatch(/^base64:/);

    // An alias the BIRTH did not announce: quarantined, the node is asked to rebirth and does.
    n.nodeData([
      { alias: 99, type: 'Float', value: 1 } as never,
      { alias: 5, type: 'Float', value: 21.5 } as never,
    ]);
    await pollUntil(() => n.rebirthCommands === 1 && n.births === 2, 'the Rebirth after an unknown alias');
    expect(tc.rejects[1]?.detail).toMatch(
      /metrics not in the BIRTH of lab\/late: alias 99; Rebirth requested/,
    );
    expect(tc.samples().some((s) => s.value === 21.5)).toBe(true);

    // A seq gap: the message still resolves, and the node is asked for a new BIRTH.
    await pollUntil(() => adapter.health().counters?.sparkplug_births === 2, 'the second NBIRTH processed');
    n.skipSeq(3);
    n.nodeData([{ alias: 5, type: 'Float', value: 22.5 } as never]);
    await pollUntil(() => n.rebirthCommands === 2 && n.births === 3, 'the Rebirth after the seq gap');
    n.nodeData([{ alias: 5, type: 'Float', value: 23.5 } as never]);
    await pollUntil(() => tc.samples().some((s) => s.value === 23.5), 'DATA after the rebirth');
    expect(adapter.health().counters).toMatchObject({ sparkplug_seq_gaps: 1, rebirths_requested: 3 });
  });

  it('asks one edge node for a Rebirth at most once per rebirth_interval', async () => {
    const { adapter, tc } = await startAdapter({ subscriptions: [{ ...SP_SUB, rebirth_interval: '1h' }] });
    const pub = await publisher();
    const data = (seq: number) =>
      Buffer.from(codec!.encodePayload({ seq, metrics: [{ name: 'x', type: 'Int32', value: seq }] }));
    const ncmds: string[] = [];
    broker.aedes.on('publish', (packet) => {
      if (packet.topic.includes('/NCMD/')) ncmds.push(packet.topic);
    });
    for (let i = 0; i < 5; i++) await pub.publishAsync('spBv1.0/lab/NDATA/quiet', data(i), { qos: 1 });
    await pollUntil(() => tc.rejects.length === 5, 'five unresolved NDATA quarantined');
    await pollUntil(() => ncmds.length === 1, 'the one NCMD');
    expect(ncmds).toEqual(['spBv1.0/lab/NCMD/quiet']);
    expect(adapter.health().counters).toMatchObject({ rebirths_requested: 1, rebirths_suppressed: 4 });
  });

  it('NDEATH (matching bdSeq) and DDEATH re-send the last values as bad; a stale NDEATH is ignored', async () => {
    const { adapter, tc } = await startAdapter();
    const first = edge({
      node: 'oven',
      bdSeq: 4,
      metrics: [{ name: 'temp', type: 'Double', value: 180 }],
      devices: { fan: [{ name: 'rpm', type: 'Int32', value: 900 }] },
    });
    await first.born;
    await pollUntil(() => tc.samples().length === 2, 'the births');
    first.kill();
    await pollUntil(() => tc.samples().length === 4, 'the NDEATH will');
    expect(
      tc
        .samples()
        .slice(2)
        .map((s) => [s.signal, s.value, s.status]),
    ).toEqual([
      ['lab.oven._.temp', 180, 'bad'],
      ['lab.oven.fan.rpm', 900, 'bad'],
    ]);
    expect(adapter.health().detail).toMatch(/Sparkplug edge node offline \(NDEATH\): lab\/oven/);
    expect(adapter.health().counters).toMatchObject({ sparkplug_nodes_dead: 1, sparkplug_nodes_online: 0 });

    const second = edge({
      node: 'oven',
      bdSeq: 5,
      metrics: [{ name: 'temp', type: 'Double', value: 175 }],
      devices: { fan: [{ name: 'rpm', type: 'Int32', value: 950 }] },
    });
    await second.born;
    await pollUntil(() => adapter.health().counters?.sparkplug_nodes_online === 1, 'the node alive again');
    expect(adapter.health().detail).toBeUndefined();
    // The first session's will, arriving late: bdSeq 4 is not the current session's 5.
    const pub = await publisher();
    const stale = codec!.encodePayload({
      timestamp: TS,
      metrics: [{ name: 'bdSeq', type: 'UInt64', value: 4 }],
    });
    await pub.publishAsync('spBv1.0/lab/NDEATH/oven', Buffer.from(stale), { qos: 1 });
    await pollUntil(
      () => adapter.health().counters?.sparkplug_stale_deaths === 1,
      'the stale NDEATH counted',
    );
    expect(adapter.health().counters?.sparkplug_nodes_online).toBe(1);

    const before = tc.samples().length;
    second.deviceDeath('fan');
    await pollUntil(() => tc.samples().length === before + 1, 'the DDEATH');
    expect(tc.samples().at(-1)).toMatchObject({ signal: 'lab.oven.fan.rpm', value: 950, status: 'bad' });
    // A repeated DDEATH marks nothing and asks for nothing.
    second.deviceDeath('fan');
    await pollUntil(
      () => adapter.health().counters?.sparkplug_stale_deaths === 2,
      'the repeated DDEATH counted',
    );
    expect(tc.samples().length).toBe(before + 1);
    expect(adapter.health().counters?.rebirths_requested).toBe(0);
  });

  it('is_null: the last value with quality bad, nothing when there never was a value', async () => {
    const { adapter, tc } = await startAdapter();
    const n = edge({
      node: 'tank',
      metrics: [
        { name: 'level', type: 'Double', value: 3.5 },
        { name: 'unknown yet', type: 'Double', value: null },
      ],
    });
    await n.born;
    await pollUntil(() => tc.samples().length === 1, 'the NBIRTH');
    n.nodeData([{ name: 'level', type: 'Double', value: null }], { timestamp: TS });
    await pollUntil(() => tc.samples().length === 2, 'the null');
    expect(tc.samples()[1]).toMatchObject({ signal: 'lab.tank._.level', value: 3.5, status: 'bad', ts: TS });
    expect(adapter.health().counters?.sparkplug_null_metrics).toBe(1);
  });

  it('quarantines a malformed protobuf raw (base64) with topic and reason, and reads what other encoders send', async () => {
    const { tc } = await startAdapter();
    const pub = await publisher();
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    await pub.publishAsync('spBv1.0/lab/NBIRTH/broken', garbage, { qos: 1 });
    await pollUntil(() => tc.rejects.length === 1, 'the malformed payload quarantined');
    expect(tc.rejects[0]).toMatchObject({ reason: 'unparseable', address: 'spBv1.0/lab/NBIRTH/broken' });
    expect(Buffer.from((tc.rejects[0]?.raw ?? '').replace(/^base64:/, ''), 'base64')).toEqual(garbage);

    // Sparkplug 3.0 encoders put UInt32 in int_value and may write Int8 as 8-bit two's complement; arrays are
    // not scalars. Encoded with the Tahu protobuf directly (sparkplug-client cannot write these forms).
    const raw = Payload.encode({
      timestamp: TS,
      seq: 0,
      metrics: [
        { name: 'u32', datatype: 7, intValue: 4294967295 },
        { name: 'i8', datatype: 1, intValue: 251 },
        { name: 'i16', datatype: 2, intValue: 4294967295 },
        { name: 'arr', datatype: 22, bytesValue: new Uint8Array([1, 2]) },
        { name: 'bdSeq', datatype: 8, longValue: 0 },
      ],
    }).finish();
    await pub.publishAsync('spBv1.0/lab/NBIRTH/tahu', Buffer.from(raw), { qos: 1 });
    await pollUntil(() => tc.samples().length === 3 && tc.rejects.length === 2, 'the Tahu-encoded NBIRTH');
    expect(tc.samples().map((s) => [s.signal, s.value])).toEqual([
      ['lab.tahu._.u32', 4294967295],
      ['lab.tahu._.i8', -5],
      ['lab.tahu._.i16', -1],
    ]);
    expect(tc.rejects[1]?.detail).toMatch(/Int8Array metric is not a scalar value/);
  });

  it('float32 values read as their shortest decimal', () => {
    expect(float32Decimal(Math.fround(21.1))).toBe(21.1);
    expect(float32Decimal(Math.fround(0.1))).toBe(0.1);
    expect(float32Decimal(Math.fround(16777217))).toBe(16777216);
    expect(float32Decimal(Math.fround(3.4028234663852886e38))).toBe(3.4028235e38);
  });
});

describe('QoS 2 subscriptions', () => {
  for (const kind of ['json', 'sparkplug_b'] as const) {
    it(`${kind}: withholds the PUBREC until emit resolves; a connection lost meanwhile makes the broker redeliver`, async () => {
      const sub =
        kind === 'json'
          ? { topic: 'lab/q2/+', qos: 2, payload: 'json', signal: 'lab.q2.{topic[2]}.{key}' }
          : { ...SP_SUB, qos: 2 };
      const { adapter, tc } = await startAdapter({ subscriptions: [sub] });
      const pub = await publisher();
      const topic = kind === 'json' ? 'lab/q2/m1' : 'spBv1.0/lab/NBIRTH/q2';
      const payload = (v: number) =>
        kind === 'json'
          ? Buffer.from(JSON.stringify({ v }))
          : Buffer.from(
              codec!.encodePayload({
                timestamp: TS,
                seq: 0,
                metrics: [{ name: 'v', type: 'Int32', value: v }],
              }),
            );
      const count = (v: number) => tc.samples().filter((s) => s.value === v).length;
      tc.closeGate();
      await pub.publishAsync(topic, payload(1), { qos: 2 });
      await pollUntil(() => count(1) === 1, 'the first delivery to reach emit');
      expect(adapter.health().counters?.acked).toBe(0);

      // Not durable yet, so no PUBREC: the broker must send the PUBLISH again on the next connection.
      expect(broker.dropClient(adapter.clientId)).toBe(true);
      await pollUntil(() => count(1) === 2, 'the broker to redeliver after the reconnect');
      tc.openGate();
      await pollUntil(() => adapter.health().counters?.acked === 1, 'the PUBREC');

      // Once the PUBREC is out, a reconnect brings at most the PUBREL back, never the message.
      broker.dropClient(adapter.clientId);
      await pollUntil(() => adapter.health().counters?.connects === 3, 'the third connection');
      await pub.publishAsync(topic, payload(2), { qos: 2 });
      await pollUntil(() => count(2) === 1 && adapter.health().counters?.acked === 2, 'the second message');
      expect(count(1)).toBe(2);
      expect(adapter.health().counters?.emit_failures).toBe(0);
    });
  }
});
