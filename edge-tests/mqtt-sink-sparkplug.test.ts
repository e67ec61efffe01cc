// The `mqtt` sink as a Sparkplug B edge node, end to end with the built daemon and the embedded aedes broker. An
// independent host (a bare MQTT.js client decoding with its own protobuf reader, src/forward/mqtt/test-support.ts)
// checks BIRTH before DATA, that every alias resolves, seq continuity modulo 256 over the whole run, the Rebirth
// NCMD answered, the NDEATH will with the bdSeq of the killed connection after a kill -9, the next connection's
// bdSeq one higher (kept in the storage directory), and every journaled reading in the DDATA.
import mqtt, { type MqttClient } from 'mqtt';
import * as sparkplugPayload from 'sparkplug-payload';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../simulators/mqtt/broker.js';
import { sparkplugHost } from '../src/forward/mqtt/test-support.js';
import { SparkplugDataType } from '../src/model/sparkplug.js';
import { baseConfig, edgeSuite, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();
let broker: RunningBroker;
let hostClient: MqttClient;
const host = sparkplugHost('plant', 'edge-test-01');

beforeAll(async () => {
  broker = await startBroker({ port: 0 });
  hostClient = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clean: true });
  hostClient.on('message', (topic, payload) => host.onMessage(topic, payload));
  await hostClient.subscribeAsync('spBv1.0/plant/#', { qos: 1 });
});
afterAll(async () => {
  await hostClient?.endAsync(true);
  await broker?.stop();
});

function config(dir: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return baseConfig(dir, 'http://unused.invalid', {
    generator: { interval: '50ms', batch: 10, limit: 1000 },
    sinks: [
      {
        id: 'central',
        type: 'mqtt',
        url: broker.url,
        protocol_version: 4,
        format: 'sparkplug_b',
        sparkplug: { group_id: 'plant' },
        reconnect: { initial: '100ms', max: '500ms' },
        batch: { max_records: 100, max_wait: '50ms' },
        retry: { initial: '100ms', max: '1s', probe_interval: '300ms' },
      },
    ],
    ...over,
  });
}

const dataCount = () => host.values.get('gen-1')?.length ?? 0;

describe('mqtt sink, Sparkplug B edge node, through the daemon', () => {
  it('births, data by alias, rebirth on NCMD, NDEATH after kill -9, and every reading delivered', async () => {
    const d = suite.dir();
    const p1 = await startDaemon(writeConfig(d, 'plant.yaml', config(d)));
    await waitFor('NBIRTH, DBIRTH and data', () => host.nbirths === 1 && dataCount() >= 100, {
      detail: () => ({ host, logs: p1.logs().slice(-5) }),
    });
    // The DBIRTH of the generator source holds both declared signals, with their datatypes and distinct aliases.
    const birth = host.birthMetrics.get('gen-1') ?? [];
    expect(birth.map((m) => [m.name, m.datatype]).sort()).toEqual([
      ['lab.line1.count', SparkplugDataType.Int64],
      ['lab.line1.temperature', SparkplugDataType.Double],
    ]);
    expect(new Set(birth.map((m) => m.alias)).size).toBe(2);

    // A host asks for a rebirth.
    const cmd = sparkplugPayload.get('spBv1.0')?.encodePayload({
      timestamp: Date.now(),
      metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }],
    }) as Uint8Array;
    await hostClient.publishAsync('spBv1.0/plant/NCMD/edge-test-01', Buffer.from(cmd), { qos: 1 });
    await waitFor('the rebirth', () => host.nbirths === 2 && host.dbirths === 2, { detail: () => host });
    const afterRebirth = dataCount();
    await waitFor('data after the rebirth', () => dataCount() >= afterRebirth + 50);

    // kill -9: the broker publishes the will, an NDEATH with the bdSeq of the connection that died.
    p1.kill('SIGKILL');
    await p1.exited;
    await waitFor('the NDEATH will', () => host.deaths.length === 1, { detail: () => host });
    expect(host.deaths[0]).toBe(host.births[1]);
    expect(host.births[0]).toBe(host.births[1]); // a rebirth keeps the bdSeq

    // Drained without sources: the generator's device is no longer declared, so its DBIRTH comes from the data.
    const p2 = await startDaemon(writeConfig(d, 'drain.yaml', { ...config(d), sources: [] }));
    const st = await waitFor(
      'the backlog drained',
      async () => {
        const s = await p2.status();
        return s.sinks.central!.ledger.queued === 0 ? s : false;
      },
      { timeoutMs: 60_000 },
    );
    expect(host.births[2]).toBe(((host.births[1] as bigint) + 1n) % 256n);
    const l = st.sinks.central!.ledger;
    expect(l).toMatchObject({ delivered: l.ingested, queued: 0, dead_lettered: 0 });
    // Every journaled reading is in some DDATA: distinct (metric, timestamp) pairs, as readings of a signal differ
    // in time. Resends after the kill repeat some, which a host sees as the same value at the same time.
    const distinct = () => new Set((host.values.get('gen-1') ?? []).map((v) => `${v.metric}@${v.ts}`)).size;
    await waitFor('every reading at the host', () => distinct() === l.ingested, {
      detail: () => ({ distinct: distinct(), ingested: l.ingested }),
    });
    expect(host.problems).toEqual([]);
    console.info(
      `sparkplug: ${l.ingested} readings in ${host.messages} messages, ${dataCount() - distinct()} resent, bdSeq ${host.births.join(',')}`,
    );
    await p2.stop();
    await waitFor('the NDEATH of a planned stop', () => host.deaths.length === 2);
    expect(host.deaths[1]).toBe(host.births[2]);
  }, 120_000);
});
