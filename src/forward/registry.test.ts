// The sink contract: every registered kind carries the settings the forwarder applies (same keys, same defaults),
// the config schema is built from the registry, and createForwarder builds a kind from its `type` alone and
// reports the ComponentHealth-shaped health with counters.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Receiver, startReceiver } from '../../simulators/receiver/receiver.js';
import { sinkConfigSchema } from '../config/schema.js';
import { LevelJournal } from '../journal/level-journal.js';
import { createForwarder, describeSink } from './index.js';
import { sinkCommonFields } from './kit/config.js';
import { sinkKindFor, sinkKinds } from './registry.js';
import { sinkSelector } from './select.js';
import { captureLogger, makeReading, waitUntil } from './test-support.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The object schema under a kind's refinements (superRefine keeps the object in zod 4). */
function shapeOf(schema: z.ZodType): Record<string, z.ZodType> {
  expect(schema).toBeInstanceOf(z.ZodObject);
  return (schema as z.ZodObject).shape as Record<string, z.ZodType>;
}

describe('sink registry', () => {
  it('registers each kind once, with a strict schema carrying its type and every common field', () => {
    const types = sinkKinds.map((k) => k.type);
    expect(types).toContain('http');
    expect(new Set(types).size).toBe(types.length);
    for (const kind of sinkKinds) {
      const shape = shapeOf(kind.schema);
      expect(Object.keys(shape)).toEqual(expect.arrayContaining(['type', ...Object.keys(sinkCommonFields)]));
      expect((shape.type as z.ZodLiteral).value).toBe(kind.type);
      for (const [name, field] of Object.entries(shape)) {
        expect(field.description, `${kind.type}.${name} is described`).toBeTruthy();
      }
      // Unknown keys are refused (strict), and the common settings get the forwarder's defaults.
      const parsed = kind.schema.safeParse({ id: 'x', type: kind.type, nope: 1 });
      expect(parsed.success).toBe(false);
      expect(
        JSON.stringify(parsed.error?.issues.map((i) => i.code)),
        'an unknown key is reported as such',
      ).toContain('unrecognized_keys');
      for (const name of ['select', 'batch', 'max_in_flight', 'retry'] as const) {
        expect(shape[name]?.safeParse(undefined)).toEqual(sinkCommonFields[name].safeParse(undefined));
      }
    }
  });

  it('builds the config union from the registry and describes a target with its secrets masked', () => {
    const cfg = sinkConfigSchema.parse({
      id: 'central',
      type: 'http',
      url: 'https://ingest.example.com/v1/batches?api_key=k3y',
    });
    expect(cfg.batch).toEqual({ max_records: 1000, max_bytes: 1024 * 1024, max_wait: 1000 });
    expect(sinkKindFor('http')?.type).toBe('http');
    expect(sinkKindFor('kafka')).toBeUndefined();
    expect(describeSink(cfg)).toBe('https://ingest.example.com/v1/batches?api_key=***');
    expect(() => describeSink({ ...cfg, type: 'kafka' })).toThrow(/No sink kind "kafka"/);
  });

  it('createForwarder delivers through the kind named by type and reports health with counters', async () => {
    const receiver: Receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const dir = mkdtempSync(join(tmpdir(), 'plantgate-registry-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = sinkConfigSchema.parse({
      id: 'central',
      type: 'http',
      url: `${receiver.url}/v1/batches`,
      batch: { max_records: 4, max_wait: '10ms' },
    });
    const journal = new LevelJournal({
      dir,
      maxBytes: 64 * 1024 * 1024,
      whenFull: 'drop_oldest',
      commitIntervalMs: 2,
    });
    await journal.open();
    cleanups.push(() => journal.close());
    await journal.setSinks([sinkSelector(config)]);
    const cap = captureLogger('info');
    const f = createForwarder({ config, journal, gatewayId: 'gw', site: 'lyon', log: cap.log });
    await f.start();
    cleanups.push(() => f.stop(0));
    await journal.append(Array.from({ length: 10 }, (_, i) => makeReading(i)));
    await waitUntil(() => f.health().delivered_records === 10, { what: 'delivery', diag: () => f.health() });
    const h = f.health();
    expect(receiver.stats().records).toBe(10);
    expect(h).toMatchObject({ state: 'connected', detail: expect.any(String) });
    expect(h.counters).toEqual({
      delivered_batches: 3,
      delivered_records: 10,
      retries: 0,
      dead_lettered_batches: 0,
      dead_lettered_records: 0,
    });
    // The start line names the target as the kind describes it, never by a protocol field of its own.
    expect(cap.lines().some((l) => l.target === `${receiver.url}/v1/batches`)).toBe(true);
  });
});
