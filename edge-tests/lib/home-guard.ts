// vitest globalSetup: fails the run when a test wrote into the user's home folder. Tests must keep everything
// in their own temp folders; node-opcua in particular creates ~/.config/node-opcua-default-nodejs/PKI for any
// client or server given no certificate folder, and parallel tests then race on one private key.
// Watched: every file under the XDG config folder (names, sizes, mtimes) and the names directly in the home
// folder. Tool caches (~/.npm, ~/.cache) are not watched: npm and the linters write there during a run.
import { lstatSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Files under the config folder this deep or deeper are not listed (a safety bound, never reached in practice). */
const MAX_DEPTH = 12;
const MAX_ENTRIES = 50_000;

function configDir(): string {
  return process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
}

/** path -> "size:mtime" (directories: "dir"), recursively. */
function listTree(root: string, out = new Map<string, string>(), depth = 0): Map<string, string> {
  if (depth > MAX_DEPTH || out.size > MAX_ENTRIES) return out;
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(root, name);
    try {
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.set(p, 'dir');
        listTree(p, out, depth + 1);
      } else out.set(p, `${st.size}:${st.mtimeMs}`);
    } catch {
      // Vanished while listing: compared by name below.
    }
  }
  return out;
}

function snapshot(): Map<string, string> {
  const snap = listTree(configDir());
  for (const name of (() => {
    try {
      return readdirSync(homedir());
    } catch {
      return [];
    }
  })())
    snap.set(join(homedir(), name), 'home entry');
  return snap;
}

/** What differs between two snapshots, as readable lines (empty when nothing changed). */
export function diffSnapshots(before: Map<string, string>, after: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [p, v] of after) {
    const old = before.get(p);
    if (old === undefined) lines.push(`created ${p}`);
    else if (old !== v) lines.push(`modified ${p}`);
  }
  for (const p of before.keys()) if (!after.has(p)) lines.push(`removed ${p}`);
  return lines;
}

export default function setup(): () => void {
  if (process.env.PLANTGATE_SKIP_HOME_GUARD === '1') return () => {};
  const before = snapshot();
  return () => {
    const changes = diffSnapshots(before, snapshot());
    if (changes.length > 0) {
      // vitest only logs an error thrown here ("error during close") and still exits 0: set the exit code.
      process.stderr.write(
        `\nFAIL home-guard: the test run wrote into the home folder (tests must stay in their temp folders):\n  ${changes.slice(0, 30).join('\n  ')}\n`,
      );
      process.exitCode = 1;
    }
  };
}
