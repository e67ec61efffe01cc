// Memory of a large quarantine export (issue 11.15: "memory must stay under 300 MB while exporting 1 GB"),
// measured once rather than in the suite because 1 GB takes minutes. The serving side is the daemon's own admin
// path (LevelJournal + AdminServer + adminRoutes) in a child process, with a quarantine bound large enough to
// hold the data (the daemon's default bound is 64 MiB); the built CLI exports to a deliberately slow reader.
// Usage: npm run build && node dist/edge-tests/bench/export-memory.js [--mb 1024]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { adminRoutes } from '../../src/health/admin-routes.js';
import { AdminServer } from '../../src/health/admin-server.js';
import type { StatusDocument } from '../../src/health/status-document.js';
import { LevelJournal } from '../../src/journal/level-journal.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/src/cli.js');
const BOUND = { maxBytes: 8 * 1024 ** 3, whenFull: 'drop_oldest' as const };

function journalAt(dir: string): LevelJournal {
  return new LevelJournal({
    dir: join(dir, 'journal'),
    maxBytes: 1024 ** 3,
    whenFull: 'drop_oldest',
    commitIntervalMs: 0,
    quarantine: BOUND,
  });
}

function mem(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;

/** The child: serves the admin routes over the journal until killed. */
async function serve(dir: string): Promise<void> {
  const journal = journalAt(dir);
  await journal.open();
  const status = {
    quarantine: { by_reason: {}, held: 0, held_by_reason: {}, total: 0, replayed: 0, purged: 0 },
    sinks: {},
    dead_letters: { batches: 0, records: 0 },
  } as unknown as StatusDocument;
  const server = new AdminServer({
    socketPath: join(dir, 'admin.sock'),
    tokenPath: join(dir, 'admin.token'),
    routes: adminRoutes({
      status: () => status,
      journal: () => journal,
      replaySample: async () => ({ ok: false }),
      replayDeadLetter: async () => undefined,
      trace: async () => undefined,
      reload: async () => ({ ok: true }),
    }),
    log: pino({ level: 'silent' }),
  });
  await server.start();
  process.stdout.write('ready\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === 'serve') return serve(args[1] as string);
  const mbArg = args.indexOf('--mb');
  const mb = mbArg >= 0 ? Number(args[mbArg + 1]) : 1024;
  const dir = mkdtempSync(join(tmpdir(), 'plantgate-export-bench-'));
  try {
    const rawSize = 16 * 1024;
    const count = Math.ceil((mb * 1048576) / rawSize);
    const filler = 'x'.repeat(rawSize - 20);
    const t0 = Date.now();
    const j = journalAt(dir);
    await j.open();
    for (let i = 0; i < count; i += 200) {
      const chunk = [];
      for (let k = i; k < Math.min(count, i + 200); k++)
        chunk.push({
          at: Date.now(),
          source: { id: 'mqtt-1', type: 'mqtt' },
          reason: 'too_large',
          detail: `payload ${k}`,
          raw: `${String(k).padStart(12, '0')}${filler}`,
        });
      await j.quarantine(chunk);
    }
    await j.close();
    console.log(
      `prefilled ${count} entries (${mb} MiB of payload) in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );

    const child = spawn(process.execPath, [join(import.meta.dirname, 'export-memory.js'), 'serve', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    const pid = child.pid as number;
    const anonBefore = mem(pid, 'RssAnon');
    const rssBefore = mem(pid, 'VmRSS');
    writeFileSync(join(dir, 'plant.yaml'), `storage:\n  dir: ${JSON.stringify(dir)}\n`);

    const t1 = Date.now();
    const cli = spawn(process.execPath, [CLI, 'quarantine', 'export', '-c', join(dir, 'plant.yaml')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let anonPeak = anonBefore;
    let rssPeak = rssBefore;
    let cliPeak = 0;
    const sampler = setInterval(() => {
      anonPeak = Math.max(anonPeak, mem(pid, 'RssAnon'));
      rssPeak = Math.max(rssPeak, mem(pid, 'VmRSS'));
      try {
        cliPeak = Math.max(cliPeak, mem(cli.pid as number, 'VmHWM'));
      } catch {
        // exited
      }
    }, 50);
    let bytes = 0;
    let stderr = '';
    cli.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    // A slow reader (at most 64 KiB per timer turn): the case where a missing back-pressure piles up.
    cli.stdout.on('data', (b: Buffer) => {
      bytes += b.length;
      cli.stdout.pause();
      setTimeout(() => cli.stdout.resume(), 1);
    });
    const code = await new Promise<number | null>((r) => cli.on('exit', (c) => r(c)));
    clearInterval(sampler);
    const hwm = mem(pid, 'VmHWM');
    child.kill('SIGKILL');
    console.log(
      `export of ${mib(bytes)} in ${((Date.now() - t1) / 1000).toFixed(0)} s, CLI exit ${code}, ${stderr.trim()}\n` +
        `serving process: anonymous memory ${mib(anonBefore)} -> peak ${mib(anonPeak)}; RSS ${mib(rssBefore)} -> peak ${mib(rssPeak)} (VmHWM ${mib(hwm)})\n` +
        `CLI process: peak RSS ${mib(cliPeak)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
