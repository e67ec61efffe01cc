// `plantgate sim opcua`: runs the OPC UA PLC simulator until SIGINT/SIGTERM. Faults on demand: type `restart`
// or `drop` (sessions) on stdin, or send SIGHUP (restart) / SIGUSR2 (drop sessions).

import { createInterface } from 'node:readline';
import { runIfMain, untilStopped } from '../kit/standalone.js';
import { routeLibraryMessages, type SimSecurityMode, startOpcuaSim } from './server.js';

function num(v: unknown, fallback: number): number {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : Number.NaN;
  return Number.isFinite(n) ? n : fallback;
}

/**
 * Options (as parsed by the CLI): port (default 4840), seed (1), tick (ms, 500), extra (extra Double items, 0),
 * users ("name:password,..."), pki (PKI folder; a temporary one otherwise), host (127.0.0.1), security
 * ("None,Sign,SignAndEncrypt"), max-items-per-call (the server's MaxMonitoredItemsPerCall), reject-unknown-clients
 * (refuse client certificates not in the server's trusted folder, as a real PLC does).
 * Resolves with the exit code once the simulator has stopped.
 */
export async function runStandalone(args: Record<string, unknown>): Promise<number> {
  // The library's chatter goes to stderr, one line each; stdout carries only the simulator's own lines.
  routeLibraryMessages((line) => process.stderr.write(`${line}\n`));
  const users = typeof args.users === 'string' && args.users !== '' ? args.users.split(',') : [];
  const modes =
    typeof args.security === 'string' ? (args.security.split(',') as SimSecurityMode[]) : undefined;
  const sim = await startOpcuaSim({
    port: num(args.port, 4840),
    seed: num(args.seed, 1),
    tickMs: num(args.tick, 500),
    extraItems: num(args.extra, 0),
    ...((args['max-items-per-call'] ?? args.max_items_per_call) !== undefined
      ? { maxMonitoredItemsPerCall: num(args['max-items-per-call'] ?? args.max_items_per_call, 10000) }
      : {}),
    hostname: typeof args.host === 'string' ? args.host : '127.0.0.1',
    ...(typeof args.pki === 'string' ? { pkiDir: args.pki } : {}),
    ...(modes ? { securityModes: modes } : {}),
    rejectUnknownClients: args['reject-unknown-clients'] === true || args.reject_unknown_clients === true,
    users: users.map((u) => {
      const i = u.indexOf(':');
      return { username: u.slice(0, i), password: u.slice(i + 1) };
    }),
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`OPC UA simulator listening on ${sim.endpoint}`);
  out(`server certificate: ${sim.certificateFile}`);
  out(
    'nodes: ns=1;s=Press1.Hydraulic.Pressure, Press1.Oil.Temperature, Press1.PartCount, Press1.State, Press1.LotId,',
  );
  out(
    '       Press1.Running, Press1.LastCycle, Press1.Vibration[3], Packer3.MotorTemp, Packer3.GoodCount, Packer3.ScrapCount, Packer3.State',
  );
  out(
    '       Types.<Boolean|SByte|Byte|Int16|UInt16|Int32|UInt32|Int64|Int64Big|UInt64|UInt64Big|Float|Double|',
  );
  out('              String|DateTime|LocalizedText|DoubleArray|Int32Array>,');
  out('       Objects/1:Line/1:Press/... with numeric NodeIds (ns=1;i=1010..1014)');
  out('type "restart" or "drop" and Enter to inject a fault; Ctrl-C stops.');

  let busy = false;
  const restart = async () => {
    if (busy) return;
    busy = true;
    try {
      await sim.restart();
      out(`restarted on ${sim.endpoint}`);
    } finally {
      busy = false;
    }
  };
  const drop = () => out(`dropped ${sim.dropSessions()} session(s)`);

  const rl =
    process.stdin.isTTY || !process.stdin.readableEnded
      ? createInterface({ input: process.stdin })
      : undefined;
  rl?.on('line', (line) => {
    const cmd = line.trim();
    if (cmd === 'restart') void restart();
    else if (cmd === 'drop') drop();
    else if (cmd !== '') out('commands: restart, drop');
  });
  const onHup = () => void restart();
  process.on('SIGHUP', onHup);
  process.on('SIGUSR2', drop);

  await untilStopped();
  rl?.close();
  process.off('SIGHUP', onHup);
  process.off('SIGUSR2', drop);
  await sim.stop();
  out('simulator stopped');
  return 0;
}

runIfMain(import.meta.url, 'opcua sim', runStandalone);
