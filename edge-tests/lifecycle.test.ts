// Lifecycle edge tests on the built daemon: it exits after stop (hard deadline, second signal at once), a busy
// health port or admin socket is a configuration error (exit 78) naming the holder, a reload that restarts
// a source keeps its counters, and the demo never leaves a daemon behind (kill -9 of the demo, a dead
// stdout reader).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseConfig, CLI, edgeSuite, runCli, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();
const dir = () => suite.dir();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function listenAnywhere(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  if (typeof addr !== 'object' || !addr) throw new Error('no address');
  return { server, port: addr.port };
}

describe('daemon stop and exit', () => {
  it('a second SIGTERM during a slow drain exits at once; the journal opens again afterwards', async () => {
    const d = dir();
    const cfg = baseConfig(d, `${suite.receiver.url}/ingest`);
    const file = writeConfig(d, 'plant.yaml', cfg);
    const p = await startDaemon(file, { env: { PLANTGATE_STOP_DEADLINE_MS: '120000' } });
    await waitFor('flow', () => suite.receiver.stats().records > 0);
    // The receiver now holds every request: the first SIGTERM waits for the drain (up to 120 s).
    suite.receiver.setFaults({ slow_ms: 600_000 });
    await waitFor('a batch in flight at the hung receiver', async () => {
      const s = await p.status();
      return (s.sinks.central?.in_flight as number) > 0;
    });
    p.kill('SIGTERM');
    await waitFor('the stop to begin', () => p.logs().some((l) => l.includes('Stopping: sources first')));
    expect(alive(p.pid)).toBe(true);
    const t0 = Date.now();
    p.kill('SIGTERM');
    const exit = await p.exited;
    const took = Date.now() - t0;
    expect(exit.code).toBe(1);
    expect(took).toBeLessThan(10_000);
    expect(p.logs().join('\n')).toMatch(/Second stop signal: exiting at once/);
    suite.receiver.setFaults({ clear: true });
    // The LOCK went with the process: a new daemon opens the same journal.
    const again = await startDaemon(file);
    expect((await again.stop()).code).toBe(0);
  });

  it('stop() has a hard deadline: a drain that cannot finish still ends in an exit', async () => {
    const d = dir();
    const cfg = baseConfig(d, `${suite.receiver.url}/ingest`);
    const p = await startDaemon(writeConfig(d, 'plant.yaml', cfg), {
      env: { PLANTGATE_STOP_DEADLINE_MS: '1500' },
    });
    await waitFor('flow', () => suite.receiver.stats().records > 0);
    suite.receiver.setFaults({ slow_ms: 600_000 });
    await waitFor('a batch in flight at the hung receiver', async () => {
      const s = await p.status();
      return (s.sinks.central?.in_flight as number) > 0;
    });
    const t0 = Date.now();
    const exit = await p.stop();
    const took = Date.now() - t0;
    // Drain deadline 1.5 s + 5 s grace for the rest; generous slack for a loaded 2-core machine.
    expect(took).toBeLessThan(20_000);
    expect(exit.code === 0 || exit.code === 1).toBe(true);
    expect(exit.signal).toBeNull();
    suite.receiver.setFaults({ clear: true });
  });
});

describe('busy health port or admin socket', () => {
  it('exits 78 naming the address and the pid that holds the health port', async () => {
    const d = dir();
    const { server, port } = await listenAnywhere();
    try {
      const cfg = baseConfig(d, `${suite.receiver.url}/ingest`, { health: { listen: `127.0.0.1:${port}` } });
      const r = await runCli(['run', '-c', writeConfig(d, 'plant.yaml', cfg)]);
      expect(r.code).toBe(78);
      expect(r.stderr).toContain(
        `127.0.0.1:${port} is in use by another process (pid ${process.pid}); set health.listen`,
      );
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      server.close();
    }
  });

  it('exits 78 when another daemon answers on the admin socket, and leaves that daemon its socket', async () => {
    const a = dir();
    const b = dir();
    const first = await startDaemon(writeConfig(a, 'plant.yaml', baseConfig(a, `${suite.receiver.url}/a`)));
    const socket = join(a, 'admin.sock');
    const cfg = baseConfig(b, `${suite.receiver.url}/b`, {
      admin: { socket },
    });
    const r = await runCli(['run', '-c', writeConfig(b, 'plant.yaml', cfg)]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`the admin socket ${socket} is in use by another process (pid ${first.pid})`);
    expect(existsSync(socket)).toBe(true);
    const st = await runCli(['status', '-c', join(a, 'plant.yaml'), '--json']);
    expect(st.code).toBe(0);
    expect((await first.stop()).code).toBe(0);
  });
});

describe('reload', () => {
  it('keeps the pipeline counters of a source the reload restarts (per source id)', async () => {
    const d = dir();
    const cfg = baseConfig(d, `${suite.receiver.url}/ingest`);
    const file = writeConfig(d, 'plant.yaml', cfg);
    const p = await startDaemon(file);
    const before = await waitFor('gen-1 counts', async () => {
      const s = await p.status();
      return (s.sources['gen-1']?.received ?? 0) >= 100 ? s.sources['gen-1'] : false;
    });
    const next = structuredClone(cfg) as { sources: Array<Record<string, unknown>> };
    (next.sources[0] as Record<string, unknown>).interval = '60ms'; // changed: the source restarts
    writeConfig(d, 'plant.yaml', next);
    p.kill('SIGHUP');
    const after = await waitFor('reloaded', async () => {
      const s = await p.status();
      return s.config.reloads === 1 ? s : false;
    });
    expect(after.config.reload_error).toBeUndefined();
    const g = after.sources['gen-1'];
    expect(g?.received).toBeGreaterThanOrEqual(before.received);
    expect(g?.ingested).toBeGreaterThanOrEqual(before.ingested);
    expect(g?.ledger_balanced).toBe(true);
    expect(after.ledger.pipeline.received).toBeGreaterThanOrEqual(before.received);
    await p.stop();
  });
});

/** Starts `plantgate demo` on free ports in its own temp dirs; stdout is a pipe this test reads. */
function startDemo(d: string): {
  child: ChildProcess;
  out: () => string;
  daemonPid: () => Promise<number>;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [CLI, 'demo', '--port-base', '0', '--state-dir', join(d, 'demo')], {
    // The simulators' temporary PKI goes under the test's temp dir too.
    // A short drain deadline: the receiver dies with the demo, so a drain can only wait for the deadline.
    env: { ...process.env, TMPDIR: d, PLANTGATE_STOP_DEADLINE_MS: '2000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.resume();
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child,
    out: () => out,
    exited,
    daemonPid: () =>
      waitFor(
        'the demo to print the daemon pid',
        () => {
          const m = /daemon pid\s+(\d+)/.exec(out);
          return m ? Number(m[1]) : false;
        },
        { timeoutMs: 60_000, detail: () => out },
      ),
  };
}

describe('the demo on a busy port', () => {
  it('says which port is taken and how to move the demo, and exits 1 without starting a daemon', async () => {
    const d = dir();
    const { server, port } = await listenAnywhere();
    try {
      // --port-base P puts the demo's receiver on P, which this test holds.
      const r = await runCli(['demo', '--port-base', String(port), '--state-dir', join(d, 'demo')], {
        TMPDIR: d,
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`127.0.0.1:${port}`);
      expect(r.stderr).toContain('--port-base 0');
      expect(r.stdout).not.toContain('daemon pid');
    } finally {
      server.close();
    }
  }, 180_000);
});

describe('the demo never leaves a daemon behind', () => {
  it('kill -9 of the demo: the daemon exits and frees the journal LOCK', async () => {
    const d = dir();
    const demo = startDemo(d);
    const pid = await demo.daemonPid();
    await waitFor('the demo to deliver', () => /receiver holds [1-9]/.test(demo.out()), {
      timeoutMs: 60_000,
    });
    demo.child.kill('SIGKILL');
    await demo.exited;
    const t0 = Date.now();
    await waitFor('the orphaned daemon to exit', () => !alive(pid), { timeoutMs: 30_000 });
    const took = Date.now() - t0;
    expect(took).toBeLessThan(30_000);
    // The LOCK is free: a daemon on the demo's own config and state opens the journal.
    const again = await startDaemon(join(d, 'demo', 'demo.yaml'), {
      env: { CENTRAL_TOKEN: 'demo-token', ERP_TOKEN: 'demo-token', PLANTGATE_STOP_DEADLINE_MS: '1000' },
    });
    expect((await again.stop()).code).toBe(0);
  }, 180_000);

  it('a demo whose stdout reader is gone still stops its daemon on SIGINT', async () => {
    const d = dir();
    const demo = startDemo(d);
    const pid = await demo.daemonPid();
    await waitFor('the daemon to be ready', async () => {
      const m = /status\s+(http:\/\/\S+)\/status/.exec(demo.out());
      if (!m) return false;
      return (await fetch(`${m[1]}/readyz`)).status === 200;
    });
    // The reader goes away (as `| tee` killed by the same Ctrl-C), then the Ctrl-C reaches the demo.
    demo.child.stdout?.destroy();
    demo.child.kill('SIGINT');
    const code = await demo.exited;
    expect(code === 0 || code === 1).toBe(true);
    await waitFor('the daemon to exit', () => !alive(pid), { timeoutMs: 30_000 });
  }, 180_000);
});
