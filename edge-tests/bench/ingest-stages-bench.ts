// Per-reading CPU from `emit` to a synced journal entry, and its share per stage. MQTT messages of three values from
// ten machines (live timestamps) are mapped to samples once, outside the measurement, then:
//  1. the whole path: AdapterContext.emit as the daemon builds it (pipeline, duplicate filter, the source's data
//     quality observer, a production.count deriver on one machine's counter, journal append with synced group
//     commits), 8 emits in flight, CPU per reading from process.cpuUsage (all threads: LevelDB's writes and fsyncs
//     run on libuv's pool), and how many derive states it wrote;
//  2. the same samples through each stage's real function in separate passes (normalize, validate, ISO time, hash,
//     record, duplicate filter, observer, deriver, derive state as often as the whole path wrote one, encode,
//     commit), each timed on its own, to say where the CPU goes. The passes leave out the glue between stages, so
//     they add up to a little less than the whole path.
// Bench-only: nothing here is on the production path. Standalone: `npx tsx edge-tests/bench/ingest-stages-bench.ts`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { mqttSourceSchema } from '../../adapters/mqtt/config.js';
import { mqtt as mqttDefinition } from '../../adapters/mqtt/index.js';
import { SubscriptionMapper } from '../../adapters/mqtt/mapping.js';
import { eventConfigSchema } from '../../src/events/config.js';
import { DeriveStage } from '../../src/events/stage.js';
import { createAdapterContext, DuplicateFilter } from '../../src/ingest/ingest.js';
import { LevelJournal } from '../../src/journal/level-journal.js';
import { isoUtc, type RawSample, type Reading, readingId } from '../../src/model/records.js';
import { SourceQuality } from '../../src/observe/quality.js';
import { ZoneClock } from '../../src/pipeline/local-time.js';
import { normalize, SampleResult } from '../../src/pipeline/normalize.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { SpecRegistry } from '../../src/pipeline/specs.js';
import { TimedReading } from '../../src/pipeline/timed-reading.js';
import { Validator } from '../../src/pipeline/validate.js';
import type { BenchResult } from './run.js';

export interface StagesBenchOptions {
  /** Messages (three readings each) per measurement (default 100,000; quick 20,000). */
  messages?: number;
  quick?: boolean;
  log?: (line: string) => void;
}

const GATEWAY = 'bench-gw';
const TZ = 'Europe/Paris';
/** Messages per emit: what the MQTT adapter gathers in one tick under load (300 samples). */
const PER_EMIT = 100;
/** Emits in flight: a busy source emits every tick while the journal syncs (its group commit takes them all). */
const IN_FLIGHT = 8;
const silent = pino({ level: 'silent' });
const PIPELINE = '(Pipeline.process as one call)';

function cpuUs(u: NodeJS.CpuUsage): number {
  return u.user + u.system;
}

/**
 * The samples the MQTT adapter emits for `messages` messages of three values from ten machines, in emits of
 * PER_EMIT messages. Live timestamps (from 2 s ago on, one message per machine per ms): the deriver holds what is
 * younger than its lateness allowance, as it does with a live feed.
 */
function mqttSamples(cfg: ReturnType<typeof mqttSourceSchema.parse>, messages: number) {
  const t0 = Date.now() - 2000;
  const mapper = new SubscriptionMapper(cfg.subscriptions[0] as (typeof cfg.subscriptions)[number]);
  const batches: RawSample[][] = [];
  let batch: RawSample[] = [];
  for (let k = 0; k < messages; k++) {
    const topic = `lyon/line2/m${k % 10}/telemetry`;
    const payload = Buffer.from(
      JSON.stringify({
        ts: t0 + Math.floor(k / 10),
        speed: (k % 1000) / 10,
        temp: 40 + (k % 100) / 10,
        count: k,
      }),
    );
    const r = mapper.map(topic, topic.split('/'), payload, cfg.max_payload);
    if (!r.ok) throw new Error(`bench payload refused: ${r.detail}`);
    for (const s of r.samples) batch.push(s);
    if (batch.length >= PER_EMIT * 3) {
      batches.push(batch);
      batch = [];
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

export async function runIngestStagesBench(opts: StagesBenchOptions = {}): Promise<BenchResult[]> {
  const print = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const messages = opts.messages ?? (opts.quick ? 20_000 : 100_000);
  const cfg = mqttSourceSchema.parse({
    id: 'stages',
    type: 'mqtt',
    url: 'mqtt://127.0.0.1:1883',
    protocol_version: 4,
    subscriptions: [
      {
        topic: 'lyon/line2/+/telemetry',
        qos: 1,
        signal: 'lyon.line2.{topic[2]}.{key}',
        timestamp: { field: 'ts' },
      },
    ],
  });
  const source = { id: cfg.id, type: 'mqtt' };
  const declarations = mqttDefinition.declarations(cfg);
  const specs = new SpecRegistry([{ source, declarations }]);
  const events = [
    eventConfigSchema.parse({ type: 'production.count', counter: 'lyon.line2.m0.count', window: '1m' }),
  ];
  const results: BenchResult[] = [];
  // Three rounds, each on a fresh journal: the first warms the JIT, the better of the other two is reported.
  const wholes: number[] = [];
  const shares: Array<Record<string, number>> = [];
  const statesPer: number[] = [];
  for (let round = 0; round < 3; round++) {
    const batches = mqttSamples(cfg, messages);
    const readings = batches.reduce((n, b) => n + b.length, 0);
    const w = await withJournal((j) => wholePath(j, specs, source, declarations, events, batches));
    wholes.push(w.cpu / readings);
    statesPer.push((w.states / readings) * 1000);
    const again = mqttSamples(cfg, messages);
    shares.push(
      await withJournal((j) =>
        stagePasses(j, specs, source, declarations, events, again, w.states / readings),
      ),
    );
  }
  {
    const whole = Math.min(wholes[1] as number, wholes[2] as number);
    const parts = shares[1] as Record<string, number>;
    const two = shares[2] as Record<string, number>;
    for (const k of Object.keys(parts)) parts[k] = Math.min(parts[k] as number, two[k] as number);
    const oneCall = parts[PIPELINE] as number;
    delete parts[PIPELINE];
    const sum = Object.values(parts).reduce((a, b) => a + b, 0);
    print(
      `  per reading, emit -> synced journal entry: ${whole.toFixed(2)} µs CPU (whole path, all threads)`,
    );
    print(
      `  derive states written: ${(statesPer[1] as number).toFixed(1)} and ${(statesPer[2] as number).toFixed(1)} per 1000 readings (${IN_FLIGHT} emits of ${PER_EMIT * 3} readings in flight)`,
    );
    print(`  stages measured apart (sum ${sum.toFixed(2)} µs):`);
    for (const [k, v] of Object.entries(parts)) {
      print(
        `    ${k.padEnd(34)} ${v.toFixed(2).padStart(7)} µs  ${((v / sum) * 100).toFixed(0).padStart(3)} %`,
      );
      results.push({ name: `ingest.cpu_per_reading.${k.split(' ')[0]}`, value: v, unit: 'µs/reading' });
    }
    print(
      `    ${PIPELINE.padEnd(34)} ${oneCall.toFixed(2).padStart(7)} µs  (normalize .. record in one call)`,
    );
    results.unshift({ name: 'ingest.cpu_per_reading (emit -> synced)', value: whole, unit: 'µs/reading' });
  }
  return results;
}

/** Runs `fn` on a fresh journal (synced group commits every 10 ms at most, as the MQTT benchmark's). */
async function withJournal<T>(fn: (j: LevelJournal) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'plantgate-stages-bench-'));
  const journal = new LevelJournal({
    dir,
    maxBytes: 8 * 1024 ** 3,
    whenFull: 'block',
    commitIntervalMs: 10,
    log: silent,
  });
  try {
    await journal.open();
    await journal.setSinks([{ id: 'central', select: () => true }]);
    return await fn(journal);
  } finally {
    await journal.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU of writing one derive state as the ingest path does (the snapshot and its JSON, which putState makes). */
function stateCost(stage: DeriveStage): number {
  const d = stage.deriver;
  if (!d) return 0;
  const c = process.cpuUsage();
  for (let i = 0; i < 20; i++) JSON.stringify(d.snapshot());
  return cpuUs(process.cpuUsage(c)) / 20;
}

type Decl = ReturnType<typeof mqttDefinition.declarations>;
type Events = ReturnType<typeof eventConfigSchema.parse>[];

/**
 * CPU (µs, all threads) of emitting every batch through the daemon's ingest path, IN_FLIGHT emits at a time, and
 * how many derive states were written meanwhile.
 */
async function wholePath(
  journal: LevelJournal,
  specs: SpecRegistry,
  source: { id: string; type: string },
  decl: Decl,
  events: Events,
  batches: RawSample[][],
): Promise<{ cpu: number; states: number }> {
  const pipeline = new Pipeline({ gatewayId: GATEWAY, timezone: TZ, maxFutureSkewMs: 60_000, specs });
  // Counts the derive states written (bench-only wrapper; the journal itself is untouched).
  let states = 0;
  const putState = journal.putState.bind(journal);
  journal.putState = (key, value) => {
    states += 1;
    return putState(key, value);
  };
  const stage = new DeriveStage({ journal, log: silent });
  await stage.configure(GATEWAY, events);
  const quality = new SourceQuality(
    source.id,
    source.type,
    decl.exact.map((s) => s.name),
    decl.expected_interval_ms,
  );
  const ctx = createAdapterContext({
    source,
    log: silent,
    signal: new AbortController().signal,
    pipeline,
    journal,
    dedupe: new DuplicateFilter(),
    ...stage.hooks,
    observer: quality,
  });
  const cpu = process.cpuUsage();
  let accepted = 0;
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const r = await ctx.emit(batches[next++] as RawSample[]);
      accepted += r.accepted;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const used = cpuUs(process.cpuUsage(cpu));
  const total = batches.reduce((n, b) => n + b.length, 0);
  if (accepted !== total) throw new Error(`whole path: ${accepted} of ${total} readings accepted`);
  return { cpu: used, states };
}

/** µs of CPU per reading in each stage, each stage run over all samples on its own with its real function. */
async function stagePasses(
  journal: LevelJournal,
  specs: SpecRegistry,
  source: { id: string; type: string },
  decl: Decl,
  events: Events,
  batches: RawSample[][],
  statesPerReading: number,
): Promise<Record<string, number>> {
  const samples = batches.flat();
  const n = samples.length;
  const ingestMs = Date.now();
  const zone = new ZoneClock(TZ);
  const out = new SampleResult();
  const time = (fn: () => void): number => {
    const c = process.cpuUsage();
    fn();
    return cpuUs(process.cpuUsage(c)) / n;
  };
  // normalize (with the spec lookup it needs); its outcome is copied for the next pass.
  const normalized: Array<{ value: SampleResult['value']; tsMs: number; quality: SampleResult['quality'] }> =
    new Array(n);
  const specOf = samples.map((s) => specs.lookup(s.signal as string));
  const tNormalize = time(() => {
    for (let i = 0; i < n; i++) {
      const s = samples[i] as RawSample;
      const spec = specs.lookup(s.signal as string);
      if (!spec || !normalize(s, spec, zone, ingestMs, out)) throw new Error(`normalize refused ${s.signal}`);
      normalized[i] = { value: out.value, tsMs: out.tsMs, quality: out.quality };
    }
  });
  const validator = new Validator({ maxFutureSkewMs: 60_000 });
  const tValidate = time(() => {
    for (let i = 0; i < n; i++) {
      const s = samples[i] as RawSample;
      const r = normalized[i] as (typeof normalized)[number];
      const spec = specOf[i] as NonNullable<(typeof specOf)[number]>;
      out.value = r.value;
      out.tsMs = r.tsMs;
      out.quality = r.quality;
      out.attrs = undefined;
      out.bigInteger = false;
      if (!validator.check(s.signal as string, spec, ingestMs, out))
        throw new Error(`validate refused: ${out.detail}`);
      validator.accept(s.signal as string, spec, r.value, r.tsMs, r.quality);
    }
  });
  // The record: ISO time (formatted once per distinct timestamp, as the pipeline does), id hash, object.
  const isoOf: string[] = new Array(n);
  const tIso = time(() => {
    let lastMs = Number.NaN;
    let last = '';
    for (let i = 0; i < n; i++) {
      const ms = (normalized[i] as (typeof normalized)[number]).tsMs;
      if (ms !== lastMs) {
        last = isoUtc(ms);
        lastMs = ms;
      }
      isoOf[i] = last;
    }
  });
  const ids: string[] = new Array(n);
  const tHash = time(() => {
    for (let i = 0; i < n; i++)
      ids[i] = readingId(
        GATEWAY,
        samples[i]?.signal as string,
        isoOf[i] as string,
        normalized[i]?.value as number,
      );
  });
  const ingestIso = isoUtc(ingestMs);
  const records: Reading[] = new Array(n);
  const tRecord = time(() => {
    for (let i = 0; i < n; i++) {
      const s = samples[i] as RawSample;
      const r = normalized[i] as (typeof normalized)[number];
      const rec = new TimedReading(
        ids[i] as string,
        s.signal as string,
        r.value,
        isoOf[i] as string,
        r.tsMs,
        ingestIso,
        r.quality,
        { id: source.id, type: source.type, address: s.address as string },
      );
      const unit = specOf[i]?.unit;
      if (unit !== undefined) rec.unit = unit;
      records[i] = rec;
    }
  });
  // The pipeline as one call (normalize + validate + record + hash), for comparison with the sum of its parts.
  const pipeline = new Pipeline({ gatewayId: GATEWAY, timezone: TZ, maxFutureSkewMs: 60_000, specs });
  const piped: Reading[] = [];
  const tPipeline = time(() => {
    for (const b of batches) for (const r of pipeline.process(source, b, ingestMs).records) piped.push(r);
  });
  if (piped.length !== n) throw new Error(`the pipeline made ${piped.length} of ${n} readings`);
  // The stages after the pipeline take its readings (which carry their epoch ms), as they do in the daemon.
  records.length = 0;
  for (const r of piped) records.push(r);
  // Ingest bookkeeping: duplicate filter, the source's observer, the deriver (events + state snapshot as JSON).
  const dedupe = new DuplicateFilter();
  const quality = new SourceQuality(
    source.id,
    source.type,
    decl.exact.map((s) => s.name),
    decl.expected_interval_ms,
  );
  const observer = quality;
  const stage = new DeriveStage({ journal, log: silent });
  await stage.configure(GATEWAY, events);
  const perEmit = PER_EMIT * 3;
  const tDedupe = time(() => {
    for (let i = 0; i < n; i += perEmit)
      dedupe.screen(source.id, records.slice(i, i + perEmit)).settle(new Error('bench'));
  });
  const tObserve = time(() => {
    for (let i = 0; i < n; i += perEmit)
      observer.onProcessed(samples.slice(i, i + perEmit), records.slice(i, i + perEmit), [], ingestMs);
  });
  const tDerive = time(() => {
    for (let i = 0; i < n; i += perEmit) {
      stage.hook(records.slice(i, i + perEmit), ingestMs);
    }
  });
  // encode: what the journal does per record before its commit (JSON text and its UTF-8 size).
  let bytes = 0;
  const tEncode = time(() => {
    for (let i = 0; i < n; i++) bytes += Buffer.byteLength(JSON.stringify(records[i]));
  });
  // The derive state: one snapshot and its JSON, as often per reading as the whole path wrote one.
  const tState = stateCost(stage) * statesPerReading;
  // commit: journal.append until synced, all threads, minus the encode it does again inside.
  const c = process.cpuUsage();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const from = next;
      next += perEmit;
      await journal.append(records.slice(from, from + perEmit));
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const tCommit = cpuUs(process.cpuUsage(c)) / n - tEncode;
  if (bytes === 0) throw new Error('nothing encoded');
  return {
    'normalize (incl. spec lookup)': tNormalize,
    validate: tValidate,
    'iso (ISO 8601 time text)': tIso,
    'hash (reading id, SHA-256)': tHash,
    'record (object)': tRecord,
    'dedupe (duplicate filter)': tDedupe,
    'observe (data quality)': tObserve,
    'derive (deriver, events)': tDerive,
    'state (derive snapshot + JSON)': tState,
    'encode (JSON + size)': tEncode,
    'commit (append until synced)': Math.max(0, tCommit),
    // Not a stage: Pipeline.process as one call, beside its parts (normalize .. record); left out of the sum.
    [PIPELINE]: tPipeline,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runIngestStagesBench({ quick: process.argv.includes('--quick') }).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
