// The options of `plantgate sim <kind>`, declared so that `--help` lists and explains them. Each simulator
// parses its own arguments (simulators/<kind>/cli.ts); this table only documents them and refuses an option
// that belongs to another kind, which would otherwise be ignored without a word. Options not listed here
// still pass through to the simulator (the command is not strict), so a simulator can grow options first.
import type { Options } from 'yargs';

type Kind = 'receiver' | 'opcua' | 'modbus' | 'mqtt';

const str = (describe: string): Options => ({ type: 'string', describe });
const flag = (describe: string): Options => ({ type: 'boolean', describe });

const common: Record<string, Options> = {
  port: str(
    'TCP port to listen on (0 lets the OS pick). Defaults: receiver 8080, opcua 4840, modbus 5020, mqtt 1883.',
  ),
  host: str('Address to listen on (default 127.0.0.1).'),
};

const byKind: Record<Kind, Record<string, Options>> = {
  receiver: {
    cert: str('PEM certificate: serve HTTPS (with --key).'),
    key: str('PEM private key of --cert.'),
    ca: str('PEM CA bundle for client certificates.'),
    'request-cert': flag('Ask clients for a certificate (mutual TLS).'),
    'keep-records': flag(
      'Keep received records for /_recv/records (default true; --no-keep-records for long runs).',
    ),
    'require-authorization-env': str(
      'Name of an environment variable holding the exact Authorization header value to demand.',
    ),
  },
  opcua: {
    seed: str('Seed of the simulated values (default 1).'),
    tick: str('Update period of the values in ms (default 500).'),
    extra: str('Extra Double variables to serve, for load tests (default 0).'),
    users: str('Accepted users as "name:password,..." (default: anonymous only).'),
    pki: str('PKI folder of the server (default: a temporary one).'),
    security: str('Security modes offered: "None,Sign,SignAndEncrypt" (default all).'),
    'max-items-per-call': str("The server's MaxMonitoredItemsPerCall (default 10000)."),
    'reject-unknown-clients': flag('Refuse client certificates that are not trusted (to test that error).'),
  },
  modbus: {
    'tick-ms': str('Update period of the registers in ms (default 100; 0 freezes values).'),
    units: str('Unit ids served, as "1,2" (default 1,2).'),
    'extra-registers': str('Extra holding registers, for load tests (default 0).'),
    'rtu-port': str('Also serve RTU-over-TCP on this port (0 picks one; default none).'),
    seed: str('Seed of the simulated values (default 1).'),
  },
  mqtt: {
    'ws-port': str('Also serve MQTT over WebSocket on this port (default none).'),
    rate: str('Messages per second of the line publisher (default 10; 0 = broker only).'),
    'malformed-every': str('Every Nth message is malformed (default 20; 0 = none).'),
    lines: str('Number of simulated machines (default 3).'),
    'topic-prefix': str('Topic prefix (default lyon/line2).'),
    qos: str('QoS of the published messages, 0 or 1 (default 1).'),
    limit: str('Stop publishing after this many messages.'),
    url: str('Publish to this external broker (e.g. a plant mosquitto) instead of starting one.'),
  },
};

const options: Record<string, Options> = { ...common };
for (const kind of Object.keys(byKind) as Kind[]) Object.assign(options, byKind[kind]);

export const SIM_OPTIONS = {
  options,
  groups: {
    common: Object.keys(common),
    // An option shared by two kinds (seed) is listed under the first.
    receiver: Object.keys(byKind.receiver),
    opcua: Object.keys(byKind.opcua),
    modbus: Object.keys(byKind.modbus).filter((o) => !(o in byKind.opcua)),
    mqtt: Object.keys(byKind.mqtt),
  },
};

/** An option given that belongs to another simulator kind only, or undefined. */
export function simOptionProblem(kind: string, argv: Record<string, unknown>): string | undefined {
  const own = new Set([...Object.keys(common), ...Object.keys(byKind[kind as Kind] ?? {})]);
  const stray = Object.keys(options).filter((o) => !own.has(o) && argv[o] !== undefined);
  if (stray.length === 0) return undefined;
  return `${stray.map((o) => `--${o}`).join(', ')} ${stray.length === 1 ? 'is not an option' : 'are not options'} of the ${kind} simulator; see plantgate sim --help`;
}
