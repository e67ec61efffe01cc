// Removes test code from a compiled dist/ for the .deb: test files, test harnesses and support modules, and
// whatever imports only exists for them (a helper that imports a removed harness is itself test code). Then
// checks that every relative import left in the tree resolves, so a runtime module can never lose a file.
// Usage: node packaging/prune-dist.mjs <dist dir>
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? 'dist');
const TEST_CODE = /(\.test\.js|test-harness\.js|test-support\.js|test-certs\.js|-contract\.js)$/;
const IMPORT = /(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : e.name.endsWith('.js') ? [p] : [];
  });
}

function missingImports(file) {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(IMPORT)]
    .map((m) => m[1])
    .filter((spec) => !existsSync(resolve(dirname(file), spec)));
}

const removed = [];
for (const f of files(root)) {
  if (TEST_CODE.test(f)) {
    rmSync(f);
    removed.push(f);
  }
}
// Modules that imported removed test code are test helpers too; repeat until nothing changes.
for (let changed = true; changed; ) {
  changed = false;
  for (const f of files(root)) {
    if (missingImports(f).length > 0) {
      rmSync(f);
      removed.push(f);
      changed = true;
    }
  }
}
const cli = join(root, 'src/cli.js');
if (!existsSync(cli)) {
  process.stderr.write(`prune-dist: ${cli} was removed: a runtime module imports test code\n`);
  process.exit(1);
}
const cascaded = removed.filter((f) => !TEST_CODE.test(f)).map((f) => f.slice(root.length + 1));
process.stdout.write(
  `prune-dist: removed ${removed.length} test files${cascaded.length ? ` (helpers importing them: ${cascaded.join(', ')})` : ''}\n`,
);
