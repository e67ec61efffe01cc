// The NatsSink on its own against a real nats-server (Debian package): a resent batch is a duplicate PubAck that
// counts as delivered while the stream keeps one message; a batch over max_payload is rejected for good; a sink
// whose servers are down fails fast as retryable with the reason, and stop() ends its connection attempts.
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Batch } from '../src/forward/kit/types.js';
import { natsSinkSchema } from '../src/forward/nats/config.js';
import { NatsSink } from '../src/forward/nats/sink.js';
import {
  createStream,
  freePort,
  killAllNatsServers,
  NATS_SERVER_MISSING,
  natsServerBinary,
  readStream,
  startNatsServer,
} from '../src/forward/nats/test-server.js';
import { waitFor } from '../src/kit/testing/wait.js';
import { isoUtc, type Reading, readingId } from '../src/model/records.js';
import { tempDir } from './lib/harness.js';

const HAVE_SERVER = natsServerBinary() !== undefined;
const temps: Array<{ cleanup(): void }> = [];
const sinks: NatsSink[] = [];
const never = new AbortController().signal;

afterEach(async () => {
  for (const s of sinks.splice(0)) await s.stop();
  killAllNatsServers();
});
afterAll(() => {
  for (const t of temps) t.cleanup();
});

function reading(n: number, pad = 0): Reading {
  const ts = isoUtc(Date.parse('2026-12-01T00:00:00Z') + n);
  return {
    id: readingId('gw', 'lab.line1.temp', ts, n),
    kind: 'reading',
    signal: 'lab.line1.temp',
    value: n,
    ts,
    ingest_ts: ts,
    quality: 'good',
    source: { id: 'gen', type: 'generator', address: 'x'.repeat(Math.max(1, pad)) },
  };
}

function batch(first: number, count: number, pad = 0): Batch {
  const entries = Array.from({ length: count }, (_, i) => {
    const record = reading(first + i, pad);
    return { record, json: JSON.stringify(record) };
  });
  return {
    batch_id: `gw:central:${first}-${first + count - 1}`,
    first_seq: first,
    last_seq: first + count - 1,
    entries,
  };
}

function sink(servers: string[], extra: Record<string, unknown> = {}): NatsSink {
  const config = natsSinkSchema.parse({
    ...extra,
    id: 'central',
    type: 'nats',
    servers,
    subject: 'plant.{gateway}',
    timeout: '2s',
    reconnect: { initial: '100ms', max: '500ms' },
  });
  const s = new NatsSink({ config, gatewayId: 'gw', site: 'lab', log: pino({ level: 'silent' }) });
  sinks.push(s);
  return s;
}

describe.skipIf(!HAVE_SERVER)(`NatsSink${HAVE_SERVER ? '' : ` (skipped: ${NATS_SERVER_MISSING})`}`, () => {
  it('a resent batch gets a duplicate PubAck, counts as delivered, and the stream keeps one message', async () => {
    const t = tempDir('plantgate-nats-sink-');
    temps.push(t);
    const srv = await startNatsServer(t.dir);
    await createStream([srv.url], { name: 'PLANT', subjects: ['plant.>'] });
    const s = sink([srv.url]);
    await s.start();
    await waitFor('connected', () => s.stats().connected, { timeoutMs: 10_000 });
    const b = batch(1, 50);
    expect(await s.write(b, never)).toMatchObject({ ok: true });
    expect(await s.write(b, never)).toMatchObject({ ok: true });
    expect(s.stats()).toMatchObject({ published: 2, duplicates: 1 });
    const messages = await readStream([srv.url], 'PLANT');
    expect(messages.map((m) => [m.subject, m.msgId, m.recordsHeader])).toEqual([
      ['plant.gw', b.batch_id, 50],
    ]);
    expect(messages[0]?.recordIds).toEqual(b.entries.map((e) => e.record.id));

    // Over the server's max_payload (1 MiB): no resend can help, so it is permanent (dead letter).
    const big = batch(100, 3, 400 * 1024);
    const out = await s.write(big, never);
    expect(out).toMatchObject({ ok: false, retryable: false });
    expect(!out.ok && out.error).toMatch(/over the server's max_payload of 1048576/);
  });

  it('stream.create makes the missing stream (demos), after which batches are acknowledged', async () => {
    const t = tempDir('plantgate-nats-sink-');
    temps.push(t);
    const srv = await startNatsServer(t.dir);
    const s = sink([srv.url], { stream: { name: 'DEMO', create: true } });
    await s.start();
    // The check runs when the sink connects; until the stream exists a write is a retryable "no stream".
    await waitFor(
      'a write acknowledged by the created stream',
      async () => (await s.write(batch(1, 5), never)).ok,
      {
        timeoutMs: 15_000,
        intervalMs: 100,
      },
    );
    const messages = await readStream([srv.url], 'DEMO');
    expect(messages.map((m) => m.batchId)).toEqual(['gw:central:1-5']);
  });

  it('servers down: writes fail fast as retryable with the reason, and stop() ends the connection attempts', async () => {
    const port = await freePort();
    const s = sink([`nats://127.0.0.1:${port}`]);
    await s.start();
    const out = await s.write(batch(1, 1), never);
    expect(out).toMatchObject({ ok: false, retryable: true });
    expect(!out.ok && out.error).toMatch(
      /^not connected to NATS \(nats:\/\/127\.0\.0\.1:\d+\); reconnecting for \d+ s/,
    );
    await s.stop();
    expect(s.stats().connected).toBe(false);
  });
});
