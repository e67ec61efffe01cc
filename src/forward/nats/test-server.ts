// Test support: real nats-server processes from the Debian package, for the interop tests and the NATS bench.
// One server or a JetStream cluster on loopback, on free ports, with its store in a directory the caller owns;
// every process started is killed by killAll() (call it in afterEach/afterAll). Imports no test runner, so the
// bench (built into dist/) can use it too.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { connect, type NatsConnection, nanos, StorageType } from 'nats';
import { waitFor } from '../../kit/testing/wait.js';

/** The nats-server binary, or undefined (tests then skip with `NATS_SERVER_MISSING`). */
export function natsServerBinary(): string | undefined {
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (existsSync(p)) return p;
  }
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found ? found : undefined;
}

export const NATS_SERVER_MISSING =
  'nats-server is not installed (Debian: apt-get install nats-server); the NATS interop tests need a real server';

/** A port the OS just handed out and released: free unless something takes it in between. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface NatsServerProcess {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Running now. */
  alive(): boolean;
  /** Starts it again on the same ports and store (after kill or stop). */
  start(): Promise<void>;
  /** SIGKILL, waits for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (clean shutdown), waits for the exit. */
  stop(): Promise<void>;
  /** The last lines it logged (for failure messages). */
  log(): string;
}

const running = new Set<ChildProcess>();

/** Kills every server this module started (SIGKILL). */
export function killAllNatsServers(): void {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}

interface ServerSpec {
  name: string;
  port: number;
  storeDir: string;
  cluster?: { name: string; port: number; routes: number[] };
}

function serverArgs(s: ServerSpec): string[] {
  const args = ['-a', '127.0.0.1', '-p', String(s.port), '-js', '-sd', s.storeDir, '-n', s.name];
  if (s.cluster) {
    args.push('--cluster_name', s.cluster.name, '-cluster', `nats://127.0.0.1:${s.cluster.port}`);
    const routes = s.cluster.routes.filter((p) => p !== s.cluster?.port);
    args.push('-routes', routes.map((p) => `nats://127.0.0.1:${p}`).join(','));
  }
  return args;
}

function serverProcess(bin: string, spec: ServerSpec): NatsServerProcess {
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let out = '';
  const start = async (): Promise<void> => {
    if (child) return;
    mkdirSync(spec.storeDir, { recursive: true });
    const c = spawn(bin, serverArgs(spec), { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    running.add(c);
    let ready = false;
    c.stderr?.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
      if (out.includes('Server is ready')) ready = true;
    });
    exited = new Promise((resolve) =>
      c.once('exit', () => {
        running.delete(c);
        if (child === c) child = undefined;
        resolve();
      }),
    );
    await waitFor(
      `nats-server ${spec.name} to be ready on port ${spec.port}`,
      () => {
        if (!child) throw new Error(`nats-server ${spec.name} exited: ${out.slice(-2000)}`);
        return ready;
      },
      { timeoutMs: 20_000, intervalMs: 20 },
    );
  };
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c) return;
    c.kill(signal);
    await exited;
  };
  return {
    name: spec.name,
    port: spec.port,
    url: `nats://127.0.0.1:${spec.port}`,
    alive: () => child !== undefined,
    start,
    kill: () => end('SIGKILL'),
    stop: () => end('SIGTERM'),
    log: () => out.slice(-4000),
  };
}

/** One JetStream server on a free port, its store under `dir`. */
export async function startNatsServer(dir: string, name = 'n1'): Promise<NatsServerProcess> {
  const bin = natsServerBinary();
  if (!bin) throw new Error(NATS_SERVER_MISSING);
  const s = serverProcess(bin, { name, port: await freePort(), storeDir: join(dir, name) });
  await s.start();
  return s;
}

/** `size` JetStream servers routed into one cluster on loopback, each with its own store under `dir`. */
export async function startNatsCluster(dir: string, size = 3): Promise<NatsServerProcess[]> {
  const bin = natsServerBinary();
  if (!bin) throw new Error(NATS_SERVER_MISSING);
  const ports: number[] = [];
  const routes: number[] = [];
  for (let i = 0; i < size; i++) {
    ports.push(await freePort());
    routes.push(await freePort());
  }
  const servers = ports.map((port, i) =>
    serverProcess(bin, {
      name: `n${i + 1}`,
      port,
      storeDir: join(dir, `n${i + 1}`),
      cluster: { name: 'plantgate-test', port: routes[i] as number, routes },
    }),
  );
  await Promise.all(servers.map((s) => s.start()));
  return servers;
}

/** Runs `fn` with a bare client connected to any of `servers` (an independent reader: not the sink's code). */
export async function withClient<T>(servers: string[], fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers, maxReconnectAttempts: 0, timeout: 5000 });
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

/**
 * Creates a file-stored stream, retrying while a fresh cluster is still electing its JetStream meta leader
 * (the create then fails or times out).
 */
export async function createStream(
  servers: string[],
  opts: { name: string; subjects: string[]; replicas?: number; duplicateWindowMs?: number },
): Promise<void> {
  await waitFor(
    `stream ${opts.name} to be created`,
    () =>
      withClient(servers, async (nc) => {
        const jsm = await nc.jetstreamManager({ timeout: 5000 });
        await jsm.streams.add({
          name: opts.name,
          subjects: opts.subjects,
          storage: StorageType.File,
          num_replicas: opts.replicas ?? 1,
          duplicate_window: nanos(opts.duplicateWindowMs ?? 120_000),
        });
        return true;
      }),
    { timeoutMs: 30_000, intervalMs: 250 },
  );
}

/** The server name of the stream's leader (cluster) or undefined while there is none. */
export async function streamLeader(servers: string[], stream: string): Promise<string | undefined> {
  return withClient(servers, async (nc) => {
    const jsm = await nc.jetstreamManager({ timeout: 5000 });
    return (await jsm.streams.info(stream)).cluster?.leader;
  });
}

export interface StreamMessage {
  seq: number;
  subject: string;
  msgId: string | undefined;
  /** The Plantgate-Records header. */
  recordsHeader: number;
  batchId: string;
  recordIds: string[];
}

/** Every message of the stream, read one by one by sequence through the stream API (not a consumer of ours). */
export async function readStream(servers: string[], stream: string): Promise<StreamMessage[]> {
  return withClient(servers, async (nc) => {
    const jsm = await nc.jetstreamManager({ timeout: 5000 });
    const state = (await jsm.streams.info(stream)).state;
    const out: StreamMessage[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      const body = m.json<{ batch_id: string; records: Array<{ id: string }> }>();
      out.push({
        seq,
        subject: m.subject,
        msgId: m.header.get('Nats-Msg-Id') || undefined,
        recordsHeader: Number(m.header.get('Plantgate-Records')),
        batchId: body.batch_id,
        recordIds: body.records.map((r) => r.id),
      });
    }
    return out;
  });
}
