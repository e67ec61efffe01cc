// MQTT ingest benchmark: QoS 1 messages/s through the `mqtt` source into the journal (pipeline + synced LevelDB
// group commits, PUBACK only after the sync) against a bare MQTT.js QoS 1 subscriber that acknowledges on receipt,
// both receiving the same QoS 1 firehose from the same aedes broker (in its
// own process, as a plant broker would be, publishing from inside the broker). Rounds alternate bare/adapter; medians are reported. Target: >= 0.80.
// Standalone: `npx tsx edge-tests/bench/mqtt-bench.ts [--quick] [--messages N]`.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { mqttSourceSchema } from '../../adapters/mqtt/config.js';
import { mqtt as mqttDefinition } from '../../adapters/mqtt/index.js';
import { MqttAdapter } from '../../adapters/mqtt/mqtt.js';
import { createAdapterContext } from '../../src/ingest/ingest.js';
import { LevelJournal } from '../../src/journal/level-journal.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { SpecRegistry } from '../../src/pipeline/specs.js';
import type { BenchResult } from './run.js';

export interface MqttBenchOptions {
  /** Messages queued and drained per measurement (default 50,000; quick 10,000). */
  messages?: number;
  /** Alternating bare/adapter rounds per payload shape (default 3; quick 1). */
  rounds?: number;
  quick?: boolean;
  /** Parent directory of the temporary journals. */
  tmp?: string;
  print?: (line: string) => void;
  /** The same as `print` (the name run.ts passes). */
  log?: (line: string) => void;
}

const TOPIC_FILTER = 'lyon/line2/+/telemetry';
const GATEWAY = 'bench-gw';
const log = pino({ level: 'silent' });

// ---- broker child: aedes plus an in-process firehose (aedes.publish), driven over stdin --------------------------
// The broker runs in its own process, as a plant broker would; publishing inside it avoids measuring a publisher
// client instead of the subscriber. Protocol: stdout "url <url>", "subscribed <client id>", "fired <n>";
// stdin "fire <n> <values per message>".

async function brokerChild(): Promise<void> {
  const { startBroker } = await import('../../simulators/mqtt/broker.js');
  const broker = await startBroker({ port: 0, aedes: { concurrency: 1000 } });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  broker.aedes.on('subscribe', (_subs, client) => {
    if (client) out(`subscribed ${client.id}`);
  });
  out(`url ${broker.url}`);
  let buf = '';
  process.stdin.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const [cmd, nText, vText] = buf.slice(0, nl).trim().split(' ');
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
      if (cmd !== 'fire') continue;
      const n = Number(nText);
      const values = Number(vText) === 3 ? 3 : 1;
      let issued = 0;
      let doneCount = 0;
      const pump = () => {
        // Bounded: at most 1000 publishes waiting for delivery; TCP back-pressure from the subscriber slows it.
        while (issued < n && issued - doneCount < 1000) {
          const k = issued++;
          broker.aedes.publish(
            {
              cmd: 'publish',
              topic: `lyon/line2/m${k % 10}/telemetry`,
              payload: Buffer.from(payload(k, values)),
              qos: 1,
              retain: false,
              dup: false,
            },
            () => {
              doneCount += 1;
              if (doneCount === n) out(`fired ${n}`);
              else if (issued < n) setImmediate(pump);
            },
          );
        }
      };
      pump();
    }
  });
  process.stdin.on('end', () => {
    void broker.stop().then(() => process.exit(0));
  });
}

interface BrokerProcess {
  url: string;
  fire(n: number, values: 1 | 3): void;
  subscribed(clientId: string): Promise<void>;
  stop(): void;
}

async function startBrokerProcess(): Promise<BrokerProcess> {
  const self = fileURLToPath(import.meta.url);
  const args = self.endsWith('.ts') ? ['--import', 'tsx', self] : [self];
  const child: ChildProcess = spawn(process.execPath, [...args, '--broker-child'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiters = new Map<string, () => void>();
  const seen = new Set<string>();
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the broker process did not start within 30 s')), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      let nl = out.indexOf('\n');
      while (nl >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        nl = out.indexOf('\n');
        if (line.startsWith('url ')) {
          clearTimeout(timer);
          resolve(line.slice(4));
        } else if (line.startsWith('subscribed ')) {
          const id = line.slice(11);
          seen.add(id);
          waiters.get(id)?.();
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the broker process exited with ${code}`));
    });
  });
  return {
    url,
    fire(n, values) {
      child.stdin?.write(`fire ${n} ${values}\n`);
    },
    subscribed(clientId) {
      if (seen.has(clientId)) return Promise.resolve();
      return new Promise((resolve) => waiters.set(clientId, resolve));
    },
    stop() {
      child.stdin?.end();
    },
  };
}

function payload(i: number, values: 1 | 3): string {
  const ts = Date.now();
  return values === 1
    ? JSON.stringify({ ts, speed: (i % 1000) / 10 })
    : JSON.stringify({ ts, speed: (i % 1000) / 10, temp: 40 + (i % 100) / 10, count: i });
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Bare MQTT.js QoS 1 subscriber (acknowledges on receipt): time to receive the whole firehose. */
async function bareRound(broker: BrokerProcess, n: number, values: 1 | 3, round: number): Promise<number> {
  const clientId = `bench-bare-${values}-${round}`;
  const c: MqttClient = await mqtt.connectAsync(broker.url, {
    protocolVersion: 4,
    clientId,
    clean: true,
    reconnectPeriod: 0,
  });
  let received = 0;
  c.on('message', () => {
    received += 1;
  });
  const sub = broker.subscribed(clientId);
  await c.subscribeAsync(TOPIC_FILTER, { qos: 1 });
  await sub;
  const t0 = performance.now();
  broker.fire(n, values);
  await waitFor(() => received >= n, 'the bare subscriber');
  const ms = performance.now() - t0;
  await c.endAsync();
  return (n / ms) * 1000;
}

/** The adapter with the real ingest path: pipeline, LevelJournal (synced group commits), acknowledge after persist. */
async function adapterRound(
  broker: BrokerProcess,
  n: number,
  values: 1 | 3,
  round: number,
  tmp: string,
): Promise<number> {
  const cfg = mqttSourceSchema.parse({
    id: `bench-${values}-${round}`,
    type: 'mqtt',
    url: broker.url,
    protocol_version: 4,
    clean_start: true,
    subscriptions: [
      { topic: TOPIC_FILTER, qos: 1, signal: 'lyon.line2.{topic[2]}.{key}', timestamp: { field: 'ts' } },
    ],
  });
  const source = { id: cfg.id, type: 'mqtt' };
  const specs = new SpecRegistry([{ source, declarations: mqttDefinition.declarations(cfg) }]);
  const pipeline = new Pipeline({
    gatewayId: GATEWAY,
    timezone: 'Europe/Paris',
    maxFutureSkewMs: 60_000,
    specs,
  });
  const dir = mkdtempSync(join(tmp, 'plantgate-mqtt-bench-'));
  const journal = new LevelJournal({
    dir,
    maxBytes: 8 * 1024 ** 3,
    whenFull: 'block',
    commitIntervalMs: 10,
    log,
  });
  await journal.open();
  await journal.setSinks([{ id: 'central', select: () => true }]);
  const env = { gatewayId: GATEWAY, site: 'lyon', timezone: 'Europe/Paris', stateDir: dir };
  const adapter = new MqttAdapter(cfg, env);
  try {
    const ctx = createAdapterContext({
      source,
      log,
      signal: new AbortController().signal,
      pipeline,
      journal,
    });
    const sub = broker.subscribed(adapter.clientId);
    await adapter.start(ctx);
    await sub;
    const t0 = performance.now();
    broker.fire(n, values);
    await waitFor(
      () => (adapter.health().counters?.acked ?? 0) >= n,
      'the adapter to acknowledge every message',
    );
    const ms = performance.now() - t0;
    const { records, quarantine } = journal.stats();
    if (quarantine.total > 0) throw new Error(`${quarantine.total} benchmark samples were quarantined`);
    if (records < n * values) throw new Error(`the journal holds ${records} records, expected ${n * values}`);
    return (n / ms) * 1000;
  } finally {
    await adapter.stop();
    await journal.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export async function runMqttBench(opts: MqttBenchOptions = {}): Promise<BenchResult[]> {
  const quick = opts.quick ?? false;
  const n = opts.messages ?? (quick ? 10_000 : 50_000);
  const rounds = opts.rounds ?? (quick ? 1 : 3);
  const tmp = opts.tmp ?? tmpdir();
  const print = opts.print ?? opts.log ?? (() => {});
  const broker = await startBrokerProcess();
  const results: BenchResult[] = [];
  try {
    // Warm-up (not reported): JIT of the broker, MQTT.js, the pipeline and the journal on both sides.
    await bareRound(broker, Math.min(n, 10_000), 3, -1);
    await adapterRound(broker, Math.min(n, 10_000), 3, -1, tmp);
    for (const values of [1, 3] as const) {
      const bare: number[] = [];
      const adapter: number[] = [];
      for (let r = 0; r < rounds; r++) {
        bare.push(await bareRound(broker, n, values, r));
        adapter.push(await adapterRound(broker, n, values, r, tmp));
        print(
          `  ${values} value(s)/message, round ${r + 1}: bare ${Math.round(bare[r] as number)} msg/s, adapter ${Math.round(adapter[r] as number)} msg/s`,
        );
      }
      const a = median(adapter);
      const b = median(bare);
      results.push({
        name: `mqtt_qos1_into_journal_${values}_value${values === 1 ? '' : 's'}`,
        value: Math.round(a),
        unit: 'messages/s',
        baseline: Math.round(b),
        ratio: Math.round((a / b) * 1000) / 1000,
      });
    }
  } finally {
    broker.stop();
  }
  return results;
}

if (process.argv.includes('--broker-child')) {
  void brokerChild();
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--messages');
  const messages = i >= 0 ? Number(argv[i + 1]) : undefined;
  runMqttBench({
    quick: argv.includes('--quick'),
    ...(messages ? { messages } : {}),
    print: (l) => console.log(l),
  }).then(
    (results) => {
      for (const r of results) {
        console.log(
          `${r.name}: ${r.value} ${r.unit} (bare MQTT.js ${r.baseline}; ratio ${r.ratio}; target >= 0.8)`,
        );
      }
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
