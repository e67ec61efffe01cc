// The quarantine is bounded on its own (issue 11.10): 400 oversize MQTT messages under a small
// storage.quarantine.max_bytes keep the quarantine's bytes under the bound, the dropped entries are counted on
// /status and /metrics, and /status is degraded (with the reason in words) while the quarantine drops at its bound.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../simulators/mqtt/broker.js';
import { baseConfig, edgeSuite, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();
let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({ port: 0 });
});
afterAll(async () => {
  await broker?.stop();
});

interface KeptDoc {
  total: number;
  held: number;
  bytes: number;
  max_bytes: number;
  dropped: Record<string, number>;
  dropping_since?: string;
}

describe('quarantine bound', () => {
  it('400 oversize MQTT messages under max_bytes 1MiB and quarantine.max_bytes 128KiB: bounded, counted, degraded', async () => {
    const dir = suite.dir();
    const config = baseConfig(dir, `${suite.receiver.url}/central`, {
      storage: { max_bytes: '1MiB', quarantine: { max_bytes: '128KiB' } },
      generator: { interval: '1s', batch: 1 },
    });
    (config.sources as unknown[]).push({
      id: 'line-2',
      type: 'mqtt',
      url: broker.url,
      protocol_version: 4,
      clean_start: false,
      max_payload: '1KiB',
      subscriptions: [
        { topic: 'lyon/line2/+/telemetry', qos: 1, payload: 'json', signal: 'lyon.line2.{topic[2]}.{key}' },
      ],
    });
    const file = writeConfig(dir, 'plant.yaml', config);
    const p = await startDaemon(file);
    await waitFor(
      'the MQTT source to subscribe',
      async () => (await p.status()).sources['line-2']?.state === 'connected',
    );
    const first = await p.status();
    expect((first.quarantine as unknown as KeptDoc).max_bytes).toBe(128 * 1024);

    const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clean: true });
    const total = 400;
    for (let i = 0; i < total; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, k) =>
          pub.publishAsync('lyon/line2/press1/telemetry', `${i + k}:`.padEnd(100_000, 'x'), { qos: 1 }),
        ),
      );
    }
    await pub.endAsync();
    const st = await waitFor(
      'all 400 quarantined or dropped',
      async () => {
        const s = await p.status();
        const q = s.quarantine as unknown as KeptDoc;
        return q.total >= total ? s : false;
      },
      { timeoutMs: 60_000, detail: async () => (await p.status()).quarantine },
    );
    const q = st.quarantine as unknown as KeptDoc;
    expect(q.bytes).toBeLessThanOrEqual(128 * 1024);
    expect(q.held).toBeGreaterThan(0);
    expect(q.dropped.max_bytes).toBe(q.total - q.held);
    expect(q.dropped.max_bytes).toBeGreaterThan(0);
    expect(q.dropping_since).toBeDefined();
    expect(st.status).toBe('degraded');
    expect(st.reasons.join('\n')).toMatch(/quarantine is at its bound/);
    // Records are still counted apart: the journal's own budget is untouched by the quarantine.
    expect(st.journal.bytes).toBeLessThanOrEqual(1024 * 1024);

    const metrics = (await p.get('/metrics')).body;
    const dropped = /plantgate_kept_dropped_total\{store="quarantine",cause="max_bytes"\} (\d+)/.exec(
      metrics,
    );
    expect(Number(dropped?.[1])).toBe(q.dropped.max_bytes);
    expect(metrics).toMatch(/plantgate_kept_dropping\{store="quarantine"\} 1/);
    const bytesLine = /plantgate_kept_bytes\{store="quarantine"\} (\d+)/.exec(metrics);
    expect(Number(bytesLine?.[1])).toBeLessThanOrEqual(128 * 1024);

    // The drop count survives a restart (persisted in the journal).
    expect((await p.stop()).code).toBe(0);
    const again = await startDaemon(file);
    const q2 = (await again.status()).quarantine as unknown as KeptDoc;
    expect(q2.dropped.max_bytes).toBe(q.dropped.max_bytes);
    expect(q2.bytes).toBe(q.bytes);
    await again.stop();
  });
});
