// Test helpers of the config tests: a scratch directory, configs written into it and loaded the way the
// CLI loads them, captured stdout/stderr of the commands, and OpenSSH keys and signatures for the approval gate.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** Whether ssh-keygen runs here (the approval gate's verifier); tests of the gate skip, saying so, without it. */
export function hasSshKeygen(): boolean {
  return spawnSync('ssh-keygen', ['-?'], { stdio: 'ignore' }).error === undefined;
}

/** An ed25519 key pair made by ssh-keygen in `dir`: `<dir>/<name>` and `<dir>/<name>.pub`. */
export function makeSshKey(dir: string, name: string): { key: string; pub: string } {
  const key = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
  return { key, pub: readFileSync(`${key}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ') };
}

/** An allowed-signers file: one `identity key-type key` line per approver. */
export function writeApprovers(file: string, approvers: Array<{ identity: string; pub: string }>): void {
  writeFileSync(file, approvers.map((a) => `${a.identity} ${a.pub}\n`).join(''));
}

/** `ssh-keygen -Y sign -n plantgate-config -f KEY FILE`, replacing an older FILE.sig. */
export function signConfig(file: string, key: string): void {
  rmSync(`${file}.sig`, { force: true });
  execFileSync('ssh-keygen', ['-Y', 'sign', '-n', 'plantgate-config', '-f', key, file], { stdio: 'ignore' });
}
