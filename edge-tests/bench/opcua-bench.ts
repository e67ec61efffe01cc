// Benchmark of the opcua adapter: notifications per second from 10,000 monitored items through the adapter,
// normalize and validate into the synced LevelDB journal, against a bare node-opcua client subscribed to the
// same items of the same simulator in the same run (the target is at least 80 % of the bare client).
// Run: `npx tsx edge-tests/bench/opcua-bench.ts [--quick]`; or import `runOpcuaBench`.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ClientMonitoredItemGroup,
  OPCUAClient,
  setErrorLogger,
  setWarningLogger,
  TimestampsToReturn,
} from 'node-opcua';
import { pino } from 'pino';
import type { AdapterContext, EmitResult } from '../../adapters/kit/types.js';
import { OpcuaAdapter } from '../../adapters/opcua/adapter.js';
import { type OpcuaSourceConfig, opcuaSourceSchema } from '../../adapters/opcua/config.js';
import { opcua } from '../../adapters/opcua/index.js';
import { tempClientPki } from '../../simulators/opcua/client-pki.js';
import { createAdapterContext } from '../../src/ingest/ingest.js';
import { LevelJournal } from '../../src/journal/level-journal.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { SpecRegistry } from '../../src/pipeline/specs.js';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline: number | null;
  ratio: number | null;
}

export interface OpcuaBenchOptions {
  /** Shorter measurement windows (for CI and a quick look). */
  quick?: boolean;
  /** Monitored items (default 10,000). */
  items?: number;
  /** Measurement window per client in ms (default 10 s, quick 4 s). */
  windowMs?: number;
  /** Simulator tick: every item changes once per tick (default 100 ms). */
  tickMs?: number;
  /** Subscription publishing interval in ms (default 100). */
  publishingMs?: number;
  log?: (line: string) => void;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The simulator runs in its own process so that producing 100k changes/s does not share an event loop with the
 * clients being measured. Resolves with its endpoint once it listens.
 */
async function spawnSim(items: number, tickMs: number): Promise<{ endpoint: string; child: ChildProcess }> {
  const self = fileURLToPath(import.meta.url);
  const ext = self.endsWith('.ts') ? '.ts' : '.js';
  const cli = join(self, '..', '..', '..', 'simulators', 'opcua', `cli${ext}`);
  const args = [
    ...(ext === '.ts' ? ['--import', 'tsx'] : []),
    cli,
    '--port',
    '0',
    '--extra',
    String(items),
    '--tick',
    String(tickMs),
    '--max-items-per-call',
    '1000',
  ];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'ignore'] });
  const endpoint = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(
      () => reject(new Error('the OPC UA simulator did not start within 60 s')),
      60_000,
    );
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /listening on (opc\.tcp:\/\/\S+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once('exit', (code) => reject(new Error(`the OPC UA simulator exited with code ${code}`)));
  });
  child.stdout?.resume();
  return { endpoint, child };
}

async function stopSim(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/** A bare node-opcua client: one subscription, the items in groups of at most `chunk`, a counter. */
async function bareClient(
  endpoint: string,
  nodes: string[],
  publishingMs: number,
  windowMs: number,
  chunk: number,
): Promise<number> {
  // Its own temp PKI: a client without one writes its certificate into the home folder.
  const pki = await tempClientPki('plantgate-bench-opcua-');
  const client = OPCUAClient.create({
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
    clientCertificateManager: pki.cm,
  });
  await client.connect(endpoint);
  const session = await client.createSession();
  const sub = await session.createSubscription2({
    requestedPublishingInterval: publishingMs,
    requestedMaxKeepAliveCount: 10,
    requestedLifetimeCount: 60,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
  });
  let count = 0;
  const seen = new Set<number>();
  const groups: ClientMonitoredItemGroup[] = [];
  for (let i = 0; i < nodes.length; i += chunk) {
    const part = nodes.slice(i, i + chunk);
    const base = i;
    const g = await sub.monitorItems(
      part.map((nodeId) => ({ nodeId, attributeId: 13 })),
      { samplingInterval: publishingMs, queueSize: 1, discardOldest: true },
      TimestampsToReturn.Both,
    );
    g.on('changed', (_mi, _dv, index: number) => {
      count += 1;
      if (seen.size < nodes.length) seen.add(base + index);
    });
    groups.push(g);
  }
  await waitFor(() => seen.size === nodes.length, 'the first value of every item (bare client)', 60_000);
  const start = count;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, windowMs));
  const rate = ((count - start) * 1000) / (performance.now() - t0);
  await sub.terminate();
  await session.close();
  await client.disconnect();
  await pki.dispose();
  return rate;
}

async function adapterIntoJournal(
  endpoint: string,
  nodes: string[],
  publishingMs: number,
  windowMs: number,
  dir: string,
): Promise<{ rate: number; quarantined: number }> {
  const cfg: OpcuaSourceConfig = opcuaSourceSchema.parse({
    id: 'bench-1',
    type: 'opcua',
    endpoint,
    publishing_interval: `${publishingMs}ms`,
    max_pending: 200_000,
    signals: nodes.map((node, i) => ({ name: `bench.line.item_${i}`, node })),
  });
  const log = pino({ level: 'silent' });
  const journal = new LevelJournal({
    dir: join(dir, 'journal'),
    maxBytes: 16 * 1024 ** 3,
    whenFull: 'block',
    commitIntervalMs: 20,
  });
  await journal.open();
  await journal.setSinks([{ id: 'central', select: () => true }]);
  const specs = new SpecRegistry([
    { source: { id: cfg.id, type: 'opcua' }, declarations: opcua.declarations(cfg) },
  ]);
  const pipeline = new Pipeline({ gatewayId: 'bench-gw', timezone: 'UTC', maxFutureSkewMs: 60_000, specs });
  const abort = new AbortController();
  const inner = createAdapterContext({
    source: { id: cfg.id, type: 'opcua' },
    log,
    signal: abort.signal,
    pipeline,
    journal,
  });
  let accepted = 0;
  let quarantined = 0;
  const seen = new Set<string>();
  // Counts what became durable: the adapter's emit resolves only after the journal's synced write.
  const ctx: AdapterContext = {
    ...inner,
    id: inner.id,
    log: inner.log,
    signal: inner.signal,
    reject: inner.reject,
    async emit(samples): Promise<EmitResult> {
      const r = await inner.emit(samples);
      accepted += r.accepted;
      quarantined += r.quarantined;
      if (seen.size < nodes.length) for (const s of samples) seen.add(s.signal);
      return r;
    },
  };
  const adapter = new OpcuaAdapter(cfg, {
    gatewayId: 'bench-gw',
    site: 'bench',
    timezone: 'UTC',
    stateDir: join(dir, 'state'),
  });
  await adapter.start(ctx);
  try {
    await waitFor(() => seen.size === nodes.length, 'the first value of every item (adapter)', 60_000);
    const start = accepted;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const rate = ((accepted - start) * 1000) / (performance.now() - t0);
    return { rate, quarantined };
  } finally {
    await adapter.stop();
    abort.abort();
    await journal.close();
  }
}

export async function runOpcuaBench(opts: OpcuaBenchOptions = {}): Promise<BenchResult[]> {
  const items = opts.items ?? 10_000;
  const windowMs = opts.windowMs ?? (opts.quick ? 4_000 : 10_000);
  const tickMs = opts.tickMs ?? 100;
  const publishingMs = opts.publishingMs ?? 100;
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  // node-opcua's console chatter would distort a benchmark printed to the console.
  setWarningLogger(() => {});
  setErrorLogger(() => {});
  const dir = mkdtempSync(join(tmpdir(), 'plantgate-opcua-bench-'));
  const sim = await spawnSim(items, tickMs);
  const nodes = Array.from({ length: items }, (_, i) => `ns=1;s=Extra.${i}`);
  try {
    log(
      `simulator: ${items} items changing every ${tickMs} ms (${Math.round((items * 1000) / tickMs)} changes/s); window ${windowMs} ms`,
    );
    const bare1 = await bareClient(sim.endpoint, nodes, publishingMs, windowMs, 1000);
    log(`bare node-opcua client: ${Math.round(bare1)} notifications/s`);
    const a = await adapterIntoJournal(sim.endpoint, nodes, publishingMs, windowMs, dir);
    log(`adapter into the journal: ${Math.round(a.rate)} notifications/s (${a.quarantined} quarantined)`);
    const bare2 = await bareClient(sim.endpoint, nodes, publishingMs, windowMs, 1000);
    log(`bare node-opcua client again: ${Math.round(bare2)} notifications/s`);
    // The baseline is the mean of a run before and a run after, so a drifting machine does not favour either side.
    const baseline = (bare1 + bare2) / 2;
    return [
      {
        name: 'opcua bare node-opcua client notifications/s',
        value: baseline,
        unit: 'notifications/s',
        baseline: null,
        ratio: null,
      },
      {
        name: 'opcua adapter into journal notifications/s',
        value: a.rate,
        unit: 'notifications/s',
        baseline,
        ratio: a.rate / baseline,
      },
      {
        name: 'opcua simulator changes offered/s',
        value: (items * 1000) / tickMs,
        unit: 'changes/s',
        baseline: null,
        ratio: null,
      },
    ];
  } finally {
    await stopSim(sim.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const results = await runOpcuaBench({ quick: process.argv.includes('--quick') });
  console.table(
    results.map((r) => ({
      ...r,
      value: Math.round(r.value),
      ratio: r.ratio === null ? null : Number(r.ratio.toFixed(2)),
    })),
  );
  process.exit(0);
}
