// Edge-test harness: runs the BUILT daemon (dist/src/cli.js) as a real child process, finds its health port
// from its log, and offers condition waits with deadlines (no fixed sleeps) and cleanup of everything started.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { stringify } from 'yaml';
import { type Receiver, startReceiver } from '../../simulators/receiver/receiver.js';
import { type Truthy, type WaitOptions, waitFor as waitForCondition } from '../../src/kit/testing/wait.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/src/cli.js');

/** The shared waitFor with the defaults of a real daemon: 30 s, checked every 100 ms. */
export function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  opts: WaitOptions = {},
): Promise<Truthy<T>> {
  return waitForCondition(what, probe, { timeoutMs: 30_000, intervalMs: 100, ...opts });
}

export function tempDir(prefix = 'plantgate-edge-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeConfig(dir: string, name: string, config: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, stringify(config));
  return file;
}

export interface DaemonProcess {
  child: ChildProcess;
  pid: number;
  healthUrl: string;
  logs(): string[];
  stderr(): string;
  status(): Promise<StatusDoc>;
  get(path: string): Promise<{ status: number; body: string }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM and wait for exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

// Loose view of /status for tests.
export type StatusDoc = {
  status: string;
  reasons: string[];
  sources: Record<
    string,
    {
      state: string;
      received: number;
      ingested: number;
      quarantined: number;
      counters?: Record<string, number>;
      ledger_balanced: boolean;
    } & Record<string, unknown>
  >;
  sinks: Record<
    string,
    {
      state: string;
      backlog: number;
      ledger: {
        ingested: number;
        delivered: number;
        queued: number;
        dead_lettered: number;
        dropped: Record<string, number>;
        balanced: boolean;
      };
    } & Record<string, unknown>
  >;
  journal: { records: number; bytes: number; blocked: boolean } & Record<string, unknown>;
  quarantine: { total: number; by_reason: Record<string, number> };
  dead_letters: { batches: number; records: number };
  ledger: {
    pipeline: { received: number; ingested: number; quarantined: number; balanced: boolean };
    events_derived: number;
  };
  config: { reload_error?: string; reloads: number };
} & Record<string, unknown>;

const running = new Set<ChildProcess>();

export function killAll(): void {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}

/** Runs a CLI command to completion and returns its exit code and output. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('exit', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

export async function startDaemon(
  configFile: string,
  opts: { env?: NodeJS.ProcessEnv; waitReady?: boolean } = {},
): Promise<DaemonProcess> {
  // The Node flags the launcher (packaging/plantgate.sh) passes, which says why: the tests run what ships.
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--max-semi-space-size=16', CLI, 'run', '-c', configFile],
    {
      env: { ...process.env, PLANTGATE_LOG_LEVEL: 'info', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.add(child);
  const lines: string[] = [];
  let err = '';
  let partial = '';
  let healthUrl: string | undefined;
  child.stdout?.on('data', (d: Buffer) => {
    partial += d.toString();
    let nl = partial.indexOf('\n');
    while (nl >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (lines.length < 5000) lines.push(line);
      if (!healthUrl && line.includes('plantgate is running')) {
        try {
          const h = (JSON.parse(line) as { health?: { host: string; port: number } }).health;
          if (h) healthUrl = `http://${h.host}:${h.port}`;
        } catch {
          // not JSON
        }
      }
      nl = partial.indexOf('\n');
    }
  });
  child.stderr?.on('data', (d: Buffer) => {
    if (err.length < 200_000) err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => {
      running.delete(child);
      r({ code, signal });
    }),
  );
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((e) => {
    exitInfo = e;
  });
  const get = async (path: string) => {
    const res = await fetch(`${healthUrl}${path}`);
    return { status: res.status, body: await res.text() };
  };
  const proc: DaemonProcess = {
    child,
    pid: child.pid as number,
    get healthUrl() {
      return healthUrl as string;
    },
    logs: () => lines,
    stderr: () => err,
    status: async () => JSON.parse((await get('/status')).body) as StatusDoc,
    get,
    exited,
    kill: (signal = 'SIGKILL') => {
      child.kill(signal);
    },
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
  if (opts.waitReady !== false) {
    await waitFor(
      'the daemon to become ready',
      async () => {
        if (exitInfo)
          throw new Error(`daemon exited early (${JSON.stringify(exitInfo)}): ${err.slice(-2000)}`);
        if (!healthUrl) return false;
        return (await get('/readyz')).status === 200;
      },
      { timeoutMs: 30_000 },
    );
  }
  return proc;
}

/**
 * A generator-based plant config with one sink pointing at `url`. `generator` and `storage` are merged into
 * the generator source and the storage section; any other key replaces its section.
 */
export function baseConfig(
  stateDir: string,
  url: string,
  opts: { generator?: Record<string, unknown>; storage?: Record<string, unknown> } & Record<
    string,
    unknown
  > = {},
): Record<string, unknown> {
  const { generator, storage, ...over } = opts;
  return {
    gateway: { id: 'edge-test-01', site: 'lab', timezone: 'Europe/Paris' },
    storage: {
      dir: stateDir,
      max_bytes: '256MiB',
      when_full: 'drop_oldest',
      commit_interval: '10ms',
      ...storage,
    },
    health: { listen: '127.0.0.1:0' },
    sources: [
      {
        id: 'gen-1',
        type: 'generator',
        interval: '50ms',
        batch: 10,
        signals: [
          { name: 'lab.line1.temperature', shape: 'sine', min: 20, max: 80, unit: 'Cel' },
          { name: 'lab.line1.count', shape: 'counter', min: 0, max: 1000000, value_type: 'integer' },
        ],
        ...generator,
      },
    ],
    sinks: [
      {
        id: 'central',
        type: 'http',
        url,
        batch: { max_records: 500, max_wait: '100ms' },
        retry: { initial: '100ms', max: '1s' },
      },
    ],
    ...over,
  };
}

/**
 * The common frame of an edge-test file: one receiver for the file, a fresh temp dir per call of `dir()`,
 * every daemon killed and the receiver's faults and data cleared after each test, all cleaned up at the end.
 */
export function edgeSuite(): { readonly receiver: Receiver; dir(): string; onCleanup(fn: () => void): void } {
  let receiver: Receiver | undefined;
  const temps: Array<{ cleanup(): void }> = [];
  const extra: Array<() => void> = [];
  beforeAll(async () => {
    receiver = await startReceiver({ port: 0 });
  });
  afterAll(async () => {
    killAll();
    for (const fn of extra) fn();
    await receiver?.close();
    for (const t of temps) t.cleanup();
  });
  afterEach(() => {
    killAll();
    receiver?.setFaults({ clear: true });
    receiver?.resetData();
  });
  return {
    get receiver(): Receiver {
      if (!receiver) throw new Error('the receiver starts in beforeAll');
      return receiver;
    },
    dir(): string {
      const t = tempDir();
      temps.push(t);
      return t.dir;
    },
    onCleanup(fn: () => void): void {
      extra.push(fn);
    },
  };
}
