// A fault-free steady flow from every source kind (generator, OPC UA, Modbus, MQTT simulators) through the built
// daemon on the demo's own configuration: every record id reaches the receiver exactly once (issue 11.22: the
// demo's receiver counted duplicate ids with no fault at all). Also checks that sink URLs are masked on /status
// and in the log (11.19).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type ModbusSim, startModbusSim } from '../simulators/modbus/server.js';
import { type RunningBroker, startBroker } from '../simulators/mqtt/broker.js';
import { type LinePublisher, startLinePublisher } from '../simulators/mqtt/line-publisher.js';
import { type OpcuaSim, startOpcuaSim } from '../simulators/opcua/server.js';
import { edgeSuite, ROOT, startDaemon, waitFor, writeConfig } from './lib/harness.js';

// The demo's YAML, edited in place: the shape is checked by the daemon's own config loader.
// biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document
type Loose = Record<string, any>;

const suite = edgeSuite();
let opcua: OpcuaSim;
let modbus: ModbusSim;
let broker: RunningBroker;

beforeAll(async () => {
  const pki = join(suite.dir(), 'opcua-sim-pki');
  mkdirSync(pki, { recursive: true });
  [opcua, modbus, broker] = await Promise.all([
    startOpcuaSim({ port: 0, seed: 7, securityModes: ['None'], pkiDir: pki }),
    startModbusSim({ port: 0, seed: 7 }),
    startBroker({ port: 0 }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([opcua?.stop(), modbus?.stop(), broker?.stop()]);
});

/**
 * A publisher that, like a PLC gateway flushing a buffer, sends two messages in the same millisecond for one
 * machine: the counter moved, the temperature did not. Their temperature readings are the same reading (same
 * signal, timestamp and value, hence the same content id), which is what the demo's line publisher produces
 * whenever a late timer makes it send a burst. A round goes out every 100 ms from a timer (the bursts mix with
 * the line publisher's flow) until all are sent; each round has its own millisecond: `rounds` distinct readings.
 */
async function burstPublisher(url: string, rounds: number): Promise<number> {
  const client = await mqtt.connectAsync(url, { clientId: `burst-${process.pid}`, clean: true });
  let sent = 0;
  let lastTs = 0;
  const round = async (i: number) => {
    const ts = Math.max(Date.now(), lastTs + 1);
    lastTs = ts;
    for (const count of [2 * i, 2 * i + 1]) {
      await client.publishAsync(
        'lyon/line2/burst1/telemetry',
        JSON.stringify({ ts, temp: 50, speed: 12.5, count }),
        { qos: 1 },
      );
      sent += 1;
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let next = 0;
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return; // a slow round skips a tick: rounds never overlap
        busy = true;
        round(next).then(
          () => {
            next += 1;
            busy = false;
            if (next === rounds) {
              clearInterval(timer);
              resolve();
            }
          },
          (err: unknown) => {
            clearInterval(timer);
            reject(err);
          },
        );
      }, 100);
    });
  } finally {
    await client.endAsync();
  }
  return sent;
}

describe('steady flow without faults', () => {
  it('delivers each record id exactly once from generator, OPC UA, Modbus and MQTT sources', async () => {
    const d = suite.dir();
    const cfg = parse(readFileSync(join(ROOT, 'config/demo.yaml'), 'utf8')) as Loose;
    cfg.storage.dir = join(d, 'state');
    cfg.health.listen = '127.0.0.1:0';
    const [press, packer, line] = cfg.sources as Loose[];
    press!.endpoint = opcua.endpoint;
    packer!.tcp = `${modbus.host}:${modbus.port}`;
    line!.url = broker.url;
    cfg.sources.push({
      id: 'gen-1',
      type: 'generator',
      interval: '50ms',
      batch: 10,
      signals: [
        { name: 'lab.line1.temperature', shape: 'sine', min: 20, max: 80, unit: 'Cel' },
        { name: 'lab.line1.count', shape: 'counter', min: 0, max: 1000000, value_type: 'integer' },
      ],
    });
    for (const s of cfg.sinks as Loose[]) {
      // A query parameter holding a key must never show on /status or in the log.
      s.url = `${suite.receiver.url}/${s.id}?api_key=k3y-${s.id}-do-not-show`;
      delete s.auth;
    }
    const daemon = await startDaemon(writeConfig(d, 'plant.yaml', cfg));
    let publisher: LinePublisher | undefined;
    try {
      // The MQTT session exists once the source is connected; publish only then, so nothing is lost before it.
      await waitFor('the MQTT source to connect', async () => {
        const s = await daemon.status();
        return s.sources['line-2']?.state === 'connected';
      });
      publisher = await startLinePublisher({ url: broker.url, rate: 60, malformedEvery: 40, qos: 1 });
      const bursts = await burstPublisher(broker.url, 50);
      expect(bursts).toBe(100);
      await waitFor(
        'records from every source kind at the receiver',
        () => {
          const types = new Set(
            suite.receiver.records('/central').map((r) => (r.source as { type?: string } | undefined)?.type),
          );
          return ['generator', 'opcua', 'modbus', 'mqtt'].every((t) => types.has(t));
        },
        { timeoutMs: 60_000, detail: () => suite.receiver.stats() },
      );
      await publisher.stop();
      publisher = undefined;
      // Stop the inputs, then let the sinks drain: everything journaled must arrive.
      const stopped = await waitFor(
        'both sinks drained',
        async () => {
          const s = await daemon.status();
          const drained = Object.values(s.sinks).every(
            (k) => k.ledger.queued === 0 && k.state === 'connected',
          );
          return drained && s.sinks.erp!.ledger.delivered > 0 ? s : false;
        },
        {
          timeoutMs: 60_000,
          detail: async () => {
            const s = await daemon.status();
            return { status: s.status, reasons: s.reasons, sinks: s.sinks };
          },
        },
      );
      const rs = suite.receiver.stats();
      const dups = suite.receiver.duplicates().slice(0, 5);
      expect(rs.duplicate_records, `record ids that arrived twice: ${JSON.stringify(dups)}`).toBe(0);
      expect(rs.duplicate_batches).toBe(0);
      // Each record the daemon counts as delivered is a distinct id at the receiver.
      const central = stopped.sinks.central!;
      expect(rs.paths['/central']?.records).toBe(central.ledger.delivered);
      expect(new Set(suite.receiver.records('/central').map((r) => r.id)).size).toBe(
        rs.paths['/central']?.records,
      );
      // The burst's repeated temperature reading arrived once.
      const burstTemps = suite.receiver
        .records('/central')
        .filter((r) => r.signal === 'lyon.line2.burst1.temp');
      expect(burstTemps.length).toBe(50);

      // 11.19: sink URLs are shown with their query values masked.
      expect(central).toMatchObject({ url: `${suite.receiver.url}/central?api_key=***` });
      const status = (await daemon.get('/status')).body;
      expect(status).not.toContain('do-not-show');
      expect(daemon.logs().join('\n')).not.toContain('do-not-show');
    } finally {
      await publisher?.stop();
      await daemon.stop();
    }
  }, 180_000);
});
