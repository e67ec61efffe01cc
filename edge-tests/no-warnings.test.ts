// The built daemon prints no process warning on stderr during a loaded start (issue 11.13): a backlog built while
// the receiver was down, a QoS 1 burst the broker queued for the gateway's persistent session (good and oversize
// messages, so records and quarantine), three generators, and commits at most every 250 ms so appends pile up.
// The cause of "MaxListenersExceededWarning: 11 abort listeners added to [AbortSignal]" was one abort listener per
// pending journal append on a source's long-lived signal; journal/level-journal.test.ts proves the mechanism (50
// pending appends, one listener). This run is the guard that no warning of any kind reaches journalctl.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../simulators/mqtt/broker.js';
import { telemetryPayload } from '../simulators/mqtt/line-publisher.js';
import { baseConfig, edgeSuite, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();
let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({ port: 0 });
});
afterAll(async () => {
  await broker?.stop();
});

describe('no warnings under load', () => {
  it('a loaded run (generator at a high rate, an MQTT burst with oversize messages) writes no Warning to stderr', async () => {
    const dir = suite.dir();
    const config = baseConfig(dir, `${suite.receiver.url}/central`, {
      // 20 samples every 20 ms per generator, three generators: 3,000 samples a second besides the MQTT burst.
      generator: { interval: '20ms', batch: 20 },
      // Commits at most every 250 ms (a slow disk, or a plant that tunes fsyncs down): appends pile up meanwhile,
      // many per source, each waiting on that source's one long-lived abort signal.
      storage: { commit_interval: '250ms' },
    });
    const gen = (config.sources as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    for (const id of ['gen-2', 'gen-3']) {
      (config.sources as unknown[]).push({
        ...gen,
        id,
        signals: [
          { name: `lab.${id.replace('-', '')}.temperature`, shape: 'sine', min: 20, max: 80, unit: 'Cel' },
        ],
      });
    }
    (config.sources as unknown[]).push({
      id: 'line-2',
      type: 'mqtt',
      url: broker.url,
      protocol_version: 4,
      clean_start: false,
      max_payload: '1KiB',
      subscriptions: [
        {
          topic: 'lyon/line2/+/telemetry',
          qos: 1,
          payload: 'json',
          signal: 'lyon.line2.{topic[2]}.{key}',
          timestamp: { field: 'ts', unit: 'ms' },
        },
      ],
    });
    const file = writeConfig(dir, 'plant.yaml', config);
    // The first run creates the gateway's persistent session and a backlog for the sink (the receiver is down).
    suite.receiver.setFaults({ status: 503, for_ms: 600_000 });
    const first = await startDaemon(file);
    await waitFor(
      'the MQTT source to subscribe',
      async () => (await first.status()).sources['line-2']?.state === 'connected',
    );
    await waitFor(
      'a backlog',
      async () => ((await first.status()).sinks.central?.ledger.queued ?? 0) > 3000,
      {
        timeoutMs: 60_000,
      },
    );
    expect((await first.stop()).code).toBe(0);

    // While the daemon is down the broker queues a burst for its session, delivered all at once at the next start.
    const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clean: true });
    const total = 3000;
    const oversize = 200;
    const sends: Array<Promise<unknown>> = [];
    for (let n = 0; n < total; n++) {
      const machine = ['press1', 'filler2', 'packer3'][n % 3] as string;
      const payload =
        n % (total / oversize) === 0 ? 'x'.repeat(2048) : telemetryPayload(n % 3, n, Date.now());
      sends.push(pub.publishAsync(`lyon/line2/${machine}/telemetry`, payload, { qos: 1 }));
    }
    await Promise.all(sends);
    await pub.endAsync();
    suite.receiver.setFaults({ clear: true });
    // The start under load: the queued burst, the backlog to drain and the generators, all at once.
    const p = await startDaemon(file);

    const st = await waitFor(
      'the burst to be journaled and delivered',
      async () => {
        const s = await p.status();
        const src = s.sources['line-2'];
        // The generators never pause, so the sink's queue is never empty for long: wait for deliveries instead.
        // Each good message holds three readings (speed, temp, count); each oversize one is one quarantine entry.
        // (Readings that repeat an id within the same millisecond are counted as duplicates, not ingested.)
        return src &&
          src.quarantined >= oversize &&
          src.received >= (total - oversize) * 3 + oversize &&
          suite.receiver.stats().records > 10_000
          ? s
          : false;
      },
      { timeoutMs: 120_000, detail: async () => (await p.status()).sources },
    );
    // The run really was loaded and took both paths (records and quarantine).
    expect(st.sources['line-2']?.quarantined).toBeGreaterThanOrEqual(oversize);
    expect(st.sources['gen-1']?.ingested).toBeGreaterThan(0);
    expect(suite.receiver.stats().records).toBeGreaterThan(10_000);

    const exit = await p.stop();
    expect(exit.code).toBe(0);
    const warnings = `${first.stderr()}\n${p.stderr()}`.split('\n').filter((l) => /Warning/.test(l));
    expect(warnings, `${first.stderr()}\n${p.stderr()}`.slice(0, 4000)).toEqual([]);
  }, 180_000);
});
