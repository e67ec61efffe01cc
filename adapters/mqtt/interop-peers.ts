// Real third-party peers for the interop tests: Debian's mosquitto on a free port with a temporary config, and
// a TCP proxy whose connections a test can cut (a network failure between gateway and broker).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface Mosquitto {
  url: string;
  port: number;
  /** `mqtts://127.0.0.1:<port>` when started with `tls`. */
  tlsUrl: string | undefined;
  /** Kills the broker (SIGKILL) and starts it again on the same port; sessions are lost (persistence false). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A throw-away CA with a server certificate for 127.0.0.1/localhost and a client certificate (openssl CLI). */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'plantgate-pki-'));
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=plantgate test CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  );
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const [who, cn] of [
    ['server', 'localhost'],
    ['client', 'plantgate-edge'],
  ] as const) {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      f(`${who}.key`),
      '-out',
      f(`${who}.csr`),
    );
    ssl(
      'x509',
      '-req',
      '-in',
      f(`${who}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      f(`${who}.pem`),
      ...(who === 'server' ? ['-extfile', f('server.ext')] : []),
    );
  }
  return {
    dir,
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
  };
}

export async function startMosquitto(opts: { tls?: TestPki } = {}): Promise<Mosquitto> {
  if (!existsSync(MOSQUITTO)) {
    throw new Error(
      `${MOSQUITTO} is missing: install Debian's mosquitto (apt-get install -y mosquitto) to run the interop tests.`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'plantgate-mosquitto-'));
  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : undefined;
  const tlsLines =
    opts.tls && tlsPort !== undefined
      ? [
          `listener ${tlsPort} 127.0.0.1`,
          `cafile ${opts.tls.ca}`,
          `certfile ${opts.tls.serverCert}`,
          `keyfile ${opts.tls.serverKey}`,
          'require_certificate true',
          'use_identity_as_username true',
        ]
      : [];
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      // The default (1000) silently drops QoS 1 messages queued for an offline persistent session.
      'max_queued_messages 100000',
      'log_dest stderr',
      'log_type error',
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      ...tlsLines,
    ].join('\n') + '\n',
  );
  let proc: ChildProcess | undefined;
  let stderr = '';

  async function up(): Promise<void> {
    stderr = '';
    const p = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    p.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(port))) {
      if (p.exitCode !== null) throw new Error(`mosquitto exited with code ${p.exitCode}: ${stderr}`);
      if (Date.now() > deadline)
        throw new Error(`mosquitto did not listen on port ${port} within 10 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async function down(signal: NodeJS.Signals): Promise<void> {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = once(p, 'exit');
    p.kill(signal);
    await exited;
  }

  await up();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    tlsUrl: tlsPort === undefined ? undefined : `mqtts://127.0.0.1:${tlsPort}`,
    async restart() {
      await down('SIGKILL');
      await up();
    },
    async stop() {
      await down('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Proxy {
  url: string;
  /** Cuts every current connection (both sides); new connections are accepted. */
  cut(): number;
  stop(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    cut() {
      const n = pairs.size;
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
      return n;
    },
    async stop() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
