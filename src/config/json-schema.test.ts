// The committed JSON Schema must match the zod schemas (it goes stale whenever a schema or the adapter
// registry changes), and every field in it must carry a description: that text is the editor's help.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildJsonSchema, jsonSchemaText } from './json-schema.js';

const FILE = fileURLToPath(new URL('../../config/plantgate.schema.json', import.meta.url));

type JsonNode = Record<string, unknown>;

/** Paths of properties without a description, through objects, arrays, records, tuples and unions. */
function undescribed(node: unknown, path: string, out: string[] = []): string[] {
  if (!node || typeof node !== 'object') return out;
  const n = node as JsonNode;
  for (const [k, v] of Object.entries((n.properties as Record<string, JsonNode> | undefined) ?? {})) {
    if (typeof v.description !== 'string' || v.description === '') out.push(`${path}.${k}`);
    undescribed(v, `${path}.${k}`, out);
  }
  for (const key of ['items', 'additionalProperties']) undescribed(n[key], `${path}[]`, out);
  for (const key of ['oneOf', 'anyOf', 'allOf', 'prefixItems']) {
    if (!Array.isArray(n[key])) continue;
    (n[key] as unknown[]).forEach((x, i) => {
      undescribed(x, `${path}(${i})`, out);
    });
  }
  return out;
}

describe('config/plantgate.schema.json', () => {
  it('is up to date', () => {
    let committed = '';
    try {
      committed = readFileSync(FILE, 'utf8');
    } catch {
      // Compared below, so the message says what to do.
    }
    const stale = committed !== jsonSchemaText();
    expect(
      stale ? 'config/plantgate.schema.json is stale; run: npx tsx src/config/write-schema.ts' : 'up to date',
    ).toBe('up to date');
  });

  it('describes every field', () => {
    expect(undescribed(buildJsonSchema(), '')).toEqual([]);
  });

  it('has one source entry per registered adapter and rejects unknown keys', () => {
    const schema = buildJsonSchema() as JsonNode;
    const props = schema.properties as Record<string, JsonNode>;
    const sourceItems = (props.sources?.items ?? {}) as JsonNode;
    const options = (sourceItems.oneOf ?? sourceItems.anyOf) as JsonNode[];
    const types = options.map((o) => ((o.properties as Record<string, JsonNode>).type as JsonNode).const);
    expect(types).toContain('generator');
    expect(options.every((o) => o.additionalProperties === false)).toBe(true);
  });
});
