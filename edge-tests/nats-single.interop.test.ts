// The nats sink against one real nats-server (Debian package) with JetStream: the built daemon publishes the
// generator's readings into a stream, and a bare nats client reads the stream back to check that it holds every
// ingested record exactly once, in exactly one message per batch id. Faults: no stream at start (a configuration
// problem: retried with an alarm, never dead-lettered), and a server restart during an outage.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  createStream,
  killAllNatsServers,
  NATS_SERVER_MISSING,
  type NatsServerProcess,
  natsServerBinary,
  readStream,
  type StreamMessage,
  startNatsServer,
} from '../src/forward/nats/test-server.js';
import {
  baseConfig,
  killAll,
  type StatusDoc,
  startDaemon,
  tempDir,
  waitFor,
  writeConfig,
} from './lib/harness.js';

const HAVE_SERVER = natsServerBinary() !== undefined;
const SUBJECT = 'plant.edge-test-01.reading';
const temps: Array<{ cleanup(): void }> = [];

afterEach(() => {
  killAll();
  killAllNatsServers();
});
afterAll(() => {
  for (const t of temps) t.cleanup();
});

function dir(): string {
  const t = tempDir('plantgate-nats-');
  temps.push(t);
  return t.dir;
}

/** A generator plant (2 signals, 400 readings/s) with one nats sink. */
function plant(d: string, servers: string[], perSignal: number): Record<string, unknown> {
  return baseConfig(d, 'http://127.0.0.1:9/unused', {
    generator: { interval: '50ms', batch: 20, limit: perSignal },
    sinks: [
      {
        id: 'central',
        type: 'nats',
        servers,
        subject: 'plant.{gateway}.{kind}',
        select: { kinds: ['reading'] },
        stream: { name: 'PLANT' },
        batch: { max_records: 200, max_wait: '100ms' },
        timeout: '2s',
        retry: { initial: '100ms', max: '1s' },
        reconnect: { initial: '100ms', max: '1s' },
      },
    ],
  });
}

/** Exactly one message per batch id, every ingested record once, headers agreeing with the bodies. */
function expectExactlyOnce(messages: StreamMessage[], total: number): void {
  expect(new Set(messages.map((m) => m.batchId)).size).toBe(messages.length);
  for (const m of messages) {
    expect(m.msgId).toBe(m.batchId);
    expect(m.recordsHeader).toBe(m.recordIds.length);
    expect(m.subject).toBe(SUBJECT);
  }
  const ids = messages.flatMap((m) => m.recordIds);
  expect(ids.length).toBe(total);
  expect(new Set(ids).size).toBe(total);
}

async function drained(daemon: { status(): Promise<StatusDoc> }, total: number): Promise<StatusDoc> {
  return waitFor(
    'every record delivered',
    async () => {
      const s = await daemon.status();
      const l = s.sinks.central?.ledger;
      return l && l.ingested === total && l.delivered === total && l.queued === 0 ? s : false;
    },
    { timeoutMs: 45_000, intervalMs: 200 },
  );
}

function expectBalanced(s: StatusDoc, total: number): void {
  expect(s.ledger.pipeline).toMatchObject({
    received: total,
    ingested: total,
    quarantined: 0,
    balanced: true,
  });
  expect(s.sinks.central?.ledger).toMatchObject({
    ingested: total,
    delivered: total,
    queued: 0,
    dead_lettered: 0,
    balanced: true,
  });
  expect(s.dead_letters).toMatchObject({ batches: 0, records: 0 });
}

describe.skipIf(!HAVE_SERVER)(
  `nats sink, one server${HAVE_SERVER ? '' : ` (skipped: ${NATS_SERVER_MISSING})`}`,
  () => {
    it('delivers every reading into the stream once, one message per batch id; the ledger balances', async () => {
      const d = dir();
      const srv = await startNatsServer(d);
      await createStream([srv.url], { name: 'PLANT', subjects: ['plant.>'] });
      const perSignal = 2000;
      const total = perSignal * 2;
      const daemon = await startDaemon(writeConfig(d, 'plant.yaml', plant(d, [srv.url], perSignal)));
      const s = await drained(daemon, total);
      expectBalanced(s, total);
      expect(s.sinks.central).toMatchObject({ type: 'nats', state: 'connected' });
      expect(s.sinks.central?.url).toBe(`${srv.url} subject plant.{gateway}.{kind}`);
      const messages = await readStream([srv.url], 'PLANT');
      expectExactlyOnce(messages, total);
      expect(messages.length).toBeGreaterThanOrEqual(total / 200);
      expect(daemon.logs().some((l) => l.includes('its duplicate window covers the retries'))).toBe(true);
      expect((await daemon.stop()).code).toBe(0);
    }, 90_000);

    it('no stream for the subject: retried with an alarm naming what to create, never dead-lettered; drains once created', async () => {
      const d = dir();
      const srv = await startNatsServer(d);
      const perSignal = 400;
      const total = perSignal * 2;
      const daemon = await startDaemon(writeConfig(d, 'plant.yaml', plant(d, [srv.url], perSignal)));
      const during = await waitFor('the sink to report the missing stream', async () => {
        const s = await daemon.status();
        return /no JetStream stream captures subject "plant\.edge-test-01\.reading": create one/.test(
          String(s.sinks.central?.last_error),
        )
          ? s
          : false;
      });
      expect(['retrying', 'failing']).toContain(during.sinks.central?.state);
      expect(during.sinks.central?.ledger.dead_lettered).toBe(0);
      expect(daemon.logs().some((l) => l.includes('nats stream add PLANT'))).toBe(true);
      await createStream([srv.url], { name: 'PLANT', subjects: ['plant.>'] });
      const s = await drained(daemon, total);
      expectBalanced(s, total);
      expectExactlyOnce(await readStream([srv.url], 'PLANT'), total);
      await daemon.stop();
    }, 90_000);

    it('server restart during an outage: the backlog waits in the journal, shows why, and drains once', async () => {
      const d = dir();
      const srv: NatsServerProcess = await startNatsServer(d);
      await createStream([srv.url], { name: 'PLANT', subjects: ['plant.>'] });
      const perSignal = 2400; // 6 s of generation
      const total = perSignal * 2;
      const daemon = await startDaemon(writeConfig(d, 'plant.yaml', plant(d, [srv.url], perSignal)));
      await waitFor(
        'first delivery',
        async () => ((await daemon.status()).sinks.central?.ledger.delivered ?? 0) > 0,
      );
      await srv.kill();
      const down = await waitFor('the sink to show the outage with a backlog', async () => {
        const s = await daemon.status();
        const c = s.sinks.central;
        return c && c.backlog > 400 && /not connected to NATS/.test(String(c.last_error)) ? s : false;
      });
      expect(['retrying', 'failing']).toContain(down.sinks.central?.state);
      expect(down.reasons.join(' ')).toMatch(/sink central/);
      await srv.start();
      const s = await drained(daemon, total);
      expectBalanced(s, total);
      expectExactlyOnce(await readStream([srv.url], 'PLANT'), total);
      expect((await daemon.stop()).code).toBe(0);
    }, 90_000);
  },
);
