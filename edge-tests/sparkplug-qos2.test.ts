// QoS 2 subscriptions, JSON and Sparkplug B, through the built daemon killed with SIGKILL three times during a
// steady flow. The PUBREC leaves only after the journal synced the message, so the broker redelivers every
// message the dead daemon had not made durable: each published value must end up at the receiver, or (Sparkplug
// DATA that reached a restarted daemon before the node's new NBIRTH) in quarantine with its payload. 0 lost.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import type { UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../simulators/mqtt/broker.js';
import { edgeSuite, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const codec = sparkplugPayload.get('spBv1.0');
const suite = edgeSuite();
let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({ port: 0 });
});
afterAll(async () => {
  await broker?.stop();
});

const BASE_TS = 1_764_237_600_000;
const GATEWAY = 'edge-q2';

function config(dir: string): string {
  return writeConfig(dir, 'plant.yaml', {
    gateway: { id: GATEWAY, site: 'lab', timezone: 'Europe/Paris' },
    storage: { dir: `${dir}/state`, max_bytes: '64MiB', commit_interval: '10ms' },
    health: { listen: '127.0.0.1:0' },
    sources: [
      {
        id: 'q2',
        type: 'mqtt',
        url: broker.url,
        protocol_version: 4,
        clean_start: false,
        reconnect: { initial: '100ms', max: '1s' },
        subscriptions: [
          {
            topic: 'lab/q2/+',
            qos: 2,
            payload: 'json',
            signal: 'lab.q2.{topic[2]}.n',
            value_field: 'n',
            timestamp: { field: 'ts', unit: 'ms' },
          },
          {
            topic: 'spBv1.0/lab/+/#',
            qos: 2,
            payload: 'sparkplug_b',
            signal: '{group}.{node}.{device}.{metric}',
          },
        ],
      },
    ],
    sinks: [
      {
        id: 'central',
        type: 'http',
        url: suite.receiver.url,
        batch: { max_records: 500, max_wait: '50ms' },
        retry: { initial: '100ms', max: '1s' },
      },
    ],
  });
}

/** Quarantine entries of one reason, through the admin socket (every page). */
async function quarantined(stateDir: string, reason: string): Promise<Array<{ raw: string }>> {
  const token = readFileSync(join(stateDir, 'admin.token'), 'utf8').trim();
  const get = (path: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request(
        { socketPath: join(stateDir, 'admin.sock'), path, headers: { authorization: `Bearer ${token}` } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
  const out: Array<{ raw: string }> = [];
  let after: number | undefined;
  do {
    const page = JSON.parse(
      await get(`/quarantine?reason=${reason}&limit=500${after !== undefined ? `&after=${after}` : ''}`),
    ) as { entries: Array<{ raw: string }>; next?: number };
    out.push(...page.entries);
    after = page.next;
  } while (after !== undefined);
  return out;
}

/**
 * A Sparkplug edge node on a bare MQTT.js client publishing with QoS 2 (sparkplug-client publishes QoS 0 only):
 * NBIRTH, then NDATA carrying `n`, a new NBIRTH whenever the host sends a Rebirth.
 */
async function qos2EdgeNode(): Promise<{ publish(n: number): Promise<void>; client: MqttClient }> {
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clean: true });
  let seq = 0;
  let last = -1;
  let rebirth = true;
  client.on('message', () => {
    rebirth = true;
  });
  await client.subscribeAsync('spBv1.0/lab/NCMD/filler', { qos: 0 });
  type UMetric = NonNullable<UPayload['metrics']>[number];
  const metric = (n: number): UMetric => ({ name: 'n', type: 'Int64', value: n, timestamp: BASE_TS + n });
  return {
    client,
    async publish(n: number) {
      if (rebirth) {
        rebirth = false;
        seq = 0;
        const birth = { timestamp: Date.now(), seq: seq++, metrics: last < 0 ? [] : [metric(last)] };
        birth.metrics.push({ name: 'bdSeq', type: 'UInt64', value: 0, timestamp: BASE_TS });
        await client.publishAsync('spBv1.0/lab/NBIRTH/filler', Buffer.from(codec!.encodePayload(birth)), {
          qos: 2,
        });
      }
      const data = { timestamp: Date.now(), seq: seq, metrics: [metric(n)] };
      seq = (seq + 1) % 256;
      last = n;
      await client.publishAsync('spBv1.0/lab/NDATA/filler', Buffer.from(codec!.encodePayload(data)), {
        qos: 2,
      });
    },
  };
}

describe('QoS 2 through the daemon', () => {
  it('kill -9 three times during a steady QoS 2 flow (JSON and Sparkplug): every value arrives, none is lost', async () => {
    const dir = suite.dir();
    const file = config(dir);
    const clientId = `plantgate-${GATEWAY}-q2`;
    const sub = new Promise<void>((resolve) => {
      broker.aedes.on('subscribe', (_s, c) => {
        if (c?.id === clientId) resolve();
      });
    });
    let d = await startDaemon(file);
    await sub;

    const total = 900;
    const json = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clean: true });
    const sp = await qos2EdgeNode();
    let sent = 0;
    let stopped = false;
    // Paced publishers (about 300 messages/s of each kind), independent of the daemon: the broker holds what the
    // dead daemon did not take.
    const flow = (async () => {
      for (let n = 0; n < total && !stopped; n++) {
        await json.publishAsync('lab/q2/m1', JSON.stringify({ ts: BASE_TS + n, n }), { qos: 2 });
        await sp.publish(n);
        sent = n + 1;
        if (n % 10 === 9) await new Promise((r) => setTimeout(r, 30));
      }
    })();
    const jsonValues = () =>
      new Set(
        suite.receiver
          .records()
          .filter((r) => r.signal === 'lab.q2.m1.n')
          .map((r) => r.value as number),
      );
    for (let k = 0; k < 3; k++) {
      const target = jsonValues().size + 60 + Math.floor(Math.random() * 120);
      await waitFor('flow before the kill', () => jsonValues().size >= target || sent >= total, {
        timeoutMs: 30_000,
      });
      d.kill('SIGKILL');
      await d.exited;
      d = await startDaemon(file);
    }
    await flow;
    stopped = true;
    const st = await waitFor(
      'everything journaled and delivered',
      async () => {
        const s = await d.status();
        const c = s.sources.q2?.counters;
        return jsonValues().size === total && c?.in_flight === 0 && s.sinks.central?.ledger.queued === 0
          ? s
          : false;
      },
      {
        timeoutMs: 60_000,
        detail: async () => ({ json: jsonValues().size, status: (await d.status()).sources.q2 }),
      },
    );
    await json.endAsync();
    await sp.client.endAsync();

    const missingJson = Array.from({ length: total }, (_, n) => n).filter((n) => !jsonValues().has(n));
    expect(missingJson).toEqual([]);

    // Sparkplug: each n is a reading at the receiver, or in quarantine (an NDATA the restarted daemon could not
    // name before the node's new NBIRTH), where its payload is kept whole.
    const spValues = new Set(
      suite.receiver
        .records()
        .filter((r) => r.signal === 'lab.filler._.n')
        .map((r) => r.value as number),
    );
    const held = await quarantined(`${dir}/state`, 'missing_field');
    for (const e of held) {
      const p = codec!.decodePayload(Buffer.from(e.raw.replace(/^base64:/, ''), 'base64'));
      for (const m of p.metrics ?? []) if (m.name === 'n') spValues.add(Number(String(m.value)));
    }
    const missingSp = Array.from({ length: total }, (_, n) => n).filter((n) => !spValues.has(n));
    expect(missingSp).toEqual([]);
    expect(st.sinks.central?.ledger.balanced).toBe(true);
    expect(st.sources.q2?.ledger_balanced).toBe(true);
    expect(Object.keys(st.quarantine.by_reason).filter((r) => r !== 'missing_field')).toEqual([]);
    expect(await d.stop()).toEqual({ code: 0, signal: null });
  }, 120_000);
});
