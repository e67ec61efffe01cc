// Test support (pruned from the .deb like every test-support.ts): starts pymodbus's RTU serial server
// (rtu_server.py next to this file) for a test, and finds a Python that can run it: Debian's python3-pymodbus
// installs into /usr/lib/python3/dist-packages, which only Debian's own /usr/bin/python3 sees (a pyenv or venv
// python3 first on PATH does not).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'rtu_server.py');

function findPython(): { python?: string; found: string[] } {
  const found: string[] = [];
  for (const python of ['/usr/bin/python3', 'python3']) {
    try {
      const v = execFileSync(python, ['-c', 'import pymodbus, serial_asyncio; print(pymodbus.__version__)'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
      // The script speaks pymodbus 3.0's API (Debian 12); 2.x and 3.5+ differ.
      if (v.startsWith('3.0.')) return { python, found };
      found.push(`${python}: pymodbus ${v}`);
    } catch {
      // No such interpreter, or no pymodbus for it.
    }
  }
  return { found };
}

const probe = findPython();

/** The interpreter that runs the server, or undefined when none has pymodbus 3.0. */
export const PYMODBUS_PYTHON = probe.python;
export const NO_PYMODBUS = `pymodbus 3.0 is not installed (apt-get install -y python3-pymodbus)${
  probe.found.length ? `; found ${probe.found.join(', ')}` : ''
}`;

/** Register values by unit id, then "table:address" as in plant.yaml (holding:6, coil:0, ...). */
export type PymodbusData = Record<number, Record<string, Array<number | boolean>>>;

export interface PymodbusRtuServer {
  /** What the server wrote to stderr so far (its errors). */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Serves `data` as RTU on the serial device `device`; resolves once pymodbus has the device open. `dataFile`
 * is where the values are written for the script (inside the test's temp dir).
 */
export async function startPymodbusRtu(opts: {
  device: string;
  baud: number;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
  data: PymodbusData;
  dataFile: string;
  timeoutMs?: number;
}): Promise<PymodbusRtuServer> {
  if (!PYMODBUS_PYTHON) throw new Error(NO_PYMODBUS);
  writeFileSync(opts.dataFile, JSON.stringify(opts.data));
  const child: ChildProcess = spawn(
    PYMODBUS_PYTHON,
    [SCRIPT, opts.device, String(opts.baud), opts.parity, String(opts.stopBits), opts.dataFile],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pymodbus did not open ${opts.device} in ${opts.timeoutMs ?? 15_000} ms: ${err}`));
    }, opts.timeoutMs ?? 15_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(`ready ${opts.device}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pymodbus exited with ${code} before opening ${opts.device}: ${err}`));
    });
  });
  return {
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
