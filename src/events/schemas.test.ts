// The published event JSON Schemas (docs/schemas/events) must be what the zod schemas generate, and must
// accept what the deriver emits and refuse what the ERP must never receive.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENT_SCHEMA_DIR, renderEventSchemas, repoRoot } from './gen-schemas.js';
import { EVENT_SCHEMA_VERSION, EVENT_TYPES, eventRecordSchema, schemaFileName } from './schemas.js';

const dir = join(repoRoot(), EVENT_SCHEMA_DIR);

describe('published event schemas', () => {
  it('are up to date with the zod schemas (run `npx tsx src/events/gen-schemas.ts` after a change)', () => {
    const expected = renderEventSchemas();
    const onDisk = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(onDisk).toEqual(expect.arrayContaining([...expected.keys()]));
    // Files of earlier versions stay, frozen, for receivers of older gateways; nothing else may be there.
    for (const name of onDisk.filter((f) => !expected.has(f))) {
      const version = /^[a-z]+\.[a-z]+\.v(\d+)\.json$/.exec(name)?.[1];
      expect(version !== undefined && Number(version) < EVENT_SCHEMA_VERSION, `unexpected file ${name}`).toBe(
        true,
      );
    }
    for (const [name, text] of expected) {
      expect(readFileSync(join(dir, name), 'utf8'), `${EVENT_SCHEMA_DIR}/${name} is stale`).toBe(text);
    }
  });

  it('carry the version in the file name, the $id and every payload', () => {
    for (const type of EVENT_TYPES) {
      const doc = JSON.parse(readFileSync(join(dir, schemaFileName(type)), 'utf8'));
      expect(schemaFileName(type)).toBe(`${type}.v${EVENT_SCHEMA_VERSION}.json`);
      expect(doc.$id).toBe(`urn:plantgate:event:${type}:v${EVENT_SCHEMA_VERSION}`);
      expect(doc.properties.data.properties.version.const).toBe(EVENT_SCHEMA_VERSION);
      expect(doc.properties.type.const).toBe(type);
    }
  });

  it('refuse unknown payload fields, a wrong type and timestamps that are not UTC with milliseconds', () => {
    const good = {
      id: '0123456789abcdef0123456789abcdef',
      kind: 'event',
      type: 'machine.state',
      ts: '2026-11-27T10:00:00.000Z',
      subject: 'lyon.press1',
      data: { version: 1, state: 'running', previous_state: null, raw_value: 1, running: true },
    };
    const schema = eventRecordSchema('machine.state');
    expect(schema.safeParse(good).success).toBe(true);
    expect(schema.safeParse({ ...good, data: { ...good.data, extra: 1 } }).success).toBe(false);
    expect(schema.safeParse({ ...good, type: 'machine.downtime' }).success).toBe(false);
    expect(schema.safeParse({ ...good, ts: '2026-11-27T11:00:00+01:00' }).success).toBe(false);
    expect(schema.safeParse({ ...good, ts: '2026-11-27T10:00:00Z' }).success).toBe(false);
    expect(schema.safeParse({ ...good, data: { ...good.data, version: 2 } }).success).toBe(false);
  });
});
