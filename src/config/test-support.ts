// Test helpers of the config tests: a scratch directory, configs written into it and loaded the way the
// CLI loads them, and captured stdout/stderr of the commands.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIssue, type LoadResult, loadConfig } from './load.js';

export class Scratch {
  dir = '';
  async open(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'plantgate-config-'));
  }
  async close(): Promise<void> {
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
  async write(name: string, text: string): Promise<string> {
    const file = join(this.dir, name);
    await writeFile(file, text);
    return file;
  }
}

/** Loads `text` as `<dir>/<name>` under the name the user would type (relative to `dir`). */
export async function loadText(
  scratch: Scratch,
  name: string,
  text: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ result: LoadResult; lines: string[] }> {
  const file = await scratch.write(name, text);
  const result = await loadConfig(file, { env });
  const lines = result.ok ? [] : result.issues.map((i) => formatIssue({ ...i, file: name }));
  return { result, lines };
}

/** Runs `fn` with process.stdout/stderr.write captured. */
export async function captureOutput<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const value = await fn();
    return { value, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  }
}
