// `plantgate sim modbus`: runs the Modbus PLC simulator standalone until SIGINT/SIGTERM. Also runnable directly
// (`npx tsx simulators/modbus/cli.ts --port 5020`), e.g. to put it in its own process for a benchmark.
import { runIfMain, untilStopped } from '../kit/standalone.js';
import { type ModbusSimOptions, startModbusSim } from './server.js';

function int(v: unknown, name: string, min: number, max: number): number | undefined | string {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    return `modbus sim: --${name} must be an integer from ${min} to ${max}, got ${String(v)}`;
  return n;
}

/**
 * Args (yargs-style keys, dashes or underscores): port (default 5020; 0 lets the OS pick), host (127.0.0.1),
 * seed (1), tick_ms (100; 0 freezes values), units ("1,2"), extra_registers (0), rtu_port (unset: no
 * RTU-over-TCP listener; 0 picks one). Returns the exit code.
 */
export async function runStandalone(args: Record<string, unknown>): Promise<number> {
  const get = (k: string) =>
    args[k] ?? args[k.replace(/_/g, '-')] ?? args[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())];
  const opts: ModbusSimOptions = {
    host: typeof get('host') === 'string' ? (get('host') as string) : '127.0.0.1',
  };
  const checks: Array<[keyof ModbusSimOptions, string, number, number, number | undefined]> = [
    ['port', 'port', 0, 65535, 5020],
    ['seed', 'seed', 0, 2 ** 31, undefined],
    ['tickMs', 'tick_ms', 0, 3_600_000, undefined],
    ['extraRegisters', 'extra_registers', 0, 64_536, undefined],
    ['rtuOverTcpPort', 'rtu_port', 0, 65535, undefined],
  ];
  for (const [key, name, min, max, dflt] of checks) {
    const v = int(get(name), name, min, max);
    if (typeof v === 'string') {
      process.stderr.write(`${v}\n`);
      return 2;
    }
    const value = v ?? dflt;
    if (value !== undefined) (opts as Record<string, unknown>)[key] = value;
  }
  const units = get('units');
  if (units !== undefined) {
    const list = String(units)
      .split(',')
      .map((u) => Number(u.trim()));
    if (list.length === 0 || list.some((u) => !Number.isInteger(u) || u < 0 || u > 255)) {
      process.stderr.write(
        `modbus sim: --units must be a comma-separated list of unit ids 0..255, got ${String(units)}\n`,
      );
      return 2;
    }
    opts.units = list;
  }

  let sim: Awaited<ReturnType<typeof startModbusSim>>;
  try {
    sim = await startModbusSim(opts);
  } catch (err) {
    process.stderr.write(`modbus sim: cannot listen: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const unitList = (opts.units ?? [1, 2])
    .map((u, i) => `${u} (${i % 2 === 0 ? 'Press1' : 'Packer3'})`)
    .join(', ');
  process.stdout.write(`${sim.host}:${sim.port}\n`);
  process.stdout.write(
    `modbus sim: Modbus TCP on ${sim.host}:${sim.port}, units ${unitList}; register map in simulators/modbus/README.md\n`,
  );
  if (sim.rtuPort !== undefined)
    process.stdout.write(`modbus sim: RTU over TCP on ${sim.host}:${sim.rtuPort}\n`);
  await untilStopped();
  await sim.stop();
  return 0;
}

runIfMain(import.meta.url, 'modbus sim', runStandalone);
