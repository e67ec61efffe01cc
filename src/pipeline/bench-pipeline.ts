// Micro-benchmark of the pipeline's hot path: samples/s through Pipeline.process against a bare baseline
// that only does what any pipeline must (JSON.stringify of the sample + one SHA-256 per sample).
// Run: npx tsx src/pipeline/bench-pipeline.ts [seconds-per-measurement] [batch-size]
import * as crypto from 'node:crypto';
import type { SignalSpec } from '../config/kit/signal.js';
import type { RawSample } from '../model/records.js';
import { Pipeline } from './pipeline.js';
import { SpecRegistry } from './specs.js';

const seconds = Number(process.argv[2] ?? 2);
const batchSize = Number(process.argv[3] ?? 1000);
const SOURCE = { id: 'bench', type: 'generator' };
const T0 = Date.parse('2026-11-27T10:00:00.000Z');

// A plausible mix: unit conversions (linear and affine), raw/eng scaling, plain numbers, a boolean, a string
// enum, and pattern-matched MQTT-style names; a third of the samples carry ISO text timestamps.
const SIGNALS: SignalSpec[] = [];
for (let m = 0; m < 50; m++) {
  SIGNALS.push(
    {
      name: `lyon.press${m}.pressure`,
      unit: '[psi]',
      canonical_unit: 'bar',
      range: [0, 400],
      max_rate_of_change: 1e6,
    },
    { name: `lyon.packer${m}.motor_temp`, unit: '[degF]', canonical_unit: 'Cel', range: [-50, 300] },
    { name: `lyon.card${m}.level`, scale: { raw: [0, 27648], eng: [0, 100] }, unit: '%' },
    { name: `lyon.line${m}.count`, value_type: 'integer' },
    { name: `lyon.line${m}.running`, value_type: 'boolean' },
    { name: `lyon.line${m}.mode`, value_type: 'string', enum: ['RUN', 'STOP', 'SETUP'] },
  );
}
const specs = new SpecRegistry([
  {
    source: SOURCE,
    declarations: {
      exact: SIGNALS,
      patterns: [{ pattern: 'lyon.mqtt.*.temp', spec: { unit: '[degF]', canonical_unit: 'Cel' } }],
    },
  },
]);

function makeSamples(n: number): RawSample[] {
  const out: RawSample[] = [];
  for (let i = 0; i < n; i++) {
    const m = i % 50;
    // Strictly behind the ingest time, so nothing is rejected as clock_skew.
    const ts = T0 - 120_000 + Math.floor(i / 7);
    const pick = i % 7;
    const s: RawSample =
      pick === 0
        ? { signal: `lyon.press${m}.pressure`, value: 1000 + (i % 500) * 0.37, ts, address: `ns=3;s=P${m}` }
        : pick === 1
          ? {
              signal: `lyon.packer${m}.motor_temp`,
              value: 150 + (i % 90) * 0.1,
              ts: new Date(ts),
              address: 'holding:0',
            }
          : pick === 2
            ? { signal: `lyon.card${m}.level`, value: i % 27648, ts, address: 'input:3' }
            : pick === 3
              ? {
                  signal: `lyon.line${m}.count`,
                  value: i,
                  ts: new Date(ts).toISOString(),
                  address: 'holding:100',
                }
              : pick === 4
                ? { signal: `lyon.line${m}.running`, value: i % 2, ts, address: 'coil:1', status: 'good' }
                : pick === 5
                  ? {
                      signal: `lyon.line${m}.mode`,
                      value: 'RUN',
                      ts: new Date(ts).toISOString().slice(0, 23),
                      ts_local: true,
                      address: 'lyon/line/mode',
                      attrs: { work_order: 'WO-1001' },
                    }
                  : { signal: `lyon.mqtt.m${i % 500}.temp`, value: '151.3', address: 'lyon/mqtt/temp' };
    out.push(s);
  }
  return out;
}

const samples = makeSamples(100_000);
const batches: RawSample[][] = [];
for (let i = 0; i < samples.length; i += batchSize) batches.push(samples.slice(i, i + batchSize));

const hash = (crypto as unknown as { hash(alg: string, data: string, enc: 'hex'): string }).hash;

/** Samples/s of `fn` over a wall-clock window of `ms`. */
function measure(ms: number, fn: (batch: RawSample[]) => number): number {
  let n = 0;
  let sink = 0;
  const t0 = performance.now();
  const until = t0 + ms;
  while (performance.now() < until) {
    const batch = batches[cursor++ % batches.length] as RawSample[];
    sink += fn(batch);
    n += batch.length;
  }
  if (sink < 0) console.log(sink); // keeps the work observable to the optimiser
  return n / ((performance.now() - t0) / 1000);
}
let cursor = 0;

const baselineFn = (batch: RawSample[]): number => {
  let x = 0;
  for (const s of batch) x += hash('sha256', JSON.stringify(s), 'hex').length;
  return x;
};

const pipeline = new Pipeline({
  gatewayId: 'lyon-edge-01',
  timezone: 'Europe/Paris',
  maxFutureSkewMs: 5000,
  specs,
});
let accepted = 0;
let rejected = 0;
const reasons = new Map<string, number>();
const pipelineFn = (batch: RawSample[]): number => {
  const { records, rejects } = pipeline.process(SOURCE, batch, T0);
  accepted += records.length;
  rejected += rejects.length;
  for (const r of rejects) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
  return records.length;
};

// Warm up the JIT, then alternate short rounds so both see the same machine load (the machine is shared);
// the best round of each is the least disturbed one.
measure(300, baselineFn);
measure(300, pipelineFn);
const rounds = 6;
const base: number[] = [];
const piped: number[] = [];
for (let r = 0; r < rounds; r++) {
  base.push(measure((seconds * 1000) / rounds, baselineFn));
  piped.push(measure((seconds * 1000) / rounds, pipelineFn));
}
const fmt = (x: number) => Math.round(x).toLocaleString('en-US').padStart(10);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log(
  `batch ${batchSize}, ${rounds} alternating rounds, ${seconds}s per side; samples/s best | median`,
);
console.log(`baseline (stringify+sha256) ${fmt(Math.max(...base))} | ${fmt(median(base))}`);
console.log(`Pipeline.process            ${fmt(Math.max(...piped))} | ${fmt(median(piped))}`);
console.log(
  `pipeline / baseline = ${(Math.max(...piped) / Math.max(...base)).toFixed(2)} (best) | ${(median(piped) / median(base)).toFixed(2)} (median)`,
);
console.log(
  `accepted ${accepted.toLocaleString('en-US')}, rejected ${rejected.toLocaleString('en-US')}`,
  Object.fromEntries(reasons),
);
