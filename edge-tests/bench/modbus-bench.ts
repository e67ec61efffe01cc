// Modbus polling benchmark: 10,000 holding registers on one unit of the Modbus simulator (in its own process,
// as a PLC would be). Reports the adapter's requests per poll against the theoretical minimum
// (ceil(10000/125) = 80), and its poll time (requests + decoding + one emit of 10,000 samples) against a bare
// modbus-serial loop issuing the same requests to the same simulator. Target: bare/adapter >= 0.90.
// Standalone: `npx tsx edge-tests/bench/modbus-bench.ts [--quick] [--registers N]`.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ModbusRTU from 'modbus-serial';
import { pino } from 'pino';
import type { AdapterContext } from '../../adapters/kit/types.js';
import { modbusSourceSchema } from '../../adapters/modbus/config.js';
import { ModbusAdapter } from '../../adapters/modbus/modbus.js';
import type { BenchResult } from './run.js';

export interface ModbusBenchOptions {
  /** Registers polled (default 10,000). */
  registers?: number;
  /** Polls measured per round (default 30; quick 8). */
  polls?: number;
  /** Alternating adapter/bare rounds; the median of each side is reported (default 5; quick 3). */
  rounds?: number;
  quick?: boolean;
  print?: (line: string) => void;
}

const START = 1000; // simulator's extra registers begin at holding:1000
const LIMIT = 125;

async function startSimProcess(
  registers: number,
): Promise<{ host: string; port: number; child: ChildProcess }> {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const js = join(here, '../../simulators/modbus/cli.js');
  const args = existsSync(js) ? [js] : ['--import', 'tsx', join(here, '../../simulators/modbus/cli.ts')];
  const child = spawn(
    process.execPath,
    [...args, '--port', '0', '--tick-ms', '0', '--units', '1', '--extra-registers', String(registers)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const where = await new Promise<{ host: string; port: number }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error('the Modbus simulator did not start within 30 s')),
      30_000,
    );
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^([\d.]+):(\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ host: m[1] as string, port: Number(m[2]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the Modbus simulator exited with ${code}`));
    });
  });
  return { ...where, child };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** A bare modbus-serial client issuing the planned requests back to back: the ceiling for this machine. */
async function bareRound(host: string, port: number, registers: number, polls: number): Promise<number> {
  // The package's default export is the client class at run time; its typings describe the module instead.
  const client = new (ModbusRTU as unknown as typeof import('modbus-serial')['default'])();
  await client.connectTCP(host, { port });
  client.setID(1);
  client.setTimeout(2000);
  const poll = async () => {
    for (let a = START; a < START + registers; a += LIMIT) {
      await client.readHoldingRegisters(a, Math.min(LIMIT, START + registers - a));
    }
  };
  await poll(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < polls; i++) await poll();
  const ms = (performance.now() - t0) / polls;
  await new Promise<void>((r) => client.close(() => r()));
  return ms;
}

/** The adapter polling back to back (poll_interval 1 ms): time per poll from emit to emit. */
async function adapterRound(
  host: string,
  port: number,
  registers: number,
  polls: number,
): Promise<{ ms: number; requestsPerPoll: number; samplesPerPoll: number }> {
  const cfg = modbusSourceSchema.parse({
    id: 'bench',
    type: 'modbus',
    tcp: `${host}:${port}`,
    unit_id: 1,
    poll_interval: '1ms',
    timeout: '2s',
    signals: Array.from({ length: registers }, (_, i) => ({
      name: `bench.r${String(i).padStart(5, '0')}`,
      register: `holding:${START + i}`,
      type: 'uint16',
    })),
  });
  const adapter = new ModbusAdapter(cfg);
  const stamps: number[] = [];
  let samples = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const abort = new AbortController();
  const ctx: AdapterContext = {
    id: 'bench',
    log: pino({ level: 'warn' }),
    signal: abort.signal,
    async emit(batch) {
      stamps.push(performance.now());
      samples += batch.length;
      // One warm-up poll, then `polls` measured ones.
      if (stamps.length === polls + 1) done();
      return { accepted: batch.length, quarantined: 0 };
    },
    async reject() {},
  };
  await adapter.start(ctx);
  await finished;
  await adapter.stop();
  const d = adapter.devices()[0];
  const first = stamps[0] as number;
  const last = stamps[polls] as number;
  return {
    ms: (last - first) / polls,
    requestsPerPoll: d ? d.counters.requests / d.counters.cycles : Number.NaN,
    samplesPerPoll: samples / stamps.length,
  };
}

export async function runModbusBench(opts: ModbusBenchOptions = {}): Promise<BenchResult[]> {
  const print = opts.print ?? ((l: string) => process.stderr.write(`${l}\n`));
  const registers = opts.registers ?? 10_000;
  const polls = opts.polls ?? (opts.quick ? 8 : 30);
  const rounds = opts.rounds ?? (opts.quick ? 3 : 5);
  const { host, port, child } = await startSimProcess(registers);
  try {
    const bare: number[] = [];
    const adapter: number[] = [];
    let requestsPerPoll = Number.NaN;
    for (let r = 0; r < rounds; r++) {
      const a = await adapterRound(host, port, registers, polls);
      adapter.push(a.ms);
      requestsPerPoll = a.requestsPerPoll;
      if (a.samplesPerPoll !== registers)
        throw new Error(`expected ${registers} samples per poll, got ${a.samplesPerPoll}`);
      bare.push(await bareRound(host, port, registers, polls));
      print(
        `modbus bench round ${r + 1}/${rounds}: adapter ${a.ms.toFixed(1)} ms/poll, bare ${(bare[bare.length - 1] as number).toFixed(1)} ms/poll, ${a.requestsPerPoll} requests/poll`,
      );
    }
    const minimum = Math.ceil(registers / LIMIT);
    const adapterMs = median(adapter);
    const bareMs = median(bare);
    return [
      {
        name: `modbus requests per poll (${registers} registers)`,
        value: requestsPerPoll,
        unit: 'requests',
        baseline: minimum,
        ratio: minimum / requestsPerPoll,
      },
      {
        name: `modbus poll time (${registers} registers, decode and emit included)`,
        value: Math.round(adapterMs * 100) / 100,
        unit: 'ms',
        baseline: Math.round(bareMs * 100) / 100,
        ratio: Math.round((bareMs / adapterMs) * 1000) / 1000,
      },
    ];
  } finally {
    child.kill('SIGTERM');
    await new Promise<void>((r) => {
      if (child.exitCode !== null) r();
      else child.once('exit', () => r());
    });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--registers');
  const registers = at >= 0 ? Number(argv[at + 1]) : undefined;
  runModbusBench({ quick: argv.includes('--quick'), ...(registers ? { registers } : {}) }).then(
    (results) => {
      for (const r of results) {
        process.stdout.write(`${r.name}: ${r.value} ${r.unit} (baseline ${r.baseline}, ratio ${r.ratio})\n`);
      }
      process.stdout.write(`${JSON.stringify(results)}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`modbus bench: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
