// Sparkplug B in, end to end: the built daemon subscribes to a Sparkplug group on the embedded broker; the edge
// node is Eclipse Tahu's sparkplug-client (its own MQTT.js v4 stack), run by the test. Covered: DATA from a node
// whose NBIRTH the gateway missed (quarantined, Rebirth NCMD, the node re-births), a seq gap (another Rebirth),
// DATA resolving after each; a malformed protobuf quarantined raw; an edge node killed (its NDEATH will re-sends
// the last values as bad, /status names it offline) and back with a new bdSeq (alive again); UInt64 beyond 2^53
// delivered exact; a NaN float quarantined as not_finite. Every ledger balances.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../simulators/mqtt/broker.js';
import { type EdgeNode, type EdgeNodeOptions, startEdgeNode } from '../simulators/sparkplug/edge-node.js';
import { edgeSuite, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();
let broker: RunningBroker;
const nodes: EdgeNode[] = [];

beforeAll(async () => {
  broker = await startBroker({ port: 0 });
});
afterAll(async () => {
  for (const n of nodes) n.stop();
  await broker?.stop();
});

function edge(opts: Omit<EdgeNodeOptions, 'url' | 'group'>): EdgeNode {
  const n = startEdgeNode({ url: broker.url, group: 'lab', ...opts });
  nodes.push(n);
  return n;
}

/** Resolves once the daemon's MQTT client (plantgate-<gateway>-sparkplug) has subscribed. */
function subscribed(gatewayId: string): Promise<void> {
  return new Promise((resolve) => {
    broker.aedes.on('subscribe', (_subs, client) => {
      if (client?.id === `plantgate-${gatewayId}-sparkplug`) resolve();
    });
  });
}

function config(dir: string, gatewayId: string): string {
  return writeConfig(dir, 'plant.yaml', {
    gateway: { id: gatewayId, site: 'lab', timezone: 'Europe/Paris' },
    storage: { dir: `${dir}/state`, max_bytes: '64MiB', commit_interval: '10ms' },
    health: { listen: '127.0.0.1:0' },
    sources: [
      {
        id: 'sparkplug',
        type: 'mqtt',
        url: broker.url,
        protocol_version: 4,
        reconnect: { initial: '100ms', max: '1s' },
        subscriptions: [
          {
            topic: 'spBv1.0/lab/+/#',
            payload: 'sparkplug_b',
            signal: '{group}.{node}.{device}.{metric}',
            // Every unresolved message asks at once here; the per-node limit is tested at adapter level.
            rebirth_interval: '0s',
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

/** One admin request with the daemon's token (the quarantine listing). */
function admin(stateDir: string, path: string): Promise<string> {
  const token = readFileSync(join(stateDir, 'admin.token'), 'utf8').trim();
  return new Promise((resolve, reject) => {
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
}

type Rec = { signal?: string; value?: unknown; quality?: string; value_type?: string };
const records = () => suite.receiver.records() as Rec[];
const values = (signal: string, quality = 'good') =>
  records()
    .filter((r) => r.signal === signal && r.quality === quality)
    .map((r) => r.value);

describe('Sparkplug B through the daemon', () => {
  it('DATA without BIRTH and a seq gap bring Rebirths the edge node answers; malformed protobuf is quarantined raw', async () => {
    const dir = suite.dir();
    // The node is born before the gateway subscribes: the gateway never sees that NBIRTH.
    const n = edge({ node: 'line1', metrics: [{ name: 'Line Speed', alias: 1, type: 'Double', value: 10 }] });
    await n.born;
    const sub = subscribed('edge-sp-1');
    const d = await startDaemon(config(dir, 'edge-sp-1'));
    await sub;

    const speed = 'lab.line1._.line_speed';
    // NDATA by alias, unknown to the gateway: quarantined, Rebirth; the NBIRTH then brings the value.
    n.setBirthValue('Line Speed', 11);
    n.nodeData([{ alias: 1, type: 'Double', value: 10.5 } as never]);
    await waitFor(
      'the Rebirth after DATA without BIRTH',
      () => n.rebirthCommands >= 1 && values(speed).includes(11),
    );
    n.nodeData([{ alias: 1, type: 'Double', value: 12 } as never]);
    await waitFor('DATA after the rebirth', () => values(speed).includes(12));

    // A seq gap: the DATA resolves (the aliases are known), and the node is asked to re-birth.
    n.setBirthValue('Line Speed', 13);
    n.skipSeq(5);
    n.nodeData([{ alias: 1, type: 'Double', value: 12.5 } as never]);
    await waitFor(
      'the Rebirth after the seq gap',
      () => n.rebirthCommands >= 2 && values(speed).includes(13),
    );
    n.nodeData([{ alias: 1, type: 'Double', value: 14 } as never]);
    await waitFor('DATA after the second rebirth', () => values(speed).includes(14));
    expect(values(speed)).toEqual(expect.arrayContaining([11, 12, 12.5, 13, 14]));
    expect(values(speed)).not.toContain(10.5);

    // A payload that is not a Sparkplug protobuf.
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clean: true });
    await pub.publishAsync('spBv1.0/lab/NDATA/line1', garbage, { qos: 1 });
    await pub.endAsync();

    const st = await waitFor('the quarantine and the delivery', async () => {
      const s = await d.status();
      return s.quarantine.by_reason.unparseable === 1 && s.sinks.central?.ledger.queued === 0 ? s : false;
    });
    expect(st.quarantine.by_reason).toEqual({ missing_field: 1, unparseable: 1 });
    const src = st.sources.sparkplug;
    expect(src?.counters).toMatchObject({
      rebirths_requested: 2,
      sparkplug_seq_gaps: 1,
      sparkplug_births: 2,
    });
    expect(src?.ledger_balanced).toBe(true);
    expect(st.sinks.central?.ledger.balanced).toBe(true);

    const listing = JSON.parse(await admin(`${dir}/state`, '/quarantine?reason=unparseable')) as {
      entries: Array<{ raw: string; reason: string; detail: string }>;
    };
    const e = listing.entries[0];
    expect(e?.detail).toMatch(/not a Sparkplug B protobuf.*\(topic spBv1\.0\/lab\/NDATA\/line1\)/);
    expect(Buffer.from(String(e?.raw).replace(/^base64:/, ''), 'base64')).toEqual(garbage);
    const missing = JSON.parse(await admin(`${dir}/state`, '/quarantine?reason=missing_field')) as {
      entries: Array<{ detail: string }>;
    };
    expect(missing.entries[0]?.detail).toMatch(/NDATA from edge node lab\/line1 before any NBIRTH/);
    expect(await d.stop()).toEqual({ code: 0, signal: null });
  }, 90_000);

  it('an edge node killed (NDEATH will) and back with a new bdSeq: bad-quality readings, /status dead then alive', async () => {
    const dir = suite.dir();
    const sub = subscribed('edge-sp-2');
    const d = await startDaemon(config(dir, 'edge-sp-2'));
    await sub;
    const metrics = [
      { name: 'temp', type: 'Double', value: 20.5 },
      { name: 'big', type: 'UInt64', value: '18446744073709551615' },
      { name: 'broken', type: 'Float', value: Number.NaN },
    ] as EdgeNodeOptions['metrics'];
    const first = edge({
      node: 'oven',
      bdSeq: 1,
      metrics,
      devices: { fan: [{ name: 'rpm', type: 'Int32', value: 900 }] },
    });
    await first.born;
    await waitFor('the births delivered', () =>
      ['lab.oven._.temp', 'lab.oven._.big', 'lab.oven.fan.rpm'].every((s) => values(s).length > 0),
    );
    const big = records().find((r) => r.signal === 'lab.oven._.big');
    expect({ value: big?.value, value_type: big?.value_type }).toEqual({
      value: '18446744073709551615',
      value_type: 'integer',
    });

    first.kill();
    await waitFor('bad-quality readings after the NDEATH', () =>
      ['lab.oven._.temp', 'lab.oven._.big', 'lab.oven.fan.rpm'].every((s) => values(s, 'bad').length === 1),
    );
    expect(values('lab.oven._.temp', 'bad')).toEqual([20.5]);
    expect(values('lab.oven.fan.rpm', 'bad')).toEqual([900]);
    const dead = await waitFor('/status to show the node dead', async () => {
      const s = await d.status();
      return s.sources.sparkplug?.counters?.sparkplug_nodes_dead === 1 ? s : false;
    });
    expect(dead.sources.sparkplug?.detail).toMatch(/Sparkplug edge node offline \(NDEATH\): lab\/oven/);
    expect(dead.status).toBe('degraded');
    expect(dead.reasons.join('\n')).toMatch(/source sparkplug: .*lab\/oven/);

    const second = edge({
      node: 'oven',
      bdSeq: 2,
      metrics: [{ name: 'temp', type: 'Double', value: 21 }],
      devices: { fan: [{ name: 'rpm', type: 'Int32', value: 950 }] },
    });
    await second.born;
    const alive = await waitFor('/status to show the node alive', async () => {
      const s = await d.status();
      const c = s.sources.sparkplug?.counters;
      return c?.sparkplug_nodes_dead === 0 && c.sparkplug_nodes_online === 1 ? s : false;
    });
    expect(alive.sources.sparkplug?.detail).toBeUndefined();
    await waitFor(
      'the new values',
      () => values('lab.oven._.temp').includes(21) && values('lab.oven.fan.rpm').includes(950),
    );

    const st = await waitFor('delivered', async () => {
      const s = await d.status();
      return s.sinks.central?.ledger.queued === 0 ? s : false;
    });
    expect(st.quarantine.by_reason).toEqual({ not_finite: 1 });
    expect(st.sources.sparkplug?.ledger_balanced).toBe(true);
    expect(st.sinks.central?.ledger.balanced).toBe(true);
    expect(await d.stop()).toEqual({ code: 0, signal: null });
  }, 90_000);
});
