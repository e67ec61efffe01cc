// Operations edge tests: SIGTERM drain, SIGHUP reload with a good and a bad file, stall detection, the admin
// interface refusing unauthorised calls, /status and /metrics, the CLI, and sd_notify readiness + watchdog.
import { type ChildProcess, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../simulators/receiver/receiver.js';
import {
  baseConfig,
  killAll,
  ROOT,
  runCli,
  startDaemon,
  tempDir,
  waitFor,
  writeConfig,
} from './lib/harness.js';

let receiver: Receiver;
const temps: Array<{ cleanup(): void }> = [];
const others: ChildProcess[] = [];

beforeAll(async () => {
  receiver = await startReceiver({ port: 0 });
});
afterAll(async () => {
  killAll();
  for (const c of others) c.kill('SIGKILL');
  await receiver.close();
  for (const t of temps) t.cleanup();
});
afterEach(() => {
  killAll();
  receiver.setFaults({ clear: true });
  receiver.resetData();
});

function dir(): string {
  const t = tempDir();
  temps.push(t);
  return t.dir;
}

function rawAdmin(socketPath: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('daemon operations', () => {
  it('exits 78 with FILE:LINE:COL errors on an invalid config, without starting', async () => {
    const d = dir();
    const cfg = baseConfig(d, `${receiver.url}/x`);
    (cfg.sources as Array<Record<string, unknown>>)[0]!.polling_interval = '1s';
    const file = writeConfig(d, 'bad.yaml', cfg);
    const r = await runCli(['run', '-c', file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(
      new RegExp(
        `${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+ sources\\.0\\.polling_interval: unknown key`,
      ),
    );
  });

  it('serves /healthz, /readyz, /status with the ledger, /metrics, and a human `plantgate status`', async () => {
    const d = dir();
    const cfg = baseConfig(d, `${receiver.url}/ingest`);
    const file = writeConfig(d, 'plant.yaml', cfg);
    const p = await startDaemon(file);
    expect((await p.get('/healthz')).status).toBe(200);
    expect((await p.get('/readyz')).status).toBe(200);
    const st = await waitFor('records delivered', async () => {
      const s = await p.status();
      return s.sinks.central!.ledger.delivered > 100 ? s : false;
    });
    expect(st.status).toBe('ok');
    expect(st.reasons).toEqual([]);
    expect(st.sources['gen-1']).toMatchObject({
      type: 'generator',
      state: 'connected',
      ledger_balanced: true,
    });
    expect(st.ledger.pipeline.balanced).toBe(true);
    expect(st.sinks.central!.ledger.balanced).toBe(true);
    const q = (st.sources['gen-1'] as unknown as { quality: Record<string, unknown> }).quality;
    expect(q.conformity).toBe(1);
    expect(q.signals_declared).toBe(2);
    const metrics = await p.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/plantgate_sink_records\{sink="central",state="delivered"\} \d+/);
    expect(metrics.body).toMatch(/plantgate_samples_received_total\{source="gen-1"\} \d+/);
    const human = await runCli(['status', '-c', file]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/OK/);
    expect(human.stdout).toMatch(/gen-1\s+generator\s+connected/);
    expect(human.stdout).toMatch(/ledger balanced/);
    await p.stop();
  });

  it('refuses admin calls without the token, and keeps the socket and token private to the service user', async () => {
    const d = dir();
    const file = writeConfig(d, 'plant.yaml', baseConfig(d, `${receiver.url}/ingest`));
    const p = await startDaemon(file);
    const sock = join(d, 'admin.sock');
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    expect(statSync(join(d, 'admin.token')).mode & 0o777).toBe(0o600);
    expect(await rawAdmin(sock, '/status')).toBe(401);
    expect(await rawAdmin(sock, '/status', { authorization: 'Bearer wrong' })).toBe(401);
    // The health port offers no admin action at all.
    expect((await p.get('/quarantine/purge')).status).toBe(404);
    const ok = await runCli(['queue', 'stats', '-c', file]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toHaveProperty('journal');
    await p.stop();
  });

  it('SIGTERM drains in-flight work and persists cursors: a restart resends nothing already acknowledged', async () => {
    const d = dir();
    const cfg = baseConfig(d, `${receiver.url}/ingest`);
    Object.assign((cfg.sources as Array<Record<string, unknown>>)[0]!, {
      interval: '50ms',
      batch: 50,
      limit: 2000,
    });
    const file = writeConfig(d, 'plant.yaml', cfg);
    const p = await startDaemon(file);
    await waitFor('some deliveries', () => receiver.stats().records > 500);
    const exit = await p.stop();
    expect(exit.code).toBe(0);
    const second = await startDaemon(writeConfig(d, 'drain.yaml', { ...cfg, sources: [] }));
    const st = await waitFor('drained', async () => {
      const s = await second.status();
      return s.sinks.central!.ledger.queued === 0 ? s : false;
    });
    const rs = receiver.stats();
    expect(rs.duplicate_batches).toBe(0);
    expect(rs.records).toBe(st.sinks.central!.ledger.delivered);
    await second.stop();
  });

  it('SIGHUP applies a good file (changed source restarted, sink untouched) and keeps running on a bad one', async () => {
    const d = dir();
    const cfg = baseConfig(d, `${receiver.url}/ingest`);
    const file = writeConfig(d, 'plant.yaml', cfg);
    const p = await startDaemon(file);
    await waitFor('flow', () => receiver.stats().records > 0);
    // Good file: add a second source.
    const next = structuredClone(cfg) as Record<string, unknown>;
    (next.sources as unknown[]).push({
      id: 'gen-2',
      type: 'generator',
      interval: '100ms',
      signals: [{ name: 'lab.line2.speed', shape: 'ramp', min: 0, max: 10 }],
    });
    writeConfig(d, 'plant.yaml', next);
    p.kill('SIGHUP');
    await waitFor('gen-2 running', async () => {
      const s = await p.status();
      return s.sources['gen-2'] && s.sources['gen-2'].received > 0 ? s : false;
    });
    const s1 = await p.status();
    expect(s1.config.reloads).toBe(1);
    expect(s1.config.reload_error).toBeUndefined();
    // Bad file: the old configuration keeps running and /status says why.
    writeConfig(d, 'plant.yaml', { ...next, sinks: [{ id: 'central', type: 'http', url: 'not a url' }] });
    p.kill('SIGHUP');
    const s2 = await waitFor('reload error reported', async () => {
      const s = await p.status();
      return s.config.reload_error ? s : false;
    });
    expect(s2.config.reload_error).toMatch(/plant\.yaml:\d+:\d+ sinks\.0\.url/);
    expect(s2.status).toBe('degraded');
    expect(s2.reasons.join(' ')).toMatch(/configuration reload failed/);
    const before = receiver.stats().records;
    await waitFor('flow continues on the old config', () => receiver.stats().records > before);
    await p.stop();
  });

  it('says degraded with a reason in words when a connected source stops delivering', async () => {
    const d = dir();
    const cfg = baseConfig(d, `${receiver.url}/ingest`, {
      health: { listen: '127.0.0.1:0', stall_after_intervals: 2 },
    });
    Object.assign((cfg.sources as Array<Record<string, unknown>>)[0]!, {
      interval: '500ms',
      batch: 1,
      limit: 2,
    });
    const p = await startDaemon(writeConfig(d, 'plant.yaml', cfg));
    const st = await waitFor(
      'stall detected',
      async () => {
        const s = await p.status();
        return s.status === 'degraded' ? s : false;
      },
      { timeoutMs: 20_000 },
    );
    expect(st.reasons.join('\n')).toMatch(/source gen-1: no samples for \d+ s, expected every 500 ms/);
    expect(st.sources['gen-1']!.state).toBe('connected');
    await p.stop();
  });

  it('tells systemd READY=1 with its main pid and pets the watchdog through a NOTIFY_SOCKET', async () => {
    const d = dir();
    const sockPath = join(d, 'notify.sock');
    const listener = spawn('python3', [join(ROOT, 'edge-tests/lib/notify-listener.py'), sockPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    others.push(listener);
    const got: string[] = [];
    listener.stdout.on('data', (b: Buffer) => got.push(...b.toString().split('\n').filter(Boolean)));
    await waitFor('listener', () => got.includes('listening'));
    const p = await startDaemon(writeConfig(d, 'plant.yaml', baseConfig(d, `${receiver.url}/ingest`)), {
      env: { NOTIFY_SOCKET: sockPath, WATCHDOG_USEC: '1000000' },
    });
    await waitFor('READY=1', () => got.some((l) => l.includes('READY=1')));
    const ready = got.find((l) => l.includes('READY=1')) as string;
    expect(ready).toContain(`MAINPID=${p.pid}`);
    await waitFor('two watchdog pings', () => got.filter((l) => l.includes('WATCHDOG=1')).length >= 2);
    await p.stop();
    await waitFor('STOPPING=1', () => got.some((l) => l.includes('STOPPING=1')));
    listener.kill('SIGKILL');
  });
});
