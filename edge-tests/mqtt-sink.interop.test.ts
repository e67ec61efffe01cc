// The `mqtt` sink against Debian's mosquitto: MQTT 5 over mutual TLS (a throw-away CA, the broker verified), with
// a bare MQTT.js v5 subscriber as the independent receiver. Every record id the journal took arrives across a
// kill -9 of the daemon, and each message carries the record_id and batch_id user properties and its content type.
// (Broker restarts are tested against aedes in mqtt-sink.test.ts: this mosquitto runs without persistence, so a
// restart would also drop the subscriber's own session.)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MOSQUITTO,
  type Mosquitto,
  makeTestPki,
  startMosquitto,
  type TestPki,
} from '../adapters/mqtt/interop-peers.js';
import { mqttSinkSchema, type ResolvedMqttSinkConfig } from '../src/forward/mqtt/config.js';
import { MqttSink } from '../src/forward/mqtt/sink.js';
import { sparkplugHost } from '../src/forward/mqtt/test-support.js';
import { isoUtc, readingId } from '../src/model/records.js';
import { baseConfig, edgeSuite, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const HAVE_MOSQUITTO = existsSync(MOSQUITTO);

describe.skipIf(!HAVE_MOSQUITTO)(
  `mqtt sink against mosquitto${HAVE_MOSQUITTO ? '' : ` (skipped: ${MOSQUITTO} is not installed; apt-get install mosquitto)`}`,
  () => {
    const suite = edgeSuite();
    let pki: TestPki;
    let mosq: Mosquitto;
    let subscriber: MqttClient;
    const seen = new Map<string, number>();
    const problems: string[] = [];
    let messages = 0;

    beforeAll(async () => {
      pki = makeTestPki();
      mosq = await startMosquitto({ tls: pki });
      subscriber = await mqtt.connectAsync(mosq.url, {
        protocolVersion: 5,
        clientId: 'independent-subscriber',
        clean: false,
        properties: { sessionExpiryInterval: 600 },
      });
      subscriber.on('message', (_topic, payload, packet) => {
        messages += 1;
        const id = (JSON.parse(payload.toString()) as { id: string }).id;
        seen.set(id, (seen.get(id) ?? 0) + 1);
        const props = packet.properties;
        const user = props?.userProperties as Record<string, string> | undefined;
        if (user?.record_id !== id) problems.push(`record_id ${user?.record_id} on record ${id}`);
        if (!/^edge-test-01:central:\d+-\d+$/.test(String(user?.batch_id))) {
          problems.push(`batch_id ${user?.batch_id}`);
        }
        if (props?.contentType !== 'application/json') problems.push(`content type ${props?.contentType}`);
      });
      await subscriber.subscribeAsync('lab/#', { qos: 1 });
    });
    afterAll(async () => {
      await subscriber?.endAsync(true);
      await mosq?.stop();
      if (pki) rmSync(pki.dir, { recursive: true, force: true });
    });

    function config(dir: string): Record<string, unknown> {
      return baseConfig(dir, 'http://unused.invalid', {
        generator: { interval: '50ms', batch: 10, limit: 1000 },
        sinks: [
          {
            id: 'central',
            type: 'mqtt',
            url: mosq.tlsUrl,
            protocol_version: 5,
            tls: { ca_file: pki.ca, cert_file: pki.clientCert, key_file: pki.clientKey },
            reconnect: { initial: '100ms', max: '500ms' },
            batch: { max_records: 100, max_wait: '50ms' },
            retry: { initial: '100ms', max: '1s', probe_interval: '300ms' },
          },
        ],
      });
    }

    it('every record id arrives over MQTT 5 and mutual TLS across a kill -9, with its user properties', async () => {
      const d = suite.dir();
      const p1 = await startDaemon(writeConfig(d, 'plant.yaml', config(d)));
      await waitFor('records at the subscriber', () => seen.size >= 300, {
        detail: () => ({ seen: seen.size, logs: p1.logs().slice(-5) }),
      });
      p1.kill('SIGKILL');
      await p1.exited;
      const p2 = await startDaemon(writeConfig(d, 'drain.yaml', { ...config(d), sources: [] }));
      const st = await waitFor(
        'the backlog drained',
        async () => {
          const s = await p2.status();
          return s.sinks.central!.ledger.queued === 0 ? s : false;
        },
        { timeoutMs: 60_000 },
      );
      const l = st.sinks.central!.ledger;
      expect(l).toMatchObject({ delivered: l.ingested, queued: 0, dead_lettered: 0 });
      await waitFor('every record id at the subscriber', () => seen.size === l.ingested, {
        detail: () => ({ seen: seen.size, ingested: l.ingested }),
      });
      expect(problems).toEqual([]);
      console.info(
        `mqtt sink (mosquitto): ${l.ingested} records, ${messages - seen.size} duplicates after a kill -9`,
      );
      await p2.stop();
    }, 120_000);

    it('Sparkplug B over MQTT 5: births before data, seq continuous, and the NDEATH will after a kill -9', async () => {
      const host = sparkplugHost('plant', 'edge-test-01');
      const watcher = await mqtt.connectAsync(mosq.url, { protocolVersion: 5, clean: true });
      watcher.on('message', (topic, payload) => host.onMessage(topic, payload));
      await watcher.subscribeAsync('spBv1.0/plant/#', { qos: 1 });
      try {
        const d = suite.dir();
        const cfg = baseConfig(d, 'http://unused.invalid', {
          generator: { interval: '50ms', batch: 10, limit: 1000 },
          sinks: [
            {
              id: 'central',
              type: 'mqtt',
              url: mosq.url,
              protocol_version: 5,
              format: 'sparkplug_b',
              sparkplug: { group_id: 'plant' },
              reconnect: { initial: '100ms', max: '500ms' },
              batch: { max_records: 100, max_wait: '50ms' },
            },
          ],
        });
        const p1 = await startDaemon(writeConfig(d, 'plant.yaml', cfg));
        await waitFor('births and data', () => (host.values.get('gen-1')?.length ?? 0) >= 100, {
          detail: () => host,
        });
        p1.kill('SIGKILL');
        await p1.exited;
        await waitFor('the NDEATH will', () => host.deaths.length === 1, { detail: () => host });
        expect(host.deaths[0]).toBe(host.births[0]);
        const p2 = await startDaemon(writeConfig(d, 'plant.yaml', cfg));
        await waitFor('the next NBIRTH', () => host.nbirths === 2, { detail: () => host });
        expect(host.births[1]).toBe(((host.births[0] as bigint) + 1n) % 256n);
        expect(host.problems).toEqual([]);
        await p2.stop();
      } finally {
        await watcher.endAsync(true);
      }
    }, 120_000);

    it('a PUBACK refusing a message for good (MQTT 5 "not authorized") is a permanent failure naming the topic', async () => {
      // A second mosquitto whose ACL lets the sink write lab/open/# only.
      const dir = mkdtempSync(join(tmpdir(), 'plantgate-mosq-acl-'));
      const probe = createServer().listen(0, '127.0.0.1');
      await once(probe, 'listening');
      const port = (probe.address() as { port: number }).port;
      await new Promise<void>((r) => probe.close(() => r()));
      writeFileSync(join(dir, 'acl'), 'topic write lab/open/#\n');
      writeFileSync(
        join(dir, 'm.conf'),
        [
          `listener ${port} 127.0.0.1`,
          'allow_anonymous true',
          `acl_file ${join(dir, 'acl')}`,
          'persistence false',
          ...(process.getuid?.() === 0 ? ['user root'] : []),
        ].join('\n') + '\n',
      );
      const proc = spawn(MOSQUITTO, ['-c', join(dir, 'm.conf')], { stdio: 'ignore' });
      const cfg = mqttSinkSchema.parse({
        id: 'central',
        type: 'mqtt',
        url: `mqtt://127.0.0.1:${port}`,
        protocol_version: 5,
        topic: 'lab/{source}/{path}',
        reconnect: { initial: '50ms', max: '200ms' },
      }) as ResolvedMqttSinkConfig;
      const sink = new MqttSink(cfg, {
        gatewayId: 'edge-test-01',
        site: 'lab',
        log: pino({ level: 'silent' }),
      });
      try {
        await sink.start();
        const reading = (source: string) => {
          const ts = isoUtc(Date.parse('2026-11-27T10:00:00Z'));
          return {
            id: readingId('edge-test-01', 'lab.line1.temp', ts, 1),
            kind: 'reading' as const,
            signal: 'lab.line1.temp',
            value: 1,
            ts,
            ingest_ts: ts,
            quality: 'good' as const,
            source: { id: source, type: 'generator', address: 'x' },
          };
        };
        const batch = (source: string) => ({
          batch_id: 'edge-test-01:central:1-1',
          first_seq: 1,
          last_seq: 1,
          entries: [{ record: reading(source) }],
        });
        await waitFor('the sink delivering where the ACL allows', async () => {
          return (await sink.write(batch('open'), new AbortController().signal)).ok;
        });
        const outcome = await sink.write(batch('closed'), new AbortController().signal);
        expect(outcome).toEqual({
          ok: false,
          retryable: false,
          status: 0x87,
          error:
            'the broker refused the message on "lab/closed/lab/line1/temp": Publish error: Not authorized',
        });
      } finally {
        await sink.stop();
        proc.kill('SIGTERM');
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
