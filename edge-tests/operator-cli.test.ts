// The operator CLI against a real daemon (issues 11.14-11.18, 18.5, 18.9): big integers in quarantine, every
// admin argument validated on both ends, paged listings, dead letters in sequence order, receiver text escaped,
// an admin socket path that is not a socket refused (never deleted), the reload message, help texts, and
// quiet exits on a closed pipe. Journals are pre-filled with the real LevelJournal where a state is needed that
// a flow cannot produce on demand (held bigint samples, a large quarantine).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LevelJournal } from '../src/journal/level-journal.js';
import type { QuarantineEntry } from '../src/journal/types.js';
import { baseConfig, CLI, edgeSuite, runCli, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();
const dir = () => suite.dir();

/** One admin request with the daemon's token, as any client could send it. */
function admin(
  stateDir: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  const token = readFileSync(join(stateDir, 'admin.token'), 'utf8').trim();
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: join(stateDir, 'admin.sock'),
        path,
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Writes quarantine entries into the journal of `stateDir` (as the daemon would), before the daemon starts. */
async function prefillQuarantine(
  stateDir: string,
  entries: Iterable<Omit<QuarantineEntry, 'id'>>,
  maxBytes = 256 * 1024 * 1024,
): Promise<void> {
  const j = new LevelJournal({
    dir: join(stateDir, 'journal'),
    maxBytes,
    whenFull: 'drop_oldest',
    commitIntervalMs: 0,
  });
  await j.open();
  try {
    let chunk: Array<Omit<QuarantineEntry, 'id'>> = [];
    for (const e of entries) {
      chunk.push(e);
      if (chunk.length >= 200) {
        await j.quarantine(chunk);
        chunk = [];
      }
    }
    if (chunk.length > 0) await j.quarantine(chunk);
  } finally {
    await j.close();
  }
}

const ESC = '\u001b';

/** A receiver written for this test: rejects every batch with 400 and an answer full of terminal escapes. */
async function hostileReceiver(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`bad batch ${ESC}[2J${ESC}[31mYOUR TERMINAL IS MINE${ESC}[0m\u0007`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  suite.onCleanup(() => server.close());
  return {
    url: `http://127.0.0.1:${port}/ingest`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A memory figure of a process in bytes from /proc/<pid>/status: VmHWM (peak RSS) or RssAnon (heap, now). */
function procMem(pid: number, field: 'VmHWM' | 'RssAnon'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} for pid ${pid}`);
  return Number(m[1]) * 1024;
}

describe('quarantine commands', () => {
  it('handle big integers, page, validate every argument on both ends and escape device text', async () => {
    const d = dir();
    const at = Date.parse('2026-11-30T10:00:00Z');
    await prefillQuarantine(d, [
      {
        at,
        source: { id: 'opc-1', type: 'opcua' },
        reason: 'unparseable',
        detail: 'UInt64 above 2^53',
        sample: { signal: 'lab.line1.big', value: 2n ** 63n, ts: new Date(at), address: 'ns=1;s=Big' },
      },
      {
        at: at + 1,
        source: { id: 'opc-1', type: 'opcua' },
        reason: 'out_of_range',
        detail: `above 50 ${ESC}[2J${ESC}[31mred`,
        sample: { signal: 'lab.line1.big', value: -(2n ** 70n), address: 'ns=1;s=Big' },
      },
      {
        at: at + 2,
        source: { id: 'mqtt-1', type: 'mqtt' },
        reason: 'unparseable',
        detail: `not JSON ${ESC}]0;title\u0007`,
        raw: `{"v": ${ESC}[1m`,
      },
    ]);
    const file = writeConfig(d, 'plant.yaml', {
      ...baseConfig(d, `${suite.receiver.url}/ingest`),
      sources: [],
    });
    const p = await startDaemon(file);

    // 11.14: list, list --json, show and export work with bigint samples, and say what they did.
    const list = await runCli(['quarantine', 'list', '-c', file]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^3 entries in quarantine/);
    // 11.17: device text is escaped in the human form.
    expect(list.stdout).not.toContain(ESC);
    expect(list.stdout).not.toContain('\u0007');
    expect(list.stdout).toContain('above 50 \\x1b[2J\\x1b[31mred');
    const json = await runCli(['quarantine', 'list', '--json', '-c', file]);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as { entries: Array<{ sample?: { value: unknown } }> };
    expect(doc.entries[0]!.sample!.value).toEqual({ $pg: 'bigint', v: '9223372036854775808' });
    expect(doc.entries[1]!.sample!.value).toEqual({ $pg: 'bigint', v: (-(2n ** 70n)).toString() });
    const show = await runCli(['quarantine', 'show', '--id', '1', '-c', file]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('"9223372036854775808"');
    const exp = await runCli(['quarantine', 'export', '-c', file]);
    expect(exp.code, exp.stderr).toBe(0);
    const lines = exp.stdout.trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { id: number }).id)).toEqual([1, 2, 3]);
    expect(exp.stderr).toMatch(/exported 3 entries/);
    const none = await runCli(['quarantine', 'export', '--reason', 'not_finite', '-c', file]);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/exported 0 entries/);

    // 11.15: pages with a cursor.
    const page1 = await runCli(['quarantine', 'list', '--limit', '2', '-c', file]);
    expect(page1.code).toBe(0);
    expect(page1.stdout.trim().split('\n')).toHaveLength(4);
    expect(page1.stdout).toMatch(/more: add --after 2$/m);
    const page2 = await runCli(['quarantine', 'list', '--limit', '2', '--after', '2', '-c', file]);
    expect(page2.stdout.trim().split('\n')).toHaveLength(2);
    expect(page2.stdout).toMatch(/^3 /m);
    expect(page2.stdout).not.toMatch(/more:/);

    // 11.15 / 18.5: the CLI refuses bad arguments before sending anything (usage error, exit 2) ...
    for (const [args, msg] of [
      [['--limit', 'abc'], /--limit: limit must be a whole number \(got "abc"\)/],
      [['--limit', '0'], /--limit: limit must be at least 1/],
      [['--limit', '100001'], /--limit: limit must be at most 10000/],
      [['--after', '-3'], /--after: after must be a whole number/],
      [
        ['--reason', 'out_of_rnage'],
        /unknown reason code "out_of_rnage"; did you mean "out_of_range"\? Valid: .*"not_finite"/,
      ],
    ] as const) {
      const r = await runCli(['quarantine', 'list', ...args, '-c', file]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    // 18.5: an unknown source (the owner of an entry) is refused with the valid ids, here the sources that
    // still own entries (none is configured any more); a known one filters.
    const typo = await runCli(['quarantine', 'list', '--source', 'opc-2', '-c', file]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(
      /unknown source "opc-2"; did you mean "opc-1"\? Valid: "mqtt-1" or "opc-1"\./,
    );
    const mqttOnly = await runCli(['quarantine', 'export', '--source', 'mqtt-1', '-c', file]);
    expect(mqttOnly.code, mqttOnly.stderr).toBe(0);
    expect(
      mqttOnly.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: number }).id),
    ).toEqual([3]);
    const both = await runCli(['quarantine', 'purge', '--all', '--reason', 'unparseable', '-c', file]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exactly one of --id, --reason or --all/);
    const badId = await runCli(['quarantine', 'show', '--id', 'x1', '-c', file]);
    expect(badId.code).toBe(2);

    // ... and the daemon refuses them too, whoever sends them, without reading anything.
    for (const path of [
      '/quarantine?limit=abc',
      '/quarantine?limit=0',
      '/quarantine?limit=99999999',
      '/quarantine?after=x',
      '/quarantine?reason=out_of_rnage',
      '/quarantine?limit=5&limit=6',
      '/quarantine?lmit=5',
      '/quarantine/show?id=abc',
      '/quarantine/export?reason=Robert%27);DROP',
      '/dead-letters?limit=-1',
      '/dead-letters?sink=nope',
      '/quarantine?source=nope',
      '/status?verbose=1',
    ]) {
      const r = await admin(d, 'GET', path);
      expect(r.status, `${path}: ${r.body}`).toBe(400);
      expect(JSON.parse(r.body)).toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(JSON.parse((await admin(d, 'GET', '/dead-letters?sink=nope')).body).error).toMatch(
      /unknown sink "nope"\. Valid: "central"/,
    );
    for (const body of [
      { ids: [1], source: 'opc-1' },
      {},
      { all: true, reason: 'unparseable' },
      { ids: ['1'] },
      { ids: [] },
      { all: false },
      { all: true, x: 1 },
    ]) {
      const r = await admin(d, 'POST', '/quarantine/purge', body);
      expect(r.status, `${JSON.stringify(body)}: ${r.body}`).toBe(400);
    }
    expect((await admin(d, 'POST', '/dead-letters/purge', { all: true, batch_id: 'a:b:1-2' })).status).toBe(
      400,
    );
    // Nothing was purged by any of the refused requests.
    expect((await p.status()).quarantine).toMatchObject({ total: 3 });
    const st = (await p.status()) as unknown as { quarantine: { held: number } };
    expect(st.quarantine.held).toBe(3);

    // A command whose daemon is gone fails; it never prints an empty success.
    await p.stop();
    const gone = await runCli(['quarantine', 'export', '-c', file]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/is the daemon running|daemon is not running/);
  });
});

describe('dead letters and status', () => {
  it('lists dead letters in sequence order, pages them, escapes the receiver text, and names valid sinks', async () => {
    const d = dir();
    const hostile = await hostileReceiver();
    const cfg = baseConfig(d, hostile.url, {
      generator: {
        interval: '20ms',
        batch: 1,
        limit: 60,
        signals: [{ name: 'lab.line1.temperature', shape: 'sine', min: 20, max: 80, unit: 'Cel' }],
      },
    });
    (cfg.sinks as Array<Record<string, unknown>>)[0]!.batch = { max_records: 4, max_wait: '50ms' };
    const file = writeConfig(d, 'plant.yaml', cfg);
    const p = await startDaemon(file);
    await waitFor(
      'every record dead-lettered',
      async () => {
        const s = await p.status();
        const l = s.sinks.central!.ledger;
        return l.dead_lettered === 60 && l.queued === 0 ? s : false;
      },
      { timeoutMs: 60_000, detail: async () => (await p.status()).sinks },
    );

    const list = await runCli(['dead-letters', 'list', '--limit', '1000', '-c', file]);
    expect(list.code, list.stderr).toBe(0);
    const ids = [...list.stdout.matchAll(/^(edge-test-01:central:(\d+)-(\d+))\s/gm)].map((m) => ({
      id: m[1] as string,
      first: Number(m[2]),
    }));
    expect(ids.length).toBeGreaterThanOrEqual(15);
    const firsts = ids.map((i) => i.first);
    expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    // The check means something: in text order these ids would come out differently.
    expect(ids.map((i) => i.id)).not.toEqual(ids.map((i) => i.id).sort());
    // 11.17: the receiver's answer is shown, escaped.
    expect(list.stdout).not.toContain(ESC);
    expect(list.stdout).not.toContain('\u0007');
    expect(list.stdout).toContain('\\x1b[2J\\x1b[31mYOUR TERMINAL IS MINE\\x1b[0m\\x07');

    // Pages continue in sequence order.
    const seen: string[] = [];
    let after: string | undefined;
    for (let i = 0; i < 100; i++) {
      const r = await runCli([
        'dead-letters',
        'list',
        '--limit',
        '4',
        ...(after ? ['--after', after] : []),
        '-c',
        file,
      ]);
      expect(r.code, r.stderr).toBe(0);
      seen.push(...[...r.stdout.matchAll(/^(edge-test-01:central:\d+-\d+)\s/gm)].map((m) => m[1] as string));
      after = /^more: add --after (\S+)$/m.exec(r.stdout)?.[1];
      if (!after) break;
    }
    expect(seen).toEqual(ids.map((i) => i.id));

    // 18.5: an unknown sink is an error that lists the valid ones.
    const nope = await runCli(['dead-letters', 'list', '--sink', 'centrall', '-c', file]);
    expect(nope.code).toBe(2);
    expect(nope.stderr).toMatch(/unknown sink "centrall"; did you mean "central"\? Valid: "central"/);

    // status and queue stats: human forms escape the receiver text; --json gives the document.
    const status = await runCli(['status', '-c', file]);
    expect(status.stdout).toMatch(/DEGRADED/);
    expect(status.stdout).not.toContain(ESC);
    const stats = await runCli(['queue', 'stats', '-c', file]);
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toMatch(/^Journal: \d+ records/m);
    expect(stats.stdout).toMatch(/^Dead letters: \d+ batches, 60 records$/m);
    expect(stats.stdout).toMatch(/^ {2}central\s+/m);
    expect(stats.stdout).not.toContain(ESC);
    const statsJson = await runCli(['queue', 'stats', '--json', '-c', file]);
    expect(JSON.parse(statsJson.stdout)).toMatchObject({ dead_letters: { records: 60 } });

    // Purge of one batch by id, then of a batch that is not there (an error, exit 2).
    const first = ids[0]!.id;
    const purge = await runCli(['dead-letters', 'purge', '--batch', first, '-c', file]);
    expect(purge.code, purge.stderr).toBe(0);
    expect(JSON.parse(purge.stdout)).toEqual({ purged: 1 });
    const again = await runCli(['dead-letters', 'purge', '--batch', first, '-c', file]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/no dead letter/);
    await p.stop();
    await hostile.close();
  });

  it('says a reload that leaves gateway changes for a restart was applied, not that it failed', async () => {
    const d = dir();
    const cfg = baseConfig(d, `${suite.receiver.url}/ingest`);
    const file = writeConfig(d, 'plant.yaml', cfg);
    const p = await startDaemon(file);
    const next = structuredClone(cfg) as { gateway: Record<string, unknown> };
    next.gateway.site = 'lab-2';
    writeConfig(d, 'plant.yaml', next);
    p.kill('SIGHUP');
    const s = await waitFor('reloaded', async () => {
      const st = await p.status();
      return st.config.reloads === 1 ? st : false;
    });
    const reasons = s.reasons.join('\n');
    expect(reasons).not.toMatch(/fail/);
    expect(reasons).toMatch(
      /configuration reloaded, but the changes to gateway take effect only after a restart \(systemctl restart plantgate\)/,
    );
    expect(s.config.reload_error).toBeUndefined();
    expect((s.config as { restart_pending?: string }).restart_pending).toMatch(/gateway/);
    await p.stop();
  });
});

describe('the admin socket path', () => {
  it('refuses a regular file at admin.socket (check-config and run) and leaves it alone', async () => {
    const d = dir();
    const precious = join(d, 'precious.txt');
    writeFileSync(precious, 'do not delete me\n');
    const file = writeConfig(d, 'plant.yaml', {
      ...baseConfig(d, `${suite.receiver.url}/ingest`),
      admin: { socket: precious },
    });
    const check = await runCli(['check-config', '-c', file]);
    expect(check.code).toBe(78);
    expect(check.stderr).toMatch(/admin\.socket: .*precious\.txt exists and is a regular file, not a socket/);
    const run = await runCli(['run', '-c', file]);
    expect(run.code).toBe(78);
    expect(run.stderr).toMatch(/is a regular file, not a socket/);
    expect(readFileSync(precious, 'utf8')).toBe('do not delete me\n');
  });

  it("refuses another live daemon's socket, and replaces a stale one left by a killed daemon", async () => {
    const d1 = dir();
    const d2 = dir();
    const sock = join(d1, 'admin.sock');
    const a = await startDaemon(
      writeConfig(d1, 'plant.yaml', baseConfig(d1, `${suite.receiver.url}/ingest`)),
    );
    const other = writeConfig(d2, 'plant.yaml', {
      ...baseConfig(d2, `${suite.receiver.url}/ingest`),
      admin: { socket: sock },
    });
    const b = await runCli(['run', '-c', other]);
    expect(b.code).toBe(78);
    expect(b.stderr).toMatch(/admin\.sock is in use by another process/);
    expect((await runCli(['status', '-c', join(d1, 'plant.yaml')])).code).toBe(0);
    a.kill('SIGKILL');
    await a.exited;
    expect(existsSync(sock)).toBe(true);
    const again = await startDaemon(join(d1, 'plant.yaml'));
    expect((await runCli(['status', '-c', join(d1, 'plant.yaml')])).code).toBe(0);
    await again.stop();
  });
});

describe('help and pipes', () => {
  it('documents every option', async () => {
    const sim = await runCli(['sim', '--help']);
    for (const o of ['--port', '--rate', '--tick-ms', '--malformed-every', '--keep-records', '--security'])
      expect(sim.stdout).toContain(o);
    const runHelp = await runCli(['run', '--help']);
    expect(runHelp.stdout).toMatch(/--log-level\s+Log level/);
    const q = await runCli(['quarantine', '--help']);
    expect(q.stdout).toMatch(/--limit\s+list: at most/);
    expect(q.stdout).toMatch(/--json\s+list: print/);
    expect(q.stdout).toMatch(/--all\s+Every entry/);
    expect(q.stdout).toMatch(/Only entries with this reason code: bad_status, /);
    const stray = await runCli(['sim', 'receiver', '--rate', '5']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/--rate is not an option of the receiver simulator/);
  });

  it('exits quietly with 0 when the reader closes the pipe (plantgate schema | head -1)', async () => {
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      // pipefail: the exit status is the CLI's own, not head's. The schema is larger than a pipe buffer.
      const child = spawn(
        'bash',
        ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" schema | head -1`],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => {
        stdout += b.toString();
      });
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
      });
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    expect(r.stdout).toBe('{\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('quarantine export', () => {
  // 11.15: "Memory must stay under 300 MB while exporting 1 GB". The quarantine's default bound is 64 MiB, so the
  // export here is 56 MiB (bounded memory is what is asserted: a fraction of the export); the 1 GB figure comes
  // from edge-tests/bench/export-memory.ts.
  const exportMb = Number(process.env.PLANTGATE_EXPORT_TEST_MB ?? 56);

  // V8's young generation is pinned to Node 20's size (--max-semi-space-size=16) by the launcher, which the
  // harness's startDaemon copies; this is why. Node 24's V8 (13.6) sizes it
  // from the heap limit instead: up to 2 x 64 MiB semi-spaces here (a 4.2 GiB heap limit; Node 20's V8 11.3:
  // 2 x 16 MiB), and the scavenges of an export grow it as far as 2 x 32 MiB. That nursery is bounded and is
  // not what a missing back-pressure fills (data the daemon keeps survives it into the old generation and
  // buffers), but it is as big as the export, so unpinned it hides the difference this test looks for.
  // Measured in the daemon (process.memoryUsage, v8.getHeapSpaceStatistics) over the 56 MiB export: Node 20
  // new space 32 MiB, old space 21 -> 30 MiB, anonymous memory +28 MiB; Node 24 new space 32 -> 64 MiB, old
  // space 19 -> 29 MiB, +56 MiB (+37 MiB for a 14 MiB export, +56 MiB for 64 MiB: sizing, not proportional);
  // Node 24 with this pin +23 MiB. External memory and array buffers stayed under 11 and 7 MiB on both. A
  // synthetic allocation loop grows Node 24's new space to 128 MiB on this machine (Node 20: 32 MiB).

  /**
   * Fills a fresh state directory with `mb` MiB of quarantine entries, starts a daemon on it and exports them
   * through a slow reader, sampling the daemon's memory meanwhile.
   */
  async function slowExport(mb: number) {
    const d = dir();
    const rawSize = 16 * 1024;
    const count = Math.ceil((mb * 1024 * 1024) / rawSize);
    const at = Date.parse('2026-11-30T10:00:00Z');
    const filler = 'x'.repeat(rawSize - 20);
    function* entries(): Generator<Omit<QuarantineEntry, 'id'>> {
      for (let i = 0; i < count; i++)
        yield {
          at: at + i,
          source: { id: 'mqtt-1', type: 'mqtt' },
          reason: 'too_large',
          detail: `payload ${i}`,
          raw: `${String(i).padStart(12, '0')}${filler}`,
        };
    }
    const maxBytes = Math.max(256, mb * 3) * 1024 * 1024;
    await prefillQuarantine(d, entries(), maxBytes);
    const file = writeConfig(d, 'plant.yaml', {
      ...baseConfig(d, `${suite.receiver.url}/ingest`, {
        storage: { max_bytes: `${maxBytes / 1048576}MiB` },
      }),
      sources: [],
    });
    const p = await startDaemon(file);
    const before = procMem(p.pid, 'VmHWM');
    // Anonymous memory (the JS heap and buffers) is what a missing back-pressure fills; the peak RSS also counts
    // LevelDB's memory-mapped table files, which the kernel can drop at will. Sampled while the export runs.
    const anonBefore = procMem(p.pid, 'RssAnon');
    let anonPeak = anonBefore;
    const sampler = setInterval(() => {
      anonPeak = Math.max(anonPeak, procMem(p.pid, 'RssAnon'));
    }, 20);

    // A slow reader: the CLI's stdout is drained at most 64 KiB per timer turn, far slower than the daemon can
    // read its journal, so without back-pressure the whole export would pile up in the daemon.
    const child = spawn(process.execPath, [CLI, 'quarantine', 'export', '-c', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let bytes = 0;
    let lines = 0;
    let lastId = -1;
    let inOrder = true;
    let partial = '';
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.stdout.on('data', (b: Buffer) => {
      bytes += b.length;
      const text = partial + b.toString('latin1');
      const parts = text.split('\n');
      partial = parts.pop() as string;
      for (const l of parts) {
        const id = Number(/"id":(\d+)[,}]/.exec(l)?.[1] ?? Number.NaN);
        if (!(id === lastId + 1 || (lastId === -1 && id === 1))) inOrder = false;
        lastId = id;
        lines += 1;
      }
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), 1);
    });
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    clearInterval(sampler);
    const after = procMem(p.pid, 'VmHWM');
    const growth = anonPeak - anonBefore;
    const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;
    // Reported for the record: the figures the issue asks about.
    console.log(
      `export: ${mib(bytes)}, ${lines} lines; daemon anonymous memory ${mib(anonBefore)} -> peak ${mib(anonPeak)} (+${mib(growth)}); peak RSS ${mib(before)} -> ${mib(after)}`,
    );
    expect(code, stderr).toBe(0);
    expect(lines).toBe(count);
    expect(inOrder).toBe(true);
    expect(bytes).toBeGreaterThan(mb * 1024 * 1024);
    expect(stderr).toMatch(new RegExp(`exported ${count} entries`));
    return { p, file, growth, after };
  }

  it(`streams ${exportMb} MB with back-pressure: the daemon's memory stays bounded, and the export is complete`, async () => {
    // The same export at a quarter of the size first: what it costs must not grow with what is exported.
    const quarter = await slowExport(exportMb / 4);
    await quarter.p.stop();
    const { p, file, growth, after } = await slowExport(exportMb);
    // Bounded: the export costs a constant (GC headroom, LevelDB's block cache), not its size; without
    // back-pressure the whole export (56 MiB and more) piles up here. Measured with the pinned young generation:
    // +30 and +26 MiB at 14 and 56 MiB on Node 20, +19 and +27 MiB on Node 24 (earlier Node 20 runs: +18 to
    // +28 MiB at 14 to 64 MiB).
    expect(growth).toBeLessThan(48 * 1024 * 1024);
    // And not proportional: four times the export may not cost half of the 42 extra MiB more (measured: -4 MiB
    // on Node 20, +8 MiB on Node 24). A daemon that buffers what the reader has not taken yet pays for them all.
    expect(growth - quarter.growth).toBeLessThan(((exportMb * 3) / 4 / 2) * 1024 * 1024);
    expect(after).toBeLessThan(300 * 1024 * 1024);

    // The reader stops early (| head): the CLI exits quietly with 0, and the daemon stays healthy.
    const head = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(
        'bash',
        [
          '-c',
          `set -o pipefail; "${process.execPath}" "${CLI}" quarantine export -c "${file}" | head -c 100`,
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      c.stdout.on('data', (b: Buffer) => {
        out += b.toString();
      });
      c.stderr.on('data', (b: Buffer) => {
        err += b.toString();
      });
      c.on('exit', (cc) => resolve({ code: cc, stdout: out, stderr: err }));
    });
    expect(head.stderr).toBe('');
    expect(head.code).toBe(0);
    expect(head.stdout).toHaveLength(100);
    expect((await p.get('/healthz')).status).toBe(200);

    // A daemon that dies mid-export: the CLI fails (exit 1) and says the output is incomplete.
    const cut = spawn(process.execPath, [CLI, 'quarantine', 'export', '-c', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let cutErr = '';
    cut.stderr.on('data', (b: Buffer) => {
      cutErr += b.toString();
    });
    const cutExit = new Promise<number | null>((r) => cut.on('exit', (c) => r(c)));
    // Hold the reader after the first data: back-pressure stops the daemon mid-export; then it is killed.
    await new Promise<void>((r) =>
      cut.stdout.once('data', () => {
        cut.stdout.pause();
        r();
      }),
    );
    p.kill('SIGKILL');
    await p.exited;
    cut.stdout.resume();
    expect(await cutExit).toBe(1);
    expect(cutErr).toMatch(/incomplete/);
  }, 300_000);
});
