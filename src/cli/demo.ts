// `plantgate demo`: the bundled simulators (OPC UA press, Modbus packer, MQTT line broker + publisher), one
// receiver standing in for the central API and the ERP, and the daemon on config/demo.yaml as a real child
// process. Prints where to look and a summary every few seconds; Ctrl-C (or --for) stops everything cleanly.
//
// The demo must never leave a daemon behind, whatever happens to its own terminal or stdout (a `| tee` that
// died first, a closed terminal, a kill -9 of the demo). So: the daemon writes its log to a file, never to a
// pipe the demo owns; it runs in its own process group so a terminal's Ctrl-C reaches the demo, which stops
// it in order; and it gets an IPC channel to the demo and stops by itself when that channel closes.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { startModbusSim } from '../../simulators/modbus/server.js';
import { startBroker } from '../../simulators/mqtt/broker.js';
import { startLinePublisher } from '../../simulators/mqtt/line-publisher.js';
import { routeLibraryMessages, startOpcuaSim } from '../../simulators/opcua/server.js';
import { startReceiver } from '../../simulators/receiver/receiver.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The ports config/demo.yaml names; `--port-base N` moves them to N..N+4, `--port-base 0` picks free ones. */
export const DEMO_PORTS = {
  receiver: 18080,
  mqtt: 18830,
  opcua: 48400,
  modbus: 15020,
  health: 9464,
} as const;

type DemoPorts = { -readonly [K in keyof typeof DEMO_PORTS]: number };
const PORT_ORDER: Array<keyof DemoPorts> = ['receiver', 'mqtt', 'opcua', 'modbus', 'health'];

interface StatusLite {
  status: string;
  reasons: string[];
  ledger: { pipeline: { received: number; ingested: number; quarantined: number } };
  sinks: Record<string, { ledger: { delivered: number; queued: number } }>;
  sources: Record<string, { state: string }>;
}

export interface DemoOptions {
  config?: string | undefined;
  forSeconds?: number | undefined;
  /** First of five consecutive ports; 0 lets the OS pick each one. Default: the ports in config/demo.yaml. */
  portBase?: number | undefined;
  /** Where the demo keeps the daemon's state, its config and its log (default <repo>/.tmp/demo; wiped). */
  stateDir?: string | undefined;
}

/** A port nobody listens on right now (the OS picks it), for the daemon's health endpoint. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r, j) => {
    srv.once('error', j);
    srv.listen(0, '127.0.0.1', () => r());
  });
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  if (typeof addr !== 'object' || !addr) throw new Error('could not find a free port');
  return addr.port;
}

/** The demo configuration with the ports actually used and the state directory put in. */
function demoConfigText(file: string, ports: DemoPorts, stateDir: string): string {
  let text = readFileSync(file, 'utf8');
  for (const k of PORT_ORDER) text = text.replaceAll(`127.0.0.1:${DEMO_PORTS[k]}`, `127.0.0.1:${ports[k]}`);
  const doc = parseDocument(text);
  doc.setIn(['storage', 'dir'], join(stateDir, 'state'));
  return doc.toString();
}

export async function demoCommand(opts: DemoOptions): Promise<number> {
  const sourceConfig = resolve(opts.config ?? join(ROOT, 'config/demo.yaml'));
  const stateDir = resolve(opts.stateDir ?? join(ROOT, '.tmp/demo'));
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });

  // Our own stdout may be a pipe whose reader is gone (`| tee` killed by the same Ctrl-C): then stop quietly.
  let stdoutGone = false;
  let finish: (() => void) | undefined;
  process.stdout.on('error', () => {
    stdoutGone = true;
    finish?.();
  });
  const say = (s: string) => {
    if (stdoutGone) return;
    try {
      process.stdout.write(`${s}\n`);
    } catch {
      stdoutGone = true;
    }
  };

  const base = opts.portBase;
  const ports: DemoPorts =
    base === undefined
      ? { ...DEMO_PORTS }
      : base === 0
        ? { receiver: 0, mqtt: 0, opcua: 0, modbus: 0, health: await freePort() }
        : { receiver: base, mqtt: base + 1, opcua: base + 2, modbus: base + 3, health: base + 4 };

  // The page is what people open first (issue 16): its address leads, before the simulators' lines.
  say(`plantgate demo: status page at http://127.0.0.1:${ports.health}/ once the daemon is up`);
  say('Starting the simulators ...');
  // The simulator runs in this process: node-opcua's own console warnings (certificate dumps, W27) would otherwise
  // land between the demo's lines. They say nothing about plantgate, so the demo drops them.
  routeLibraryMessages(undefined);
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  let broker: Awaited<ReturnType<typeof startBroker>> | undefined;
  let opcua: Awaited<ReturnType<typeof startOpcuaSim>> | undefined;
  let modbus: Awaited<ReturnType<typeof startModbusSim>> | undefined;
  try {
    receiver = await startReceiver({
      port: ports.receiver,
      keep_records: false,
      require_authorization: 'Bearer demo-token',
    });
    broker = await startBroker({ port: ports.mqtt });
    opcua = await startOpcuaSim({ port: ports.opcua, seed: 7, securityModes: ['None'] });
    modbus = await startModbusSim({ port: ports.modbus, seed: 7 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    process.stderr.write(
      code === 'EADDRINUSE'
        ? `plantgate demo: a port is in use by another process (${(err as Error).message}); ` +
            'move the demo with --port-base N (ports N..N+4) or let it pick free ports with --port-base 0\n'
        : `plantgate demo: a simulator failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    // Stop whatever simulator had started; a simulator that failed half-way may still hold a timer, so exit
    // explicitly (no daemon has been started yet).
    const started = [receiver?.close(), broker?.stop(), opcua?.stop(), modbus?.stop()];
    await Promise.allSettled(started.filter((p) => p !== undefined));
    process.exit(1);
  }
  ports.receiver = receiver.port;
  ports.modbus = modbus.port;
  ports.mqtt = Number(new URL(broker.url).port);
  ports.opcua = Number(new URL(opcua.endpoint.replace(/^opc\.tcp:/, 'http:')).port);
  const publisher = await startLinePublisher({ url: broker.url, rate: 30, malformedEvery: 40, qos: 1 });
  say(`  OPC UA press simulator   ${opcua.endpoint}`);
  say(`  Modbus packer simulator  ${modbus.host}:${modbus.port}`);
  say(`  MQTT broker + line       ${broker.url} (a malformed message every 40)`);
  say(`  central API / ERP        ${receiver.url}/central and ${receiver.url}/erp`);

  const config = join(stateDir, 'demo.yaml');
  writeFileSync(config, demoConfigText(sourceConfig, ports, stateDir));
  const logFile = join(stateDir, 'daemon.log');
  const logFd = openSync(logFile, 'a');
  let daemon: ChildProcess;
  try {
    // The Node flags the launcher (packaging/plantgate.sh) passes; it says why.
    daemon = spawn(
      process.execPath,
      ['--expose-gc', '--max-semi-space-size=16', join(ROOT, 'dist/src/cli.js'), 'run', '-c', config],
      {
        env: { ...process.env, CENTRAL_TOKEN: 'demo-token', ERP_TOKEN: 'demo-token' },
        stdio: ['ignore', logFd, logFd, 'ipc'],
        detached: true,
      },
    );
  } finally {
    closeSync(logFd);
  }
  // Whatever ends this process (an exception, process.exit), the daemon is told to stop; a kill -9 of this
  // process closes the IPC channel, which stops it as well.
  const killDaemon = () => {
    try {
      daemon.kill('SIGTERM');
    } catch {
      // already gone
    }
  };
  process.once('exit', killDaemon);
  let exited = false;
  const exitedP = new Promise<number>((r) =>
    daemon.on('exit', (code, signal) => {
      exited = true;
      r(code ?? (signal ? 128 : 1));
    }),
  );

  const statusUrl = `http://127.0.0.1:${ports.health}/status`;
  say('');
  say(`plantgate is starting on ${config} (from ${sourceConfig})`);
  say(`  status page     http://127.0.0.1:${ports.health}/   (open it in a browser)`);
  say(
    `  ports           receiver ${ports.receiver}, mqtt ${ports.mqtt}, opcua ${ports.opcua}, modbus ${ports.modbus}, health ${ports.health}`,
  );
  say(`  status          ${statusUrl}   (also /metrics, /healthz, /readyz)`);
  say(`  operator CLI    node dist/src/cli.js status -c ${config}`);
  say(`  receiver        ${receiver.url}/_recv/stats   (what the central API and the ERP got)`);
  say(`  daemon log      ${logFile}`);
  say(`  daemon pid      ${daemon.pid}`);
  say('Press Ctrl-C to stop.');
  say('');

  const summary = async () => {
    try {
      const s = (await (await fetch(statusUrl)).json()) as StatusLite;
      const r = receiver.stats();
      const sinks = Object.entries(s.sinks)
        .map(([id, k]) => `${id} delivered ${k.ledger.delivered} queued ${k.ledger.queued}`)
        .join(', ');
      say(
        `[${new Date().toISOString().slice(11, 19)}] ${s.status.toUpperCase()}: received ${s.ledger.pipeline.received}, quarantined ${s.ledger.pipeline.quarantined}; ${sinks}; receiver holds ${r.records} records (${r.duplicate_records} duplicates)`,
      );
      for (const reason of s.reasons) say(`    ! ${reason}`);
    } catch {
      say('  (waiting for the daemon ...)');
    }
  };
  const timer = setInterval(() => void summary(), 5000);

  const stop = async (): Promise<number> => {
    clearInterval(timer);
    say('Stopping: daemon first (it drains and persists cursors), then the simulators ...');
    if (!exited) daemon.kill('SIGTERM');
    const code = await exitedP;
    await publisher.stop();
    await Promise.allSettled([broker.stop(), opcua.stop(), modbus.stop(), receiver.close()]);
    say(`Stopped (daemon exit code ${code}).`);
    return code === 0 ? 0 : 1;
  };

  return new Promise<number>((resolveDemo) => {
    let done = false;
    finish = () => {
      if (done) return;
      done = true;
      void stop().then(resolveDemo);
    };
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    // A closed terminal: stop as for Ctrl-C.
    process.once('SIGHUP', finish);
    if (stdoutGone) finish();
    if (opts.forSeconds) setTimeout(() => finish?.(), opts.forSeconds * 1000);
    void exitedP.then((code) => {
      if (!done) {
        say(`The daemon exited unexpectedly with code ${code}; the end of ${logFile}:`);
        try {
          for (const line of readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-10)) say(`  ${line}`);
        } catch {
          // no log
        }
        finish?.();
      }
    });
  });
}
