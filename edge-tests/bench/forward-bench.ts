// Forwarding benchmark: drains a pre-filled LevelDB journal backlog through Forwarder -> HttpSink -> receiver,
// and compares it with two bare baselines against the same receiver: undici POSTs of pre-built batch bodies (the
// HTTP ceiling), and a bare loop that reads the same stored JSON from classic-level and POSTs it (what any
// forwarder of this journal must at least do: the drain target is a ratio to this one). The receiver runs in its
// own process, as the central API would.
// Standalone: `npx tsx edge-tests/bench/forward-bench.ts [--quick] [--records N] [--max-records N] [--max-in-flight N]`.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { pino } from 'pino';
import { Pool } from 'undici';
import { Forwarder } from '../../src/forward/forwarder.js';
import { httpSinkSchema } from '../../src/forward/http/config.js';
import { HttpSink, type HttpSinkSettings, sfString } from '../../src/forward/http/sink.js';
import type { Batch } from '../../src/forward/kit/types.js';
import { buildBatchBody } from '../../src/forward/kit/wire.js';
import { sinkSelector } from '../../src/forward/select.js';
import { LevelJournal } from '../../src/journal/level-journal.js';
import { isoUtc, type Reading, readingId } from '../../src/model/records.js';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  ratio: number;
  target?: string;
}

export interface ForwardBenchOptions {
  /** Backlog size (default 1,000,000; 100,000 with quick). */
  records?: number;
  quick?: boolean;
  maxRecords?: number;
  maxInFlight?: number;
  /** Progress lines (default: stderr). */
  print?: (line: string) => void;
}

const GATEWAY = 'lyon-edge-01';
const SITE = 'lyon';
const TARGET_RECORDS_PER_S = 300_000;
/**
 * The journal's record layout, as the bare read loop reads it (level-journal.ts: `j!` + 16 hex digits of the seq,
 * a 21-character header, then the record's JSON; iterators fetch up to 1 MiB per native step). Not imported: the
 * journal keeps them private; readRawBaseline() checks them against journal.read() before it measures.
 */
export const RAW = { gt: 'j!', lt: 'j"', headerLen: 21, seqAt: 2, highWaterMarkBytes: 1024 * 1024 } as const;

/** A ~200 B reading (JSON), content-derived id, spread over 20 signals. */
function reading(n: number): Reading {
  const signal = `lyon.line${n % 4}.press${n % 5}.hydraulic_pressure`;
  const ts = isoUtc(Date.parse('2026-11-27T00:00:00Z') + n * 10);
  const value = Math.round(((n * 7919) % 40000) / 100) / 1;
  return {
    id: readingId(GATEWAY, signal, ts, value),
    kind: 'reading',
    signal,
    value,
    unit: 'bar',
    ts,
    ingest_ts: ts,
    quality: 'good',
    source: { id: 'press-1', type: 'opcua', address: `ns=3;s=Press${n % 5}.Hydraulic.Pressure` },
  };
}

/** Starts the receiver simulator as a child process (keep_records false) and returns its URL. */
async function startReceiverProcess(): Promise<{ url: string; child: ChildProcess }> {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const ts = join(here, '../../simulators/receiver/cli.ts');
  const js = join(here, '../../simulators/receiver/cli.js');
  const args = existsSync(js) ? [js] : ['--import', 'tsx', ts];
  const child = spawn(process.execPath, [...args, '--port', '0', '--keep-records', 'false'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the receiver did not start within 30 s')), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the receiver exited with ${code}`));
    });
  });
  return { url, child };
}

async function receiverStats(url: string): Promise<{
  records: number;
  batches: number;
  duplicate_batches: number;
  duplicate_records: number;
  invalid: number;
  process_cpu_ms: number;
}> {
  const res = await fetch(`${url}/_recv/stats`);
  return (await res.json()) as never;
}

function cpuPerRecord(u: NodeJS.CpuUsage, n: number): string {
  return ((u.user + u.system) / n).toFixed(2);
}

export async function fillJournal(journal: LevelJournal, n: number): Promise<void> {
  const chunk = 1000;
  // A few appends in flight so group commit batches them, as concurrent sources would.
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const from = next;
      next = Math.min(n, next + chunk);
      const recs: Reading[] = [];
      for (let i = from; i < next; i++) recs.push(reading(i));
      await journal.append(recs);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

/** The first `n` stored JSON texts in seq order, straight from LevelDB (the journal must be closed). */
export async function rawFirst(dir: string, n: number): Promise<string[]> {
  const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  await db.open();
  try {
    const it = db.iterator({ gt: RAW.gt, lt: RAW.lt, highWaterMarkBytes: RAW.highWaterMarkBytes });
    const chunk = await it.nextv(n);
    await it.close();
    return chunk.map(([, v]) => v.slice(RAW.headerLen));
  } finally {
    await db.close();
  }
}

/**
 * The bare drain loop every sink benchmark compares with: one classic-level iterator over the journal's records
 * (the layout checked above), `maxRecords` stored JSON texts per batch joined into a plantgate.batch.v1 body by
 * string concatenation, `maxInFlight` workers each handing a body to `send` and waiting for it (the sink's
 * protocol: a POST, a publish with its PubAck). No cursor, no ledger, no retries: the floor under what any
 * forwarder of this journal does per record.
 */
export async function rawDrainLoop(
  dir: string,
  maxRecords: number,
  maxInFlight: number,
  send: (batchId: string, body: Buffer, records: number) => Promise<void>,
): Promise<{ seconds: number; cpu: NodeJS.CpuUsage; records: number }> {
  const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  await db.open();
  const head = `{"schema":"plantgate.batch.v1","batch_id":`;
  const gateway = JSON.stringify({ id: GATEWAY, site: SITE });
  let records = 0;
  try {
    const it = db.iterator({ gt: RAW.gt, lt: RAW.lt, highWaterMarkBytes: RAW.highWaterMarkBytes });
    let reading: Promise<unknown> = Promise.resolve();
    const nextChunk = (): Promise<Array<[string, string]>> => {
      const p = reading.then(() => it.nextv(maxRecords));
      reading = p.catch(() => undefined);
      return p;
    };
    const cpu = process.cpuUsage();
    const t = performance.now();
    const worker = async () => {
      for (;;) {
        const chunk = await nextChunk();
        if (chunk.length === 0) return;
        const first = Number.parseInt((chunk[0] as [string, string])[0].slice(RAW.seqAt), 16);
        const last = Number.parseInt((chunk.at(-1) as [string, string])[0].slice(RAW.seqAt), 16);
        const id = `${GATEWAY}:central:${first}-${last}`;
        const parts: string[] = new Array(chunk.length);
        for (let i = 0; i < chunk.length; i++)
          parts[i] = (chunk[i] as [string, string])[1].slice(RAW.headerLen);
        const body = Buffer.from(
          `${head}${JSON.stringify(id)},"gateway":${gateway},"sent_at":${JSON.stringify(new Date().toISOString())},"records":[${parts.join(',')}]}`,
        );
        await send(id, body, chunk.length);
        records += chunk.length;
      }
    };
    await Promise.all(Array.from({ length: maxInFlight }, worker));
    const seconds = (performance.now() - t) / 1000;
    const used = process.cpuUsage(cpu);
    await it.close();
    return { seconds, cpu: used, records };
  } finally {
    await db.close();
  }
}

/** The HTTP sink's bare loop: rawDrainLoop POSTing each body with undici, as the receiver expects it. */
async function readPostBaseline(
  dir: string,
  url: string,
  path: string,
  maxRecords: number,
  maxInFlight: number,
): Promise<{ seconds: number; cpu: NodeJS.CpuUsage; records: number }> {
  const pool = new Pool(new URL(url).origin, { connections: maxInFlight, pipelining: 1 });
  try {
    return await rawDrainLoop(dir, maxRecords, maxInFlight, async (id, body) => {
      const res = await pool.request({
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': sfString(id) },
        body,
      });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`read+POST baseline: POST answered ${res.statusCode}`);
    });
  } finally {
    await pool.close();
  }
}

export async function runForwardBench(opts: ForwardBenchOptions = {}): Promise<BenchResult[]> {
  const print = opts.print ?? ((l: string) => process.stderr.write(`${l}\n`));
  const n = opts.records ?? (opts.quick ? 100_000 : 1_000_000);
  const maxRecords = opts.maxRecords ?? 1000;
  const maxInFlight = opts.maxInFlight ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'plantgate-fwd-bench-'));
  const { url, child } = await startReceiverProcess();
  const log = pino({ level: 'warn' });
  const config = httpSinkSchema.parse({
    id: 'central',
    type: 'http',
    url: `${url}/v1/batches`,
    batch: { max_records: maxRecords, max_bytes: '4MiB', max_wait: '100ms' },
    max_in_flight: maxInFlight,
  }) as HttpSinkSettings;
  const journalOptions = { dir, maxBytes: 4 * 1024 ** 3, whenFull: 'block', commitIntervalMs: 5 } as const;
  let journal = new LevelJournal(journalOptions);
  try {
    await journal.open();
    await journal.setSinks([sinkSelector(config)]);
    let t = performance.now();
    await fillJournal(journal, n);
    const filled = journal.stats();
    print(
      `journal filled: ${n} records, ${(filled.bytes / 1e6).toFixed(0)} MB stored in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    // Baseline bodies: the same cuts the forwarder makes, built up front so the baseline measures only HTTP.
    t = performance.now();
    const bodies: Array<{ id: string; body: Buffer; records: number }> = [];
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
      bodies.push({
        id: batch.batch_id,
        body: buildBatchBody(batch, { id: GATEWAY, site: SITE }, new Date().toISOString()),
        records: entries.length,
      });
      after = last;
    }
    print(
      `baseline bodies built: ${bodies.length} batches in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    // Baseline: bare undici, same pool shape and concurrency as the sink.
    const pool = new Pool(new URL(url).origin, { connections: maxInFlight, pipelining: 1 });
    const path = new URL(config.url).pathname;
    // Warm up the JIT, the connections and the receiver (on another path, then forgotten), and collect the garbage
    // of building the bodies, so the baseline measures steady state as the forwarder run does.
    for (const b of bodies.slice(0, 10)) {
      const res = await pool.request({
        path: '/warmup',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': sfString(b.id) },
        body: b.body,
      });
      await res.body.dump();
    }
    await fetch(`${url}/_recv/reset`, { method: 'POST' });
    (globalThis as { gc?: () => void }).gc?.();
    let i = 0;
    let recvCpu0 = (await receiverStats(url)).process_cpu_ms;
    let cpu = process.cpuUsage();
    t = performance.now();
    const send = async () => {
      while (i < bodies.length) {
        const b = bodies[i++] as (typeof bodies)[number];
        const res = await pool.request({
          path,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': sfString(b.id) },
          body: b.body,
        });
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`baseline POST answered ${res.statusCode}`);
      }
    };
    await Promise.all(Array.from({ length: maxInFlight }, send));
    const bareS = (performance.now() - t) / 1000;
    const bareCpu = process.cpuUsage(cpu);
    await pool.close();
    const bareStats = await receiverStats(url);
    if (bareStats.records !== n)
      throw new Error(`baseline: the receiver holds ${bareStats.records} records, expected ${n}`);
    const bareRate = n / bareS;
    const bareRecvCpu = ((bareStats.process_cpu_ms - recvCpu0) * 1000) / n;
    print(
      `bare undici:  ${n} records in ${bareS.toFixed(2)} s = ${Math.round(bareRate).toLocaleString('en')} records/s ` +
        `(CPU per record: sender ${cpuPerRecord(bareCpu, n)} µs, receiver ${bareRecvCpu.toFixed(2)} µs)`,
    );
    bodies.length = 0;
    await fetch(`${url}/_recv/reset`, { method: 'POST' });

    // Baseline 2: the bare read+POST loop over the same LevelDB store (the journal closed meanwhile, it holds the
    // lock). Its key and header layout is checked against journal.read() first, so a layout change fails loudly.
    const viaJournal = (await journal.read('central', 0, 1000, Number.MAX_SAFE_INTEGER)).map((e) => e.json);
    await journal.close();
    const viaRaw = await rawFirst(dir, viaJournal.length);
    if (viaRaw.length !== viaJournal.length || viaRaw.some((j, k) => j !== viaJournal[k]))
      throw new Error(
        'the bare read loop does not see the stored JSON journal.read() returns: layout changed?',
      );
    (globalThis as { gc?: () => void }).gc?.();
    recvCpu0 = (await receiverStats(url)).process_cpu_ms;
    const raw = await readPostBaseline(dir, url, path, maxRecords, maxInFlight);
    const rawStats = await receiverStats(url);
    if (raw.records !== n || rawStats.records !== n)
      throw new Error(
        `read+POST baseline: sent ${raw.records}, the receiver holds ${rawStats.records}, expected ${n}`,
      );
    const rawRate = n / raw.seconds;
    const rawRecvCpu = ((rawStats.process_cpu_ms - recvCpu0) * 1000) / n;
    print(
      `bare read+POST: ${n} records in ${raw.seconds.toFixed(2)} s = ${Math.round(rawRate).toLocaleString('en')} records/s ` +
        `(CPU per record: reader+sender process incl. LevelDB ${cpuPerRecord(raw.cpu, n)} µs, receiver ${rawRecvCpu.toFixed(2)} µs)`,
    );
    await fetch(`${url}/_recv/reset`, { method: 'POST' });
    journal = new LevelJournal(journalOptions);
    await journal.open();
    await journal.setSinks([sinkSelector(config)]);

    // The forwarder drains the same backlog from the journal.
    const sink = new HttpSink({ config, gatewayId: GATEWAY, site: SITE, log });
    const forwarder = new Forwarder({
      journal,
      sink,
      gatewayId: GATEWAY,
      site: SITE,
      sinkConfig: config,
      log,
    });
    const lastSeq = filled.last_seq;
    recvCpu0 = (await receiverStats(url)).process_cpu_ms;
    const elu0 = performance.eventLoopUtilization();
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
    const fwdElu = performance.eventLoopUtilization(elu0);
    const health = forwarder.health();
    await forwarder.stop(5000);
    const fwdStats = await receiverStats(url);
    if (fwdStats.records !== n || fwdStats.duplicate_records !== 0 || fwdStats.invalid !== 0) {
      throw new Error(
        `forwarder: the receiver holds ${fwdStats.records} records (${fwdStats.duplicate_records} duplicates, ${fwdStats.invalid} invalid), expected ${n}`,
      );
    }
    const fwdRate = n / fwdS;
    const fwdRecvCpu = ((fwdStats.process_cpu_ms - recvCpu0) * 1000) / n;
    print(
      `forwarder:    ${n} records in ${fwdS.toFixed(2)} s = ${Math.round(fwdRate).toLocaleString('en')} records/s ` +
        `(CPU per record: forwarder process incl. journal ${cpuPerRecord(fwdCpu, n)} µs of which main thread ` +
        `${((fwdElu.active * 1000) / n).toFixed(2)} µs, receiver ${fwdRecvCpu.toFixed(2)} µs; ` +
        `${fwdStats.batches} batches, latency EWMA ${health.latency_ms_ewma} ms; ratio ${(fwdRate / rawRate).toFixed(2)} of bare read+POST, ` +
        `${(fwdRate / bareRate).toFixed(2)} of pre-built bodies)`,
    );
    print(
      `load average during the run: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on ${availableParallelism()} CPUs`,
    );
    return [
      {
        name: 'forward.drain_vs_read_post',
        value: Math.round(fwdRate),
        unit: 'records/s',
        baseline: Math.round(rawRate),
        ratio: fwdRate / rawRate,
        target: '>= 0.80',
      },
      {
        name: 'forward.drain_vs_bare_undici',
        value: Math.round(fwdRate),
        unit: 'records/s',
        baseline: Math.round(bareRate),
        ratio: fwdRate / bareRate,
      },
      {
        name: 'forward.drain_vs_target',
        value: Math.round(fwdRate),
        unit: 'records/s',
        baseline: TARGET_RECORDS_PER_S,
        ratio: fwdRate / TARGET_RECORDS_PER_S,
        target: '>= 1 (300,000 records/s)',
      },
    ];
  } finally {
    await journal.close().catch(() => undefined);
    child.kill('SIGTERM');
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
  runForwardBench({
    quick: argv.includes('--quick'),
    ...(records ? { records } : {}),
    ...(maxRecords ? { maxRecords } : {}),
    ...(maxInFlight ? { maxInFlight } : {}),
  }).then(
    (results) => {
      for (const r of results) {
        process.stdout.write(
          `${r.name}: ${r.value.toLocaleString('en')} ${r.unit} (baseline ${r.baseline.toLocaleString('en')}, ratio ${r.ratio.toFixed(2)})\n`,
        );
      }
      const ok = results.every((r) =>
        r.name.endsWith('read_post') ? r.ratio >= 0.8 : r.name.endsWith('target') ? r.ratio >= 1 : true,
      );
      process.stdout.write(
        ok ? 'targets met\n' : 'TARGETS MISSED (>= 0.80 of bare read+POST and >= 300,000 records/s)\n',
      );
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`forward bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
