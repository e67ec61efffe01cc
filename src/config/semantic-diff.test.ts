// Golden cases of the semantic diff: each folder under testcases/diff/ holds old.yaml, new.yaml and expected.txt,
// the report `check-config --diff old.yaml new.yaml` prints (fingerprints in the head line masked, so a new
// default elsewhere in the schema does not rewrite every case).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { effectiveConfig } from './fingerprint.js';
import { loadConfig } from './load.js';
import { formatDiff, semanticDiff } from './semantic-diff.js';

const CASES = join(import.meta.dirname, 'testcases/diff');

async function effective(file: string) {
  const res = await loadConfig(file, { skipSecrets: true });
  if (!res.ok) throw new Error(`${file}: ${JSON.stringify(res.issues)}`);
  return effectiveConfig(res.config);
}

async function diffReport(dir: string): Promise<string> {
  const oldFile = join(dir, 'old.yaml');
  const newFile = join(dir, 'new.yaml');
  const differ = readFileSync(oldFile, 'utf8') !== readFileSync(newFile, 'utf8');
  const text = formatDiff(
    { label: 'old.yaml', config: await effective(oldFile) },
    { label: 'new.yaml', config: await effective(newFile) },
    differ,
  );
  return text.replace(/sha256:[0-9a-f]{12}/g, 'sha256:<hash>');
}

describe('semantic diff golden cases', () => {
  for (const name of readdirSync(CASES).sort()) {
    it(name, async () => {
      const expected = readFileSync(join(CASES, name, 'expected.txt'), 'utf8');
      expect(await diffReport(join(CASES, name))).toBe(expected);
    });
  }
});

describe('semantic diff', () => {
  it('a file compared with itself has no change, and says so without the cosmetic line', async () => {
    const file = join(CASES, 'unit-and-range', 'old.yaml');
    const cfg = await effective(file);
    expect(semanticDiff(cfg, cfg)).toEqual([]);
    expect(formatDiff({ label: 'a', config: cfg }, { label: 'b', config: cfg }, false)).toMatch(
      /: no change\n$/,
    );
  });

  it('a selection that changes nothing received today is cosmetic, and says why', () => {
    const cfg = (types: string[]) => ({
      sources: [{ id: 's', signals: [{ name: 'a.b' }] }],
      events: [{ id: 'production.count:a.b', type: 'production.count', counter: 'a.b' }],
      sinks: [{ id: 'erp', type: 'http', url: 'https://x', select: { kinds: ['event'], types } }],
    });
    expect(semanticDiff(cfg(['production.count']), cfg(['production.count', 'quality.exception']))).toEqual([
      {
        effect: 'cosmetic',
        text: 'sink erp: select.types [production.count] becomes [production.count, quality.exception] (it receives the same signals and events as before)',
      },
    ]);
    expect(semanticDiff(cfg(['production.count']), cfg(['quality.exception']))).toEqual([
      { effect: 'affects delivery', text: 'sink erp stops receiving production.count' },
    ]);
  });

  it('never shows a secret value: a changed token reference is shown as its reference', () => {
    const a = {
      sinks: [{ id: 'erp', type: 'http', url: 'https://x', auth: { bearer: { secret: 'env:A' } } }],
    };
    const b = {
      sinks: [{ id: 'erp', type: 'http', url: 'https://x', auth: { bearer: { secret: 'env:B' } } }],
    };
    expect(semanticDiff(a, b)).toEqual([
      { effect: 'affects delivery', text: 'sink erp: auth.bearer secret env:A becomes secret env:B' },
    ]);
  });
});
