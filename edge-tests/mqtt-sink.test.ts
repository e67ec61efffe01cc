// The `mqtt` sink end to end with the built daemon and the embedded aedes broker: an independent subscriber (a bare
// MQTT.js client with its own persistent session) must see every record id the journal took, across two kill -9
// of the daemon and a broker restart during the flow; resends after a kill are duplicates (counted, allowed, the
// receiver de-duplicates on the record id) and the sink's ledger on /status balances. Then the configuration
// mistakes check-config reports for an mqtt sink, compared with golden texts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../simulators/mqtt/broker.js';
import { baseConfig, edgeSuite, ROOT, runCli, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();
let broker: RunningBroker;
let subscriber: MqttClient;
/** Messages per record id, as the subscriber got them. */
const seen = new Map<string, number>();
let messages = 0;

beforeAll(async () => {
  broker = await startBroker({ port: 0 });
  // A persistent session (clean: false), so the broker queues for the subscriber while either restarts.
  subscriber = await mqtt.connectAsync(broker.url, {
    protocolVersion: 4,
    clientId: 'independent-subscriber',
    clean: false,
    reconnectPeriod: 100,
  });
  subscriber.on('message', (_topic, payload) => {
    messages += 1;
    const id = (JSON.parse(payload.toString()) as { id: string }).id;
    seen.set(id, (seen.get(id) ?? 0) + 1);
  });
  await subscriber.subscribeAsync('lab/#', { qos: 1 });
});
afterAll(async () => {
  await subscriber?.endAsync(true);
  await broker?.stop();
});

type Ledger = {
  ingested: number;
  delivered: number;
  queued: number;
  dead_lettered: number;
  dropped: Record<string, number>;
};
const balanced = (l: Ledger) =>
  l.ingested ===
  l.delivered + l.queued + l.dead_lettered + Object.values(l.dropped).reduce((a, b) => a + b, 0);

function mqttSinkConfig(dir: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return baseConfig(dir, 'http://unused.invalid', {
    generator: { interval: '50ms', batch: 10, limit: 1500 },
    sinks: [
      {
        id: 'central',
        type: 'mqtt',
        url: broker.url,
        protocol_version: 4,
        reconnect: { initial: '100ms', max: '500ms' },
        batch: { max_records: 100, max_wait: '50ms' },
        retry: { initial: '100ms', max: '1s', probe_interval: '300ms' },
        max_inflight_messages: 50,
      },
    ],
    ...over,
  });
}

describe('mqtt sink through the daemon', () => {
  it('every record id reaches an independent subscriber across two kill -9 and a broker restart; the ledger balances', async () => {
    const d = suite.dir();
    const file = writeConfig(d, 'plant.yaml', mqttSinkConfig(d));
    const p1 = await startDaemon(file);
    await waitFor('records flowing to the subscriber', () => seen.size >= 300, { detail: () => seen.size });
    p1.kill('SIGKILL');
    await p1.exited;

    // The generator starts again (new readings); mid-flow, the broker restarts with its sessions.
    const p2 = await startDaemon(file);
    const before = seen.size;
    await waitFor('more records after the restart', () => seen.size >= before + 300, {
      detail: () => seen.size,
    });
    await broker.restart({ keepSessions: true });
    const afterRestart = seen.size;
    await waitFor('records flowing after the broker restart', () => seen.size >= afterRestart + 300, {
      detail: () => ({ seen: seen.size, sinks: p2.logs().slice(-5) }),
    });
    p2.kill('SIGKILL');
    await p2.exited;

    // A drain run without sources: everything the journal holds must reach the subscriber.
    const drain = writeConfig(d, 'drain.yaml', { ...mqttSinkConfig(d), sources: [] });
    const p3 = await startDaemon(drain);
    const st = await waitFor(
      'the backlog drained',
      async () => {
        const s = await p3.status();
        const l = s.sinks.central!.ledger;
        return l.queued === 0 && l.ingested > 0 ? s : false;
      },
      { timeoutMs: 60_000 },
    );
    const l = st.sinks.central!.ledger;
    expect(balanced(l)).toBe(true);
    expect(l).toMatchObject({ delivered: l.ingested, queued: 0, dead_lettered: 0 });
    // Every record the journal took reached the subscriber (each id is distinct, so the counts say it).
    await waitFor('every record id at the subscriber', () => seen.size === l.ingested, {
      detail: () => ({ seen: seen.size, ingested: l.ingested }),
    });
    const duplicates = messages - seen.size;
    // At most the batches past the cursor at each kill (max_in_flight 2 x 100 records) and the broker restart.
    expect(duplicates).toBeLessThanOrEqual(3 * 2 * 100);
    console.info(
      `mqtt sink: ${l.ingested} records, ${messages} messages, ${duplicates} duplicates after 2 kill -9 and a broker restart`,
    );
    await p3.stop();
  }, 120_000);

  const CASES = join(ROOT, 'src/forward/mqtt/testcases');
  for (const name of readdirSync(CASES).sort()) {
    it(`check-config reports the golden errors of ${name}`, async () => {
      const dir = join(CASES, name);
      const res = await runCli(['check-config', '-c', join(dir, 'plant.yaml'), '--no-secrets']);
      expect(res.code).not.toBe(0);
      const text = `${res.stdout}${res.stderr}`.replaceAll(`${dir}/`, '');
      expect(text.trim()).toBe(readFileSync(join(dir, 'expected.txt'), 'utf8').trim());
    });
  }
});
