// The import rules of .dependency-cruiser.cjs really fire: a copy of the tree gets one forbidden import per rule,
// and the same command CI runs (`depcruise --output-type err`) must fail naming each rule and each import. Without
// this, a rule whose path pattern stopped matching after a folder moved would pass forever. Checks the source
// tree, not the built daemon; `npm run lint:deps` checks the real tree.
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const FOLDERS = ['src', 'adapters', 'simulators', 'edge-tests'];

/** One forbidden import per rule: the file it is appended to, what it imports, and the line the check prints. */
const VIOLATIONS: { rule: string; file: string; spec: string; reported: string }[] = [
  {
    rule: 'adapters-not-to-journal-or-sinks',
    file: 'adapters/generator/generator.ts',
    spec: '../../src/journal/types.js',
    reported: 'adapters/generator/generator.ts → src/journal/types.ts',
  },
  {
    rule: 'sinks-not-to-adapters',
    file: 'src/forward/select.ts',
    spec: '../../adapters/index.js',
    reported: 'src/forward/select.ts → adapters/index.ts',
  },
  {
    rule: 'transforms-know-no-protocol',
    file: 'src/pipeline/lru.ts',
    spec: 'mqtt',
    reported: 'src/pipeline/lru.ts → ',
  },
  {
    rule: 'journal-knows-no-sink-or-config',
    file: 'src/journal/tagged-json.ts',
    spec: '../config/kit/primitives.js',
    reported: 'src/journal/tagged-json.ts → src/config/kit/primitives.ts',
  },
  {
    rule: 'model-knows-no-config',
    file: 'src/model/records.ts',
    spec: '../config/kit/units.js',
    reported: 'src/model/records.ts → src/config/kit/units.ts',
  },
  {
    rule: 'simulators-import-no-product',
    file: 'simulators/modbus/server.ts',
    spec: '../../src/kit/sleep.js',
    reported: 'simulators/modbus/server.ts → src/kit/sleep.ts',
  },
  {
    rule: 'components-use-config-kit-only',
    file: 'src/events/config.ts',
    spec: '../config/load.js',
    reported: 'src/events/config.ts → src/config/load.ts',
  },
  {
    rule: 'kits-import-no-component',
    file: 'src/config/kit/units.ts',
    spec: '../../pipeline/lru.js',
    reported: 'src/config/kit/units.ts → src/pipeline/lru.ts',
  },
  {
    // src/journal imports src/kit (errors), so this closes a cycle between the two folders.
    rule: 'no-folder-cycles',
    file: 'src/kit/sleep.ts',
    spec: '../journal/types.js',
    reported: 'src/kit → \n      src/journal →\n      src/kit',
  },
  {
    rule: 'no-import-from-parent-folder',
    file: 'src/forward/http/classify.ts',
    spec: '../registry.js',
    reported: 'src/forward/http/classify.ts → src/forward/registry.ts',
  },
];

describe('house rules (.dependency-cruiser.cjs)', () => {
  let dir = '';
  let result: { status: number | null; out: string };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'plantgate-house-rules-'));
    for (const f of FOLDERS) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    for (const f of ['tsconfig.json', 'package.json', '.dependency-cruiser.cjs']) {
      cpSync(join(ROOT, f), join(dir, f));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    for (const v of VIOLATIONS) appendFileSync(join(dir, v.file), `\nimport '${v.spec}';\n`);
    // A module cycle in a folder of its own, so no other rule is involved.
    writeFileSync(join(dir, 'src/kit/cycle-a.ts'), "import './cycle-b.js';\nexport const a = 1;\n");
    writeFileSync(join(dir, 'src/kit/cycle-b.ts'), "import './cycle-a.js';\nexport const b = 1;\n");
    const run = spawnSync(
      process.execPath,
      [
        join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'),
        '--config',
        '.dependency-cruiser.cjs',
        '--output-type',
        'err',
        ...FOLDERS,
      ],
      { cwd: dir, encoding: 'utf8', timeout: 240_000 },
    );
    result = { status: run.status, out: `${run.stdout}${run.stderr}` };
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('fails, as CI would', () => {
    expect(result.status, result.out).not.toBe(0);
    expect(result.out).toMatch(/x \d+ dependency violations/);
  });

  it.each(VIOLATIONS)('$rule names the forbidden import', ({ rule, reported }) => {
    expect(result.out).toContain(`error ${rule}: ${reported}`);
  });

  it('no-circular names a module cycle', () => {
    expect(result.out).toContain('error no-circular: src/kit/cycle-a.ts → \n      src/kit/cycle-b.ts →');
  });
});
