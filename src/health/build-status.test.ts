// Golden cases for the /status document: each testcases/<case>.json is a snapshot of the daemon (sources, sinks,
// journal stats, daemon facts) and the verdict buildStatus must give for it, word for word, plus any parts of the
// document it must hold. A case lists only what differs from a healthy gateway (the defaults below); times are
// ISO strings, read as epoch ms for the fields that hold one (TIME_KEYS). A case with `"exact": true` pins the
// whole document, key order included, since /status is read by scripts and the edge tests.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JournalStats } from '../journal/types.js';
import {
  buildStatus,
  type EventStatsFacts,
  type SinkFacts,
  type SourceFacts,
  type StatusInput,
} from './build-status.js';

interface GoldenCase {
  description: string;
  now?: string;
  rules?: Partial<StatusInput['rules']>;
  daemon?: Partial<StatusInput['daemon']>;
  sources?: Array<Partial<SourceFacts> & { id: string }>;
  sinks?: Array<Partial<Omit<SinkFacts, 'health'>> & { id: string; health?: Partial<SinkFacts['health']> }>;
  journal?: Partial<Omit<JournalStats, 'sinks'>> & {
    sinks?: Record<string, Partial<JournalStats['sinks'][string]>>;
  };
  events_derived?: number;
  recent_drops?: Record<string, number>;
  event_stats?: EventStatsFacts;
  expect: { status: 'ok' | 'degraded' | 'failing'; reasons: string[] };
  expect_document?: Record<string, unknown>;
  /** Dotted paths the document must not have (a field shown only when it applies). */
  expect_absent?: string[];
  exact?: boolean;
}

const DIR = join(import.meta.dirname, 'testcases');
const DEFAULT_NOW = '2026-11-30T10:00:00.000Z';
const MIN = 60_000;

/** Fields that hold epoch ms: written as ISO strings in the cases. */
const TIME_KEYS = new Set([
  'startedAt',
  'loadedAt',
  'lastSampleAt',
  'last_sample_at',
  'last_error_at',
  'oldest_unacked_at',
  'dropping_since',
  'last_ack_at',
  'at',
  'resolved_at',
]);

function withTimes(v: unknown, key = ''): unknown {
  if (typeof v === 'string' && TIME_KEYS.has(key)) {
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) throw new Error(`${key}: "${v}" is not an ISO time`);
    return ms;
  }
  if (Array.isArray(v)) return v.map((x) => withTimes(x));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withTimes(x, k)]));
  }
  return v;
}

function inputOf(c: GoldenCase): StatusInput {
  const now = Date.parse(c.now ?? DEFAULT_NOW);
  const sources = (c.sources ?? []).map(
    (s): SourceFacts => ({
      type: 'generator',
      health: { state: 'connected' },
      startedAt: now - 10 * MIN,
      received: 0,
      ingested: 0,
      quarantined: 0,
      quarantinedByReason: {},
      duplicatesSuppressed: 0,
      ratePerS: 0,
      quality: { signals_seen: 0, signals_declared: 0, missing_signals: [] },
      ...s,
    }),
  );
  const sinks = (c.sinks ?? []).map(
    (k): SinkFacts => ({
      type: 'http',
      target: `https://central.example/v1/batches`,
      ...k,
      health: { state: 'connected', batches_in_flight: 0, ...k.health },
    }),
  );
  const { sinks: ledgers, ...journalRest } = c.journal ?? {};
  const journal: JournalStats = {
    records: 0,
    bytes: 0,
    first_seq: 0,
    last_seq: 0,
    sinks: Object.fromEntries(
      Object.entries(ledgers ?? {}).map(([id, l]) => [
        id,
        { ingested: 0, delivered: 0, queued: 0, dead_lettered: 0, dropped: {}, cursor: 0, ...l },
      ]),
    ),
    quarantine: { total: 0, by_reason: {} },
    dead_letters: { batches: 0, records: 0 },
    blocked: false,
    ...journalRest,
  };
  return {
    now,
    gateway: { id: 'lyon-edge-01', site: 'lyon' },
    rules: {
      stallAfterIntervals: 10,
      backlogDegradedAfterMs: 5 * MIN,
      backlogFailingAfterMs: 60 * MIN,
      ...c.rules,
    },
    storage: {
      max_bytes: 2 * 1024 ** 3,
      when_full: 'drop_oldest',
      quarantine_max_bytes: 256 * 1024 ** 2,
      dead_letters_max_bytes: 256 * 1024 ** 2,
    },
    daemon: {
      version: '1.0.0',
      pid: 4242,
      startedAt: now - 60 * MIN,
      configFile: '/etc/plantgate/plant.yaml',
      loadedAt: now - 60 * MIN,
      reloads: 0,
      ready: true,
      ...c.daemon,
    },
    sources,
    sinks,
    journal,
    eventsDerived: c.events_derived ?? 0,
    recentDrops: c.recent_drops ?? {},
    ...(c.event_stats ? { eventStats: c.event_stats } : {}),
  };
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => {
    const raw = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Record<string, unknown>;
    // Only the snapshot's times are read as epoch ms: the expected document holds ISO text, as /status does.
    const { expect: verdict, expect_document, expect_absent, ...snapshot } = raw;
    const spec = {
      ...(withTimes(snapshot) as object),
      expect: verdict,
      expect_document,
      expect_absent,
    } as GoldenCase;
    return { name: f.replace(/\.json$/, ''), spec };
  });

describe('the /status document (golden cases in src/health/testcases/)', () => {
  it('finds the cases (so this suite cannot pass on an empty folder)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
    for (const c of cases) expect(c.spec.description, c.name).toBeTruthy();
    expect(cases.filter((c) => c.spec.exact).length).toBeGreaterThanOrEqual(1);
    for (const status of ['ok', 'degraded', 'failing']) {
      expect(cases.some((c) => c.spec.expect.status === status)).toBe(true);
    }
  });

  for (const { name, spec } of cases) {
    it(`${name}: ${spec.expect.status}`, () => {
      const doc = buildStatus(inputOf(spec));
      expect({ status: doc.status, reasons: doc.reasons }).toEqual(spec.expect);
      if (spec.expect_document && spec.exact) {
        // Key order included: JSON text is what /status serves.
        expect(JSON.stringify(doc, null, 2)).toBe(JSON.stringify(spec.expect_document, null, 2));
      } else if (spec.expect_document) {
        expect(doc).toMatchObject(spec.expect_document);
      }
      for (const path of spec.expect_absent ?? []) {
        const parent = path
          .split('.')
          .slice(0, -1)
          .reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], doc) as Record<string, unknown>;
        expect(parent, `${path}: its parent must exist`).toBeTypeOf('object');
        expect(Object.keys(parent), path).not.toContain(path.split('.').at(-1));
      }
    });
  }

  it('is pure: the same input gives the same document, and the input is not changed', () => {
    for (const { spec } of cases) {
      const input = inputOf(spec);
      const before = JSON.stringify(input);
      expect(JSON.stringify(buildStatus(input))).toBe(JSON.stringify(buildStatus(input)));
      expect(JSON.stringify(input)).toBe(before);
    }
  });
});
