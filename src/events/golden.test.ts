// Golden sequences for the derive transform: each testcases/<case>.json lists event definitions, steps of
// readings (with the clock value they are processed at) and restarts, and the events each step must emit.
// Every case is run three ways: as written, without its restarts, and with a restart after every step; all
// three must emit the same events at the same steps, with ids derived from the documented identity.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type EventRecord,
  eventId,
  type Quality,
  type Reading,
  type RecordValue,
  readingId,
} from '../model/records.js';
import { type EventConfig, eventConfigSchema } from './config.js';
import { Deriver, type DeriveStats } from './derive.js';
import { type EventType, eventRecordSchema } from './schemas.js';
import { MemoryStateStore } from './test-support.js';

interface CaseReading {
  signal: string;
  ts: string;
  value: RecordValue;
  quality?: Quality;
  unit?: string;
  attrs?: Record<string, string>;
}

type CaseStep =
  | { at: string; readings?: CaseReading[]; expect?: Array<Omit<EventRecord, 'id' | 'kind'>> }
  | { restart: true };

interface GoldenCase {
  description: string;
  gateway_id?: string;
  lateness_ms?: number;
  events: unknown[];
  steps: CaseStep[];
  expect_ignored?: Partial<DeriveStats['ignored']>;
}

const GATEWAY = 'lyon-edge-01';
const dir = join(dirname(fileURLToPath(import.meta.url)), 'testcases');
const cases = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({
    name: f.replace(/\.json$/, ''),
    spec: JSON.parse(readFileSync(join(dir, f), 'utf8')) as GoldenCase,
  }));

function toReading(gatewayId: string, r: CaseReading): Reading {
  const reading: Reading = {
    id: readingId(gatewayId, r.signal, r.ts, r.value),
    kind: 'reading',
    signal: r.signal,
    value: r.value,
    ts: r.ts,
    ingest_ts: r.ts,
    quality: r.quality ?? 'good',
    source: { id: 'golden', type: 'test', address: r.signal },
  };
  if (r.unit !== undefined) reading.unit = r.unit;
  if (r.attrs !== undefined) reading.attrs = r.attrs;
  return reading;
}

/** The documented identity each event id is derived from. */
function identityOf(e: EventRecord): string {
  const d = e.data as Record<string, unknown>;
  switch (e.type) {
    case 'production.count':
      return d.window_start as string;
    case 'machine.downtime':
      return d.start as string;
    case 'quality.exception':
      return (d.evidence as Array<{ ts: string }>)[0]?.ts as string;
    default:
      return e.ts;
  }
}

interface RunResult {
  perStep: EventRecord[][];
  ignored: DeriveStats['ignored'];
}

async function run(
  spec: GoldenCase,
  mode: 'as-written' | 'no-restarts' | 'restart-every-step',
): Promise<RunResult> {
  const gatewayId = spec.gateway_id ?? GATEWAY;
  const defs: EventConfig[] = spec.events.map((e) => eventConfigSchema.parse(e));
  const store = new MemoryStateStore();
  const make = async () => {
    const d = new Deriver({ gatewayId, events: defs, state: store, latenessMs: spec.lateness_ms });
    await d.load();
    return d;
  };
  const ignored: DeriveStats['ignored'] = { bad_quality: 0, invalid_value: 0, duplicate: 0, out_of_order: 0 };
  const addIgnored = (d: Deriver) => {
    for (const [k, v] of Object.entries(d.stats().ignored)) ignored[k as keyof typeof ignored] += v;
  };
  let deriver = await make();
  const restart = async () => {
    // What the daemon does: the snapshot is committed, the process dies, a new one loads it back.
    await deriver.persist();
    addIgnored(deriver);
    deriver = await make();
  };
  const perStep: EventRecord[][] = [];
  for (const step of spec.steps) {
    if ('restart' in step) {
      if (mode === 'as-written') await restart();
      continue;
    }
    const readings = (step.readings ?? []).map((r) => toReading(gatewayId, r));
    const now = Date.parse(step.at);
    perStep.push(readings.length > 0 ? deriver.process(readings, now) : deriver.tick(now));
    if (mode === 'restart-every-step') await restart();
  }
  addIgnored(deriver);
  return { perStep, ignored };
}

describe('derive golden sequences', () => {
  it('has golden cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
  });

  for (const { name, spec } of cases) {
    describe(name, () => {
      it('emits the expected events at the expected steps', async () => {
        const gatewayId = spec.gateway_id ?? GATEWAY;
        const { perStep, ignored } = await run(spec, 'as-written');
        const expected = spec.steps
          .filter((s) => !('restart' in s))
          .map((s) => ('at' in s ? (s.expect ?? []) : []));
        const actual = perStep.map((events) => events.map(({ id: _id, kind: _kind, ...rest }) => rest));
        expect(actual).toEqual(expected);
        for (const events of perStep) {
          for (const e of events) {
            expect(e.kind).toBe('event');
            expect(e.id).toBe(eventId(gatewayId, e.type, e.subject, identityOf(e)));
            const parsed = eventRecordSchema(e.type as EventType).safeParse(e);
            expect(parsed.success, parsed.success ? '' : parsed.error.message).toBe(true);
          }
        }
        if (spec.expect_ignored) expect(ignored).toMatchObject(spec.expect_ignored);
      });

      it('emits the same events with no restart and with a restart after every step', async () => {
        const reference = (await run(spec, 'as-written')).perStep;
        expect((await run(spec, 'no-restarts')).perStep).toEqual(reference);
        expect((await run(spec, 'restart-every-step')).perStep).toEqual(reference);
      });
    });
  }
});
