// Every example in config/examples/ must load cleanly with the secrets it names set, so the files engineers
// copy from never rot. Examples whose source types are not registered yet are skipped with that reason.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatIssue, loadConfig } from './load.js';
import { sourceTypes } from './schema.js';

const DIR = fileURLToPath(new URL('../../config/examples/', import.meta.url));
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

/** Every `*_env` value in the file: the variables a plant would set for it. */
function envNames(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const v of node) envNames(v, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k.endsWith('_env') && typeof v === 'string') out.add(v);
      else envNames(v, out);
    }
  }
  return out;
}

describe('config/examples', () => {
  it('holds the documented examples', () => {
    expect(files).toEqual(
      expect.arrayContaining(['generator.yaml', 'modbus.yaml', 'mqtt.yaml', 'opcua.yaml', 'plant-full.yaml']),
    );
  });

  for (const name of files) {
    const text = readFileSync(`${DIR}${name}`, 'utf8');
    const raw = parse(text) as { sources?: Array<{ type?: string }> };
    const missing = [...new Set((raw.sources ?? []).map((s) => String(s.type)))].filter(
      (t) => !sourceTypes().includes(t),
    );
    const reason = `source type ${missing.join(', ')} is not registered in adapters/index.ts yet`;

    it.skipIf(missing.length > 0)(
      `${name} loads without problems or warnings${missing.length ? ` (skipped: ${reason})` : ''}`,
      async () => {
        const env = Object.fromEntries([...envNames(raw)].map((n) => [n, `test-value-of-${n}`]));
        const res = await loadConfig(`${DIR}${name}`, { env });
        expect(res.ok ? [] : res.issues.map(formatIssue)).toEqual([]);
        // Examples are copied: they teach the current names only (no deprecated key, no doubtful unit).
        expect((res.warnings ?? []).map(formatIssue)).toEqual([]);
      },
    );

    it(`${name} starts with a comment header that says what it shows and links the schema`, () => {
      expect(text.startsWith('# plantgate example: ')).toBe(true);
      expect(text).toContain('# What it shows:');
      expect(text).toContain('# yaml-language-server: $schema=../plantgate.schema.json');
    });
  }
});
