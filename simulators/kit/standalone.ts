// Shared plumbing of the simulators' standalone mode (`plantgate sim <kind>` or `npx tsx simulators/<kind>/cli.ts`):
// argument parsing, waiting for Ctrl-C, and running a cli.ts when it is the main module. Simulators import
// nothing from the product; this file is theirs.
import { pathToFileURL } from 'node:url';

/** `--a-b 1 --c=2 --flag` → `{ a_b: '1', c: '2', flag: true }` */
export function parseArgv(argv: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq).replace(/-/g, '_')] = a.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        out[a.slice(2).replace(/-/g, '_')] = next;
        i++;
      } else out[a.slice(2).replace(/-/g, '_')] = true;
    }
  }
  return out;
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

/** Runs `run` with the process arguments when `moduleUrl` is the entry point, and exits with its code. */
export function runIfMain(
  moduleUrl: string,
  name: string,
  run: (args: Record<string, unknown>) => Promise<number>,
): void {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  run(parseArgv(process.argv.slice(2))).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${name}: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
