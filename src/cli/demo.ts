// `plantgate demo`: the bundled simulators (OPC UA press, Modbus packer, MQTT line broker + publisher), one
// receiver standing in for the central API and the ERP, and the daemon on config/demo.yaml as a real child
// process. Prints where to look and a summary every few seconds; Ctrl-C (or --for) stops everything cleanly.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startModbusSim } from '../../simulators/modbus/server.js';
import { startBroker } from '../../simulators/mqtt/broker.js';
import { startLinePublisher } from '../../simulators/mqtt/line-publisher.js';
import { startOpcuaSim } from '../../simulators/opcua/server.js';
import { startReceiver } from '../../simulators/receiver/receiver.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export const DEMO_PORTS = {
  receiver: 18080,
  mqtt: 18830,
  opcua: 48400,
  modbus: 15020,
  health: 9464,
} as const;

interface StatusLite {
  status: string;
  reasons: string[];
  ledger: { pipeline: { received: number; ingested: number; quarantined: number } };
  sinks: Record<string, { ledger: { delivered: number; queued: number } }>;
  sources: Record<string, { state: string }>;
}

export async function demoCommand(opts: { config?: string; forSeconds?: number }): Promise<number> {
  const config = resolve(opts.config ?? join(ROOT, 'config/demo.yaml'));
  const stateDir = join(ROOT, '.tmp/demo');
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  const say = (s: string) => process.stdout.write(`${s}\n`);

  say('Starting the simulators ...');
  const receiver = await startReceiver({
    port: DEMO_PORTS.receiver,
    keep_records: false,
    require_authorization: 'Bearer demo-token',
  });
  const broker = await startBroker({ port: DEMO_PORTS.mqtt });
  const publisher = await startLinePublisher({ url: broker.url, rate: 30, malformedEvery: 40, qos: 1 });
  const opcua = await startOpcuaSim({ port: DEMO_PORTS.opcua, seed: 7, securityModes: ['None'] });
  const modbus = await startModbusSim({ port: DEMO_PORTS.modbus, seed: 7 });
  say(`  OPC UA press simulator   ${opcua.endpoint}`);
  say(`  Modbus packer simulator  ${modbus.host}:${modbus.port}`);
  say(`  MQTT broker + line       ${broker.url} (a malformed message every 40)`);
  say(`  central API / ERP        ${receiver.url}/central and ${receiver.url}/erp`);

  const logFile = join(stateDir, 'daemon.log');
  const log = createWriteStream(logFile);
  const daemon = spawn(process.execPath, [join(ROOT, 'dist/src/cli.js'), 'run', '-c', config], {
    env: { ...process.env, CENTRAL_TOKEN: 'demo-token', ERP_TOKEN: 'demo-token' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  daemon.stdout.pipe(log);
  daemon.stderr.on('data', (b: Buffer) => process.stderr.write(b));
  let exited = false;
  const exitedP = new Promise<number>((r) =>
    daemon.on('exit', (code) => {
      exited = true;
      r(code ?? 1);
    }),
  );

  const statusUrl = `http://127.0.0.1:${DEMO_PORTS.health}/status`;
  say('');
  say(`plantgate is starting on ${config}`);
  say(`  status          ${statusUrl}   (also /metrics, /healthz, /readyz)`);
  say(`  operator CLI    node dist/src/cli.js status -c ${config}`);
  say(`  receiver        ${receiver.url}/_recv/stats   (what the central API and the ERP got)`);
  say(`  daemon log      ${logFile}`);
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
    log.end();
    say(`Stopped (daemon exit code ${code}).`);
    return code === 0 ? 0 : 1;
  };

  return new Promise<number>((resolveDemo) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      void stop().then(resolveDemo);
    };
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    if (opts.forSeconds) setTimeout(finish, opts.forSeconds * 1000);
    void exitedP.then((code) => {
      if (!done) {
        say(`The daemon exited unexpectedly with code ${code}; see ${logFile}.`);
        finish();
      }
    });
  });
}
