// `plantgate sim receiver`: runs the receiver standalone until SIGINT/SIGTERM. Also runnable directly
// (`npx tsx simulators/receiver/cli.ts --port 8080`), which the benchmark uses to put it in its own process.

import { readFileSync } from 'node:fs';
import { runIfMain, untilStopped } from '../kit/standalone.js';
import { type ReceiverOptions, startReceiver } from './receiver.js';

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function bool(v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v === 'boolean') return v;
  return !['false', '0', 'no', 'off'].includes(String(v).toLowerCase());
}

/**
 * Args (yargs-style keys, dashes or underscores): port (default 8080; 0 lets the OS pick), host (127.0.0.1),
 * cert/key/ca (PEM files: HTTPS), request_cert, keep_records (default true), require_authorization_env
 * (name of an env var holding the exact Authorization value to demand). Returns the exit code.
 */
export async function runStandalone(args: Record<string, unknown>): Promise<number> {
  // yargs hands over `keep-records`, `keep_records` or `keepRecords` depending on how it was called.
  const get = (k: string) =>
    args[k] ?? args[k.replace(/_/g, '-')] ?? args[k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())];
  const port = get('port') === undefined ? 8080 : Number(get('port'));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`receiver: --port must be a port number, got ${String(get('port'))}\n`);
    return 2;
  }
  const opts: ReceiverOptions = {
    port,
    host: str(get('host')) ?? '127.0.0.1',
    keep_records: bool(get('keep_records'), true),
  };
  const cert = str(get('cert'));
  const key = str(get('key'));
  if ((cert === undefined) !== (key === undefined)) {
    process.stderr.write('receiver: --cert and --key go together\n');
    return 2;
  }
  try {
    if (cert && key) {
      const ca = str(get('ca'));
      opts.tls = {
        cert: readFileSync(cert),
        key: readFileSync(key),
        ...(ca ? { ca: readFileSync(ca) } : {}),
        requestCert: bool(get('request_cert'), false),
      };
    }
  } catch (err) {
    process.stderr.write(
      `receiver: cannot read a TLS file: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 2;
  }
  const authEnv = str(get('require_authorization_env'));
  if (authEnv) {
    const v = process.env[authEnv];
    if (!v) {
      process.stderr.write(`receiver: environment variable ${authEnv} is not set\n`);
      return 2;
    }
    opts.require_authorization = v;
  }

  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  try {
    receiver = await startReceiver(opts);
  } catch (err) {
    process.stderr.write(`receiver: cannot listen: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  process.stdout.write(`receiver listening on ${receiver.url}\n`);
  process.stdout.write(
    `  stats: GET ${receiver.url}/_recv/stats   faults: POST ${receiver.url}/_recv/faults\n`,
  );
  await untilStopped();
  await receiver.close();
  return 0;
}

runIfMain(import.meta.url, 'receiver', runStandalone);
