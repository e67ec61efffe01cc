// Keeps docs/events.md honest: its example event is what the golden case emits, and every `events:` list in
// its YAML examples is valid configuration.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isoUtc, readingId } from '../model/records.js';
import { eventConfigSchema } from './config.js';
import { Deriver } from './derive.js';
import { repoRoot } from './gen-schemas.js';
import { MemoryStateStore } from './test-support.js';

const doc = readFileSync(join(repoRoot(), 'docs', 'events.md'), 'utf8');

interface CaseFile {
  lateness_ms?: number;
  events: unknown[];
  steps: Array<{ at?: string; readings?: Array<{ signal: string; ts: string; value: number | string }> }>;
}

describe('docs/events.md', () => {
  it('shows the event the steady-counting golden case emits, id included', async () => {
    const m = /<!-- example-event: ([a-z-]+) -->\s*```json\n([\s\S]*?)```/.exec(doc);
    expect(m, 'docs/events.md has no example-event block').not.toBeNull();
    const [, caseName, json] = m as RegExpExecArray;
    const spec = JSON.parse(
      readFileSync(join(repoRoot(), 'src', 'events', 'testcases', `${caseName}.json`), 'utf8'),
    ) as CaseFile;
    const d = new Deriver({
      gatewayId: 'lyon-edge-01',
      events: spec.events.map((e) => eventConfigSchema.parse(e)),
      state: new MemoryStateStore(),
      latenessMs: spec.lateness_ms,
    });
    await d.load();
    const emitted = [];
    for (const step of spec.steps) {
      if (step.at === undefined) continue;
      const readings = (step.readings ?? []).map((r) => ({
        id: readingId('lyon-edge-01', r.signal, r.ts, r.value),
        kind: 'reading' as const,
        signal: r.signal,
        value: r.value,
        ts: r.ts,
        ingest_ts: r.ts,
        quality: 'good' as const,
        source: { id: 'doc', type: 'test', address: r.signal },
      }));
      emitted.push(...d.process(readings, Date.parse(step.at)));
    }
    expect(emitted[0]).toEqual(JSON.parse(json as string));
    expect(isoUtc(Date.parse(emitted[0]?.ts ?? ''))).toBe(emitted[0]?.ts);
  });

  it('has only valid event definitions in its YAML examples', () => {
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map(
      (b) => parse(b[1] as string) as { events?: unknown[] },
    );
    const defs = blocks.flatMap((b) => b.events ?? []);
    expect(defs.length).toBeGreaterThanOrEqual(3);
    for (const def of defs) {
      const parsed = eventConfigSchema.safeParse(def);
      expect(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues)).toBe(true);
    }
  });
});
