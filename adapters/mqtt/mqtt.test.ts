// The MQTT source against the embedded aedes broker: acknowledge-after-persist (proved by redelivery), the
// persistent session, broker restarts, back-pressure through max_in_flight, malformed and fuzzed payloads,
// WebSocket and authentication.
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../../simulators/mqtt/broker.js';
import { startLinePublisher } from '../../simulators/mqtt/line-publisher.js';
import { Secret } from '../../src/config/kit/primitives.js';
import { resolveReferences } from '../../src/config/secrets.js';
import { ConfigError } from '../../src/kit/errors.js';
import { MqttAdapter } from './mqtt.js';
import { createTestContext, mqttConfig, pollUntil, TEST_ENV, type TestContext } from './test-harness.js';

const LINE_SUB = {
  topic: 'lyon/line2/+/telemetry',
  qos: 1,
  signal: 'lyon.line2.{topic[2]}.{key}',
  timestamp: { field: 'ts' },
};

let broker: RunningBroker;
const cleanups: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  broker = await startBroker({ wsPort: 0 });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  await broker.stop();
});

async function publisher(url = broker.url): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 100, clean: true });
  cleanups.push(() => c.endAsync(true));
  return c;
}

function telemetry(n: number): string {
  return JSON.stringify({ ts: 1_700_000_000_000 + n, speed: n, temp: 40 + n, count: n });
}

/** Payloads of messages the broker received PUBACKs for from `clientId`, in order. */
function ackLog(clientId: string): string[] {
  const log: string[] = [];
  broker.aedes.on('ack', (packet, client) => {
    if (client?.id === clientId && packet.cmd === 'publish') log.push(String(packet.payload));
  });
  return log;
}

function subscribed(clientId: string): Promise<void> {
  return new Promise((resolve) => {
    broker.aedes.on('subscribe', (_subs, client) => {
      if (client?.id === clientId) resolve();
    });
  });
}

async function startAdapter(
  overrides: Record<string, unknown> = {},
  tc: TestContext = createTestContext(),
): Promise<{ adapter: MqttAdapter; tc: TestContext }> {
  const cfg = mqttConfig({
    url: broker.url,
    reconnect: { min: '50ms', max: '200ms' },
    subscriptions: [LINE_SUB],
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

/** How many emitted samples came from the payload `p` (each telemetry message gives 3). */
function countMessage(tc: TestContext, p: string): number {
  return tc.samples().filter((s) => s.raw === p).length / 3;
}

describe('mqtt source on the embedded broker', () => {
  it('maps line telemetry to samples, falling back from MQTT 5 to 3.1.1 for a 3.1.1-only broker', async () => {
    const { adapter, tc } = await startAdapter();
    expect(adapter.health().detail).toMatch(/MQTT 3\.1\.1/);
    const pub = await publisher();
    await pub.publishAsync('lyon/line2/press1/telemetry', telemetry(1), { qos: 1 });
    await pub.publishAsync('lyon/line2/filler2/telemetry', telemetry(2), { qos: 0 });
    await pollUntil(() => tc.samples().length === 6, 'six samples');
    expect(tc.samples().map((s) => s.signal)).toEqual([
      'lyon.line2.press1.speed',
      'lyon.line2.press1.temp',
      'lyon.line2.press1.count',
      'lyon.line2.filler2.speed',
      'lyon.line2.filler2.temp',
      'lyon.line2.filler2.count',
    ]);
    expect(tc.samples()[0]).toMatchObject({
      value: 1,
      ts: 1_700_000_000_001,
      ts_unit: 'ms',
      address: 'lyon/line2/press1/telemetry',
    });
    expect(adapter.health()).toMatchObject({
      state: 'connected',
      counters: { messages: 2, samples_emitted: 6 },
    });
  });

  it('withholds the PUBACK until emit resolves: a connection lost meanwhile makes the broker redeliver', async () => {
    const { adapter, tc } = await startAdapter({ protocol_version: 4 });
    const acks = ackLog(adapter.clientId);
    const pub = await publisher();
    tc.closeGate();
    const a = telemetry(100);
    await pub.publishAsync('lyon/line2/press1/telemetry', a, { qos: 1 });
    await pollUntil(() => countMessage(tc, a) === 1, 'the first delivery of A to reach emit');
    expect(acks).toEqual([]);

    // Kill the adapter's connection while A is not yet durable: the broker must send A again.
    expect(broker.dropClient(adapter.clientId)).toBe(true);
    await pollUntil(() => countMessage(tc, a) === 2, 'the broker to redeliver A after the reconnect');
    expect(acks).toEqual([]);

    tc.openGate();
    await pollUntil(() => acks.length === 1, 'the PUBACK of A');
    expect(acks).toEqual([a]);

    // Once acknowledged, a further reconnect does not bring A back.
    broker.dropClient(adapter.clientId);
    await pollUntil(() => adapter.health().counters?.connects === 3, 'the third connection');
    const b = telemetry(101);
    await pub.publishAsync('lyon/line2/press1/telemetry', b, { qos: 1 });
    await pollUntil(() => acks.includes(b), 'B acknowledged');
    expect(countMessage(tc, a)).toBe(2);
    expect(countMessage(tc, b)).toBe(1);
  });

  it('does not acknowledge a message whose emit failed; it comes back after a forced reconnect', async () => {
    const { adapter, tc } = await startAdapter({ protocol_version: 4 });
    const acks = ackLog(adapter.clientId);
    const pub = await publisher();
    tc.failNext(1);
    const a = telemetry(200);
    await pub.publishAsync('lyon/line2/press1/telemetry', a, { qos: 1 });
    await pollUntil(() => acks.length === 1, 'A acknowledged after redelivery');
    expect(acks).toEqual([a]);
    expect(countMessage(tc, a)).toBe(2);
    expect(adapter.health().counters).toMatchObject({ emit_failures: 1, connection_losses: 1 });
  });

  it('stops reading at max_in_flight and acknowledges in arrival order once emits resolve', async () => {
    const { adapter, tc } = await startAdapter({ protocol_version: 4, max_in_flight: 5 });
    const acks = ackLog(adapter.clientId);
    const pub = await publisher();
    tc.closeGate();
    const payloads = Array.from({ length: 30 }, (_, i) => telemetry(300 + i));
    await Promise.all(payloads.map((p) => pub.publishAsync('lyon/line2/packer3/telemetry', p, { qos: 1 })));
    await pollUntil(() => adapter.health().counters?.in_flight === 5, 'five messages in flight');
    expect(adapter.health().counters?.read_pauses).toBeGreaterThanOrEqual(1);
    expect(tc.samples().length).toBe(15);
    expect(acks).toEqual([]);
    tc.openGate();
    await pollUntil(() => acks.length === 30, 'all 30 acknowledged');
    expect(acks).toEqual(payloads);
    expect(tc.samples().length).toBe(90);
  });

  it('stop() waits for in-flight emits and still sends their PUBACKs', async () => {
    const { adapter, tc } = await startAdapter({ protocol_version: 4 });
    const acks = ackLog(adapter.clientId);
    const pub = await publisher();
    tc.closeGate();
    const a = telemetry(400);
    await pub.publishAsync('lyon/line2/press1/telemetry', a, { qos: 1 });
    await pollUntil(() => countMessage(tc, a) === 1, 'A to reach emit');
    let stopped = false;
    const stopping = adapter.stop().then(() => {
      stopped = true;
    });
    await pollUntil(() => adapter.health().counters?.in_flight === 1, 'A still in flight');
    expect(stopped).toBe(false);
    tc.openGate();
    await stopping;
    expect(acks).toEqual([a]);
    expect(adapter.health().state).toBe('stopped');
  });

  it('keeps the session: QoS 1 messages published while the gateway is stopped arrive at the next start', async () => {
    const first = await startAdapter();
    await first.adapter.stop();
    const pub = await publisher();
    const payloads = Array.from({ length: 20 }, (_, i) => telemetry(500 + i));
    for (const p of payloads) await pub.publishAsync('lyon/line2/press1/telemetry', p, { qos: 1 });

    const tc = createTestContext();
    const cfg = mqttConfig({
      url: broker.url,
      reconnect: { min: '50ms', max: '200ms' },
      subscriptions: [LINE_SUB],
    });
    const second = new MqttAdapter(cfg, TEST_ENV);
    expect(second.clientId).toBe(first.adapter.clientId);
    cleanups.push(() => second.stop());
    await second.start(tc.ctx);
    await pollUntil(() => tc.samples().length === 60, 'the 20 queued messages');
    expect(payloads.every((p) => countMessage(tc, p) === 1)).toBe(true);
  });

  it('resubscribes and resumes after a broker restart that lost every session', async () => {
    const { adapter, tc } = await startAdapter();
    const lp = await startLinePublisher({ url: broker.url, rate: 100, qos: 1 });
    cleanups.push(() => lp.stop());
    await pollUntil(() => tc.samples().length >= 30, 'telemetry before the restart');
    await broker.restart();
    const restartedAt = Date.now();
    await pollUntil(
      () => tc.samples().filter((s) => typeof s.ts === 'number' && s.ts > restartedAt).length >= 30,
      'telemetry published after the restart',
    );
    expect(adapter.health()).toMatchObject({ state: 'connected' });
    expect(adapter.health().counters?.connects).toBeGreaterThanOrEqual(2);
  });

  it('resumes after a broker restart that kept the session', async () => {
    const { adapter, tc } = await startAdapter();
    const pub = await publisher();
    await broker.restart({ keepSessions: true });
    await pollUntil(() => adapter.health().counters?.connects === 2, 'the reconnection');
    const a = telemetry(600);
    await pollUntil(async () => {
      if (pub.connected) await pub.publishAsync('lyon/line2/press1/telemetry', a, { qos: 1 });
      return countMessage(tc, a) >= 1;
    }, 'a message published after the restart');
  });

  it('quarantines every malformed message with its reason; each message ends in exactly one emit or reject', async () => {
    const { adapter, tc } = await startAdapter();
    const lp = await startLinePublisher({ url: broker.url, rate: 400, malformedEvery: 4, limit: 80, qos: 1 });
    cleanups.push(() => lp.stop());
    await lp.done;
    await pollUntil(() => tc.rejects.length + tc.samples().length / 3 === 80, 'all 80 messages processed');
    expect(tc.rejects.length).toBe(20);
    expect(new Set(tc.rejects.map((r) => r.reason))).toEqual(
      new Set(['unparseable', 'bad_type', 'missing_field', 'too_large']),
    );
    for (const r of tc.rejects) {
      expect(r.detail).not.toBe('');
      expect(r.raw.length).toBeLessThanOrEqual(1025);
      expect(r.address).toMatch(/^lyon\/line2\/[a-z0-9]+\/telemetry$/);
    }
    expect(adapter.health().counters).toMatchObject({
      messages: 80,
      payloads_quarantined: 20,
      samples_emitted: 180,
    });
  });

  it('survives fuzzed payloads: no crash, every message in exactly one emit or reject with a reason', async () => {
    const { adapter, tc } = await startAdapter({
      protocol_version: 4,
      max_payload: 2000,
      subscriptions: [{ topic: 'fuzz/+/x', signal: 'fuzz.{topic[1]}.{key}', timestamp: { field: 't' } }],
    });
    const payloads = fc.sample(
      fc.oneof(
        fc.json().map((s) => Buffer.from(s)),
        fc
          .record({ t: fc.oneof(fc.nat(), fc.string()), v: fc.jsonValue() })
          .map((o) => Buffer.from(JSON.stringify(o))),
        fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
        fc.string().map((s) => Buffer.from(s)),
      ),
      { numRuns: 150, seed: 42 },
    );
    const pub = await publisher();
    await Promise.all(payloads.map((p, i) => pub.publishAsync(`fuzz/${i}/x`, p, { qos: 1 })));
    const done = () => {
      const emitted = new Set(tc.samples().map((s) => s.address));
      return emitted.size + tc.rejects.length;
    };
    await pollUntil(() => done() === payloads.length, 'every fuzzed message to end in emit or reject');
    // No message in two emit calls, none both emitted and rejected, none rejected twice.
    const seen = new Map<string, number>();
    for (const call of tc.emits)
      for (const a of new Set(call.map((s) => s.address))) seen.set(a, (seen.get(a) ?? 0) + 1);
    for (const r of tc.rejects) seen.set(r.address, (seen.get(r.address) ?? 0) + 1);
    expect(seen.size).toBe(payloads.length);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    for (const r of tc.rejects)
      expect(['unparseable', 'too_large', 'missing_field', 'bad_type']).toContain(r.reason);
    expect(adapter.health().state).toBe('connected');
  });

  // Issue #11 item 11: with reading paused, MQTT.js never saw the PINGRESP (it waits behind the unread messages)
  // and dropped the connection after 1.5 x keepalive, every 45 s at the default 30 s. 18 keepalive periods of
  // paused reading (12 timeouts before the fix); at a 2 s keepalive they take 36 s instead of 90 s at 5 s. The
  // guard's work is counted per period, so the keepalive sets the period, not the behaviour. (It ran 36 periods
  // until CI time got short: the 12 timeouts the old code would hit are as telling as 24.)
  it('stays connected through 18 keepalive periods of paused reading (journal blocked), keepalive 2 s', async () => {
    const KEEPALIVE_S = 2;
    const PERIODS = 18;
    const BLOCK_MS = PERIODS * KEEPALIVE_S * 1000;
    const { adapter, tc } = await startAdapter({
      protocol_version: 4,
      keepalive: `${KEEPALIVE_S}s`,
      max_in_flight: 5,
    });
    const acks = ackLog(adapter.clientId);
    let brokerDrops = 0;
    broker.aedes.on('clientDisconnect', (client) => {
      if (client.id === adapter.clientId) brokerDrops += 1;
    });
    const pub = await publisher();
    tc.closeGate();
    const payloads: string[] = [];
    const publishOne = () => {
      const p = telemetry(10_000 + payloads.length);
      payloads.push(p);
      return pub.publishAsync('lyon/line2/press1/telemetry', p, { qos: 1 });
    };
    for (let i = 0; i < 10; i++) await publishOne();
    await pollUntil(() => adapter.health().counters?.in_flight === 5, 'reading paused at max_in_flight');
    const lost = () => (adapter.health().counters?.connection_losses ?? 0) > 0 || brokerDrops > 0;
    // The broker keeps receiving messages for the gateway while it does not read: 2 per second from a timer,
    // chained so they keep their order; the wait below ends at the deadline or at the first loss (fail fast).
    let publishing: Promise<unknown> = Promise.resolve();
    const publishErrors: unknown[] = [];
    const pacer = setInterval(() => {
      publishing = publishing.then(publishOne).catch((err: unknown) => publishErrors.push(err));
    }, 500);
    const until = Date.now() + BLOCK_MS;
    try {
      await pollUntil(() => lost() || Date.now() >= until, 'the paused stretch to end', BLOCK_MS + 30_000);
    } finally {
      clearInterval(pacer);
      await publishing;
    }
    const c = adapter.health().counters ?? {};
    expect({ losses: c.connection_losses, connects: c.connects, brokerDrops }).toEqual({
      losses: 0,
      connects: 1,
      brokerDrops: 0,
    });
    expect(publishErrors).toEqual([]);
    // The timer kept the broker busy the whole stretch (2 per second; at least 1 per second on a loaded machine).
    expect(payloads.length).toBeGreaterThan(10 + BLOCK_MS / 1000);
    expect(acks).toEqual([]);
    expect(adapter.health().state).toBe('connected');
    // The guard did the work: roughly two paused periods and one PINGREQ per keepalive.
    expect(c.paused_periods).toBeGreaterThanOrEqual(PERIODS);
    expect(c.keepalive_pings).toBeGreaterThanOrEqual(PERIODS / 2);

    // Unblocked: everything held by the broker arrives and is acknowledged in order, nothing twice.
    tc.openGate();
    await pollUntil(() => acks.length === payloads.length, 'every message acknowledged', 60_000);
    expect(acks).toEqual(payloads);
    for (const p of payloads) expect(countMessage(tc, p)).toBe(1);
    expect(adapter.health().counters).toMatchObject({ connection_losses: 0, connects: 1 });
  }, 180_000);

  // The other half of item 11: a long backlog drained through a slow journal. The broker sends the whole backlog
  // at once, so each PINGRESP arrives behind seconds of unread messages; reading pauses again and again.
  it('stays connected while draining a long backlog through a slow journal, keepalive 2 s', async () => {
    const first = await startAdapter({ protocol_version: 4 });
    await first.adapter.stop();
    const pub = await publisher();
    const payloads = Array.from({ length: 4000 }, (_, i) => telemetry(20_000 + i));
    await Promise.all(payloads.map((p) => pub.publishAsync('lyon/line2/press1/telemetry', p, { qos: 1 })));

    const tc = createTestContext();
    // A slow disk: every journal write takes 25 ms, and 5 messages at most are in flight.
    const slow = {
      ...tc.ctx,
      emit: async (s: Parameters<typeof tc.ctx.emit>[0]) => {
        await new Promise((r) => setTimeout(r, 25));
        return tc.ctx.emit(s);
      },
    };
    const second = new MqttAdapter(
      mqttConfig({
        url: broker.url,
        protocol_version: 4,
        keepalive: '2s',
        max_in_flight: 5,
        reconnect: { min: '50ms', max: '200ms' },
        subscriptions: [LINE_SUB],
      }),
      TEST_ENV,
    );
    cleanups.push(() => second.stop());
    const acks = ackLog(second.clientId);
    await second.start(slow);
    await pollUntil(
      () => acks.length === payloads.length || (second.health().counters?.connection_losses ?? 0) > 0,
      'the backlog acknowledged (or a connection loss)',
      120_000,
    );
    const c = second.health().counters ?? {};
    expect({ losses: c.connection_losses, connects: c.connects }).toEqual({ losses: 0, connects: 1 });
    expect(c.read_pauses).toBeGreaterThan(100);
    expect(acks).toEqual(payloads);
  }, 180_000);

  it('connects over WebSocket', async () => {
    const { tc } = await startAdapter({ url: broker.wsUrl, protocol_version: 4 });
    const pub = await publisher();
    await pub.publishAsync('lyon/line2/press1/telemetry', telemetry(700), { qos: 1 });
    await pollUntil(() => tc.samples().length === 3, 'samples over WebSocket');
  });
});

describe('mqtt source authentication', () => {
  it('authenticates with a user name and a password from a Secret or an environment variable', async () => {
    await broker.stop();
    broker = await startBroker({ auth: { username: 'edge', password: 's3cret' } });
    const { adapter } = await startAdapter({
      protocol_version: 4,
      username: 'edge',
      password: new Secret('s3cret', 'test'),
    });
    expect(adapter.health().state).toBe('connected');
    const envInput: Record<string, unknown> = {
      protocol_version: 4,
      client_id: 'env-client',
      username: 'edge',
      password_env: 'PLANTGATE_TEST_MQTT_PW',
    };
    // The config loader resolves password_env (the one place secrets are read); the adapter gets the value.
    const env = { PLANTGATE_TEST_MQTT_PW: 's3cret' };
    expect(await resolveReferences(envInput, { env, baseDir: process.cwd() })).toEqual([]);
    const viaEnv = await startAdapter(envInput);
    expect(viaEnv.adapter.health().state).toBe('connected');
  });

  it('reports a refused connection as down, and a missing secret as a configuration error', async () => {
    await broker.stop();
    broker = await startBroker({ auth: { username: 'edge', password: 's3cret' } });
    const tc = createTestContext();
    const bad = new MqttAdapter(
      mqttConfig({
        url: broker.url,
        protocol_version: 4,
        username: 'edge',
        password: 'wrong',
        subscriptions: [LINE_SUB],
      }),
      TEST_ENV,
    );
    cleanups.push(() => bad.stop());
    await bad.start(tc.ctx);
    await pollUntil(() => bad.health().state === 'down', 'the adapter to report the refusal');
    expect(bad.health().detail).toMatch(/refused/i);

    const missing = new MqttAdapter(
      mqttConfig({
        url: broker.url,
        username: 'edge',
        password_env: 'PLANTGATE_TEST_UNSET_VAR',
        subscriptions: [LINE_SUB],
      }),
      TEST_ENV,
    );
    await expect(missing.start(createTestContext().ctx)).rejects.toBeInstanceOf(ConfigError);
  });
});
