// NATS drain benchmark: drains a pre-filled LevelDB journal backlog through Forwarder -> NatsSink into a JetStream
// stream on one local nats-server, and compares it with a bare `nats` client publishing the same batch bodies
// (same headers, Nats-Msg-Id, PubAck awaited, same batch size and concurrency), pre-built and read from the same
// LevelDB store by a bare loop (the target's baseline, as in forward-bench.ts), each into a twin stream so the
// dedupe window of one run never turns the other's messages into duplicates. Skips, saying why, without nats-server.
// Standalone: `npx tsx edge-tests/bench/nats-bench.ts [--quick] [--records N] [--max-records N] [--max-in-flight N]`.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connect, headers, type JetStreamClient } from 'nats';
import { pino } from 'pino';
import { Forwarder } from '../../src/forward/forwarder.js';
import type { Batch } from '../../src/forward/kit/types.js';
import { buildBatchBody, WIRE_SCHEMA } from '../../src/forward/kit/wire.js';
import { natsSinkSchema } from '../../src/forward/nats/config.js';
import { NatsSink, RECORDS_HEADER, SCHEMA_HEADER } from '../../src/forward/nats/sink.js';
import {
  createStream,
  NATS_SERVER_MISSING,
  natsServerBinary,
  startNatsServer,
  withClient,
} from '../../src/forward/nats/test-server.js';
import { sinkSelector } from '../../src/forward/select.js';
import { LevelJournal } from '../../src/journal/level-journal.js';
import { fillJournal, rawDrainLoop, rawFirst } from './forward-bench.js';
import type { BenchResult } from './run.js';

export interface NatsBenchOptions {
  /** Backlog size (default 1,000,000; 100,000 with quick). */
  records?: number;
  quick?: boolean;
  maxRecords?: number;
  maxInFlight?: number;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

const GATEWAY = 'lyon-edge-01';
const SITE = 'lyon';

/**
 * The bare read+publish loop: forward-bench.ts's rawDrainLoop (one classic-level iterator, bodies joined as
 * strings) publishing each body to JetStream and awaiting its PubAck, as the HTTP drain bench's read+POST loop
 * POSTs it. The floor under what any forwarder of this journal does.
 */
async function readPublishBaseline(
  dir: string,
  js: JetStreamClient,
  subject: string,
  maxRecords: number,
  maxInFlight: number,
  timeout: number,
): Promise<{ seconds: number; cpu: NodeJS.CpuUsage; records: number }> {
  return rawDrainLoop(dir, maxRecords, maxInFlight, async (id, body, records) => {
    const h = headers();
    h.set(RECORDS_HEADER, String(records));
    h.set(SCHEMA_HEADER, WIRE_SCHEMA);
    await js.publish(subject, body, { msgID: id, headers: h, timeout });
  });
}

async function streamState(url: string, name: string): Promise<{ messages: number; bytes: number }> {
  return withClient([url], async (nc) => {
    const s = (await (await nc.jetstreamManager()).streams.info(name)).state;
    return { messages: s.messages, bytes: s.bytes };
  });
}

export async function runNatsBench(opts: NatsBenchOptions = {}): Promise<BenchResult[]> {
  const print = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  if (!natsServerBinary()) {
    print(`nats bench skipped: ${NATS_SERVER_MISSING}`);
    return [];
  }
  const n = opts.records ?? (opts.quick ? 100_000 : 1_000_000);
  const maxRecords = opts.maxRecords ?? 1000;
  const maxInFlight = opts.maxInFlight ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'plantgate-nats-bench-'));
  const server = await startNatsServer(join(dir, 'nats'));
  const log = pino({ level: 'warn' });
  const config = natsSinkSchema.parse({
    id: 'central',
    type: 'nats',
    servers: [server.url],
    subject: 'bench.fwd',
    batch: { max_records: maxRecords, max_bytes: '1MiB', max_wait: '100ms' },
    max_in_flight: maxInFlight,
  });
  const journalDir = join(dir, 'journal');
  const journalOptions = {
    dir: journalDir,
    maxBytes: 4 * 1024 ** 3,
    whenFull: 'block',
    commitIntervalMs: 5,
  } as const;
  let journal = new LevelJournal(journalOptions);
  try {
    // Twin streams, same settings: the baseline's batch ids must not be duplicates for the forwarder's run.
    await createStream([server.url], { name: 'BASE', subjects: ['bench.base'] });
    await createStream([server.url], { name: 'RAW', subjects: ['bench.raw'] });
    await createStream([server.url], { name: 'FWD', subjects: ['bench.fwd'] });
    await createStream([server.url], { name: 'SINK', subjects: ['bench.sink'] });
    await journal.open();
    await journal.setSinks([sinkSelector(config)]);
    let t = performance.now();
    await fillJournal(journal, n);
    const filled = journal.stats();
    print(
      `journal filled: ${n} records, ${(filled.bytes / 1e6).toFixed(0)} MB stored in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    // Baseline bodies: the forwarder's cuts, built up front so the baseline measures only publishing.
    const bodies: Array<{ id: string; body: Buffer; records: number }> = [];
    // The first batches also as batches, for the sink on its own (bounded: journal entries hold parsed records).
    const sample: Batch[] = [];
    const sampleRecords = Math.min(n, 100_000);
    let sampled = 0;
    for (let after = 0; ; ) {
      const entries = await journal.read('central', after, maxRecords, config.batch.max_bytes);
      if (entries.length === 0) break;
      const first = entries[0]?.seq as number;
      const last = entries.at(-1)?.seq as number;
      const batch: Batch = {
        batch_id: `${GATEWAY}:central:${first}-${last}`,
        first_seq: first,
        last_seq: last,
        entries,
      };
      if (sampled + entries.length <= sampleRecords) {
        sample.push(batch);
        sampled += entries.length;
      }
      bodies.push({
        id: batch.batch_id,
        body: buildBatchBody(batch, { id: GATEWAY, site: SITE }, new Date().toISOString()),
        records: entries.length,
      });
      after = last;
    }

    // Baseline: a bare client, the same headers and PubAck wait, maxInFlight publishes at a time.
    const nc = await connect({ servers: server.url });
    const js: JetStreamClient = nc.jetstream({ timeout: config.timeout });
    const publish = (b: (typeof bodies)[number]) => {
      const h = headers();
      h.set(RECORDS_HEADER, String(b.records));
      h.set(SCHEMA_HEADER, WIRE_SCHEMA);
      return js.publish('bench.base', b.body, { msgID: b.id, headers: h, timeout: config.timeout });
    };
    for (const b of bodies.slice(0, 5)) await js.publish('bench.warmup', b.body).catch(() => undefined);
    (globalThis as { gc?: () => void }).gc?.();
    let i = 0;
    let cpu = process.cpuUsage();
    t = performance.now();
    await Promise.all(
      Array.from({ length: maxInFlight }, async () => {
        while (i < bodies.length) {
          const ack = await publish(bodies[i++] as (typeof bodies)[number]);
          if (ack.duplicate) throw new Error('baseline: a duplicate PubAck in a fresh stream');
        }
      }),
    );
    const bareS = (performance.now() - t) / 1000;
    const bareCpu = process.cpuUsage(cpu);
    const base = await streamState(server.url, 'BASE');
    if (base.messages !== bodies.length)
      throw new Error(`baseline: the stream holds ${base.messages} messages, expected ${bodies.length}`);
    const batches = bodies.length;
    const sampleBare = sampled;
    bodies.length = 0;
    const bareRate = n / bareS;

    print(
      `bare nats client: ${n} records in ${batches} messages in ${bareS.toFixed(2)} s = ${Math.round(bareRate).toLocaleString('en')} records/s ` +
        `(CPU per record ${((bareCpu.user + bareCpu.system) / n).toFixed(2)} µs)`,
    );

    // The sink on its own over the first batches (it builds each body, as it does in the forwarder): what the
    // sink adds over the bare client, apart from the journal and the forwarder.
    const alone = new NatsSink({
      config: { ...config, subject: 'bench.sink' },
      gatewayId: GATEWAY,
      site: SITE,
      log,
    });
    await alone.start();
    await new Promise<void>((resolve) => {
      const check = () => (alone.stats().connected ? resolve() : setTimeout(check, 5));
      check();
    });
    let k = 0;
    const never = new AbortController().signal;
    t = performance.now();
    await Promise.all(
      Array.from({ length: maxInFlight }, async () => {
        while (k < sample.length) {
          const out = await alone.write(sample[k++] as Batch, never);
          if (!out.ok) throw new Error(`sink alone: ${out.error}`);
        }
      }),
    );
    const aloneS = (performance.now() - t) / 1000;
    await alone.stop();
    const aloneRate = sampleBare / aloneS;
    sample.length = 0;
    print(
      `nats sink alone (first ${sampleBare} records, bodies built per write): ${Math.round(aloneRate).toLocaleString('en')} records/s = ${(aloneRate / bareRate).toFixed(2)} of the bare client`,
    );

    // Baseline 2, the target's: the bare read+publish loop over the same LevelDB store (the journal closed meanwhile,
    // it holds the lock), its layout checked against journal.read() first, as forward-bench.ts does.
    const viaJournal = (await journal.read('central', 0, 1000, Number.MAX_SAFE_INTEGER)).map((e) => e.json);
    await journal.close();
    const viaRaw = await rawFirst(journalDir, viaJournal.length);
    if (viaRaw.length !== viaJournal.length || viaRaw.some((j, k) => j !== viaJournal[k]))
      throw new Error(
        'the bare read loop does not see the stored JSON journal.read() returns: layout changed?',
      );
    (globalThis as { gc?: () => void }).gc?.();
    const raw = await readPublishBaseline(
      journalDir,
      js,
      'bench.raw',
      maxRecords,
      maxInFlight,
      config.timeout,
    );
    await nc.close();
    const rawState = await streamState(server.url, 'RAW');
    if (raw.records !== n || rawState.messages !== batches)
      throw new Error(
        `read+publish baseline: sent ${raw.records} records, the stream holds ${rawState.messages} messages, expected ${batches}`,
      );
    const rawRate = n / raw.seconds;
    print(
      `bare read+publish: ${n} records in ${raw.seconds.toFixed(2)} s = ${Math.round(rawRate).toLocaleString('en')} records/s ` +
        `(CPU per record incl. LevelDB ${((raw.cpu.user + raw.cpu.system) / n).toFixed(2)} µs)`,
    );
    journal = new LevelJournal(journalOptions);
    await journal.open();
    await journal.setSinks([sinkSelector(config)]);

    // The forwarder drains the same backlog from the journal through the sink.
    (globalThis as { gc?: () => void }).gc?.();
    const sink = new NatsSink({ config, gatewayId: GATEWAY, site: SITE, log });
    const forwarder = new Forwarder({
      journal,
      sink,
      gatewayId: GATEWAY,
      site: SITE,
      sinkConfig: config,
      log,
    });
    await sink.start();
    await new Promise<void>((resolve) => {
      const check = () => (sink.stats().connected ? resolve() : setTimeout(check, 5));
      check();
    });
    const lastSeq = filled.last_seq;
    cpu = process.cpuUsage();
    t = performance.now();
    await forwarder.start();
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        const h = forwarder.health();
        if (journal.cursor('central') >= lastSeq) return resolve();
        if (h.dead_lettered_batches > 0 || h.state === 'failing')
          return reject(new Error(`forwarder: ${h.detail}`));
        setTimeout(check, 5);
      };
      check();
    });
    const fwdS = (performance.now() - t) / 1000;
    const fwdCpu = process.cpuUsage(cpu);
    const health = forwarder.health();
    await forwarder.stop(5000);
    const fwd = await streamState(server.url, 'FWD');
    if (fwd.messages !== batches || sink.stats().duplicates !== 0) {
      throw new Error(
        `forwarder: the stream holds ${fwd.messages} messages (${sink.stats().duplicates} duplicate PubAcks), expected ${batches}`,
      );
    }
    const fwdRate = n / fwdS;
    print(
      `forwarder -> nats sink: ${n} records in ${fwdS.toFixed(2)} s = ${Math.round(fwdRate).toLocaleString('en')} records/s ` +
        `(CPU per record incl. journal ${((fwdCpu.user + fwdCpu.system) / n).toFixed(2)} µs; PubAck latency EWMA ${health.latency_ms_ewma?.toFixed(1)} ms; ` +
        `ratio ${(fwdRate / rawRate).toFixed(2)} of bare read+publish, ${(fwdRate / bareRate).toFixed(2)} of pre-built bodies)`,
    );
    print(
      `load average during the run: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on ${availableParallelism()} CPUs`,
    );
    return [
      {
        name: 'nats.drain_vs_read_publish',
        value: Math.round(fwdRate),
        unit: 'records/s',
        baseline: Math.round(rawRate),
        ratio: fwdRate / rawRate,
        target: '>= 0.70',
      },
      {
        name: 'nats.drain_vs_prebuilt_bodies',
        value: Math.round(fwdRate),
        unit: 'records/s',
        baseline: Math.round(bareRate),
        ratio: fwdRate / bareRate,
      },
      {
        name: 'nats.sink_alone_vs_prebuilt_bodies',
        value: Math.round(aloneRate),
        unit: 'records/s',
        baseline: Math.round(bareRate),
        ratio: aloneRate / bareRate,
      },
    ];
  } finally {
    await journal.close().catch(() => undefined);
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const num = (flag: string) => {
    const at = argv.indexOf(flag);
    return at >= 0 ? Number(argv[at + 1]) : undefined;
  };
  const records = num('--records');
  const maxRecords = num('--max-records');
  const maxInFlight = num('--max-in-flight');
  runNatsBench({
    quick: argv.includes('--quick'),
    ...(records ? { records } : {}),
    ...(maxRecords ? { maxRecords } : {}),
    ...(maxInFlight ? { maxInFlight } : {}),
  }).then(
    (results) => {
      for (const r of results) {
        process.stdout.write(
          `${r.name}: ${r.value.toLocaleString('en')} ${r.unit} (baseline ${r.baseline?.toLocaleString('en')}, ratio ${r.ratio?.toFixed(2)})\n`,
        );
      }
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`nats bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
