// A Sparkplug B edge node for tests, built on the `sparkplug-client` package (Eclipse Tahu's JavaScript client,
// with its own MQTT.js v4 stack): an implementation independent of plantgate's decoder. It publishes NBIRTH and
// DBIRTHs on every connect and on a Rebirth command, NDATA/DDATA by name or by alias, and can skip seq numbers
// or die without a DISCONNECT so the broker publishes its NDEATH will.
import { createRequire } from 'node:module';
import { newClient, type UPayload } from 'sparkplug-client';

type UMetric = NonNullable<UPayload['metrics']>[number];
export type EdgeMetric = Pick<UMetric, 'name' | 'type' | 'value'> &
  Partial<Pick<UMetric, 'alias' | 'timestamp'>>;

export interface EdgeNodeOptions {
  url: string;
  group: string;
  node: string;
  /** Birth/death sequence number of this session (sparkplug-client itself always uses 0). */
  bdSeq?: number;
  /** Node metrics of the NBIRTH, with their current values (and aliases, if any). */
  metrics?: EdgeMetric[];
  /** Devices and the metrics of their DBIRTH. */
  devices?: Record<string, EdgeMetric[]>;
}

export interface EdgeNode {
  /** NBIRTHs published (the first one included), and Rebirth commands received. */
  readonly births: number;
  readonly rebirthCommands: number;
  /** Resolves after the first NBIRTH (and DBIRTHs) went out. */
  readonly born: Promise<void>;
  nodeData(metrics: EdgeMetric[], opts?: { timestamp?: number }): void;
  deviceData(device: string, metrics: EdgeMetric[], opts?: { timestamp?: number }): void;
  deviceDeath(device: string): void;
  /** Skips `n` seq numbers: the next message arrives with a gap. */
  skipSeq(n: number): void;
  /** Updates the value a later (re)birth announces. */
  setBirthValue(name: string, value: EdgeMetric['value'], device?: string): void;
  /** Dies like a crash: the socket closes without DISCONNECT, so the broker publishes the NDEATH will. */
  kill(): void;
  /** Ends cleanly (no NDEATH: sparkplug-client publishes one only with publishDeath). */
  stop(): void;
}

/** The MQTT.js v4 instance inside sparkplug-client: the will is fixed when it connects. */
interface V4Module {
  connect(url: string, opts: { will?: { payload: Buffer } }): unknown;
}
const requireFromClient = createRequire(createRequire(import.meta.url).resolve('sparkplug-client'));
const mqttV4 = requireFromClient('mqtt') as V4Module;
const payloadCodec = requireFromClient('sparkplug-payload').get('spBv1.0') as {
  encodePayload(p: UPayload): Uint8Array;
};
/** The bdSeq the next client's will must carry; read once by the patched connect below. */
let pendingBdSeq: number | undefined;
const originalConnect = mqttV4.connect.bind(mqttV4);
// sparkplug-client 3.2.4 builds its NDEATH will with bdSeq 0 in its constructor, before a caller could change
// it: the will is rebuilt here with the session's bdSeq (what a compliant edge node sends).
mqttV4.connect = (url, opts) => {
  const bd = pendingBdSeq;
  pendingBdSeq = undefined;
  if (bd === undefined || opts.will === undefined) return originalConnect(url, opts);
  const death = payloadCodec.encodePayload({
    timestamp: Date.now(),
    metrics: [{ name: 'bdSeq', type: 'UInt64', value: bd }],
  });
  return originalConnect(url, { ...opts, will: { ...opts.will, payload: Buffer.from(death) } });
};

interface ClientInternals {
  bdSeq: number;
  seq: number;
  client: {
    options: { reconnectPeriod: number };
    stream: { destroy(): void };
    end(force?: boolean): void;
  };
}

let counter = 0;

export function startEdgeNode(opts: EdgeNodeOptions): EdgeNode {
  const bdSeq = opts.bdSeq ?? 0;
  pendingBdSeq = bdSeq;
  const client = newClient({
    serverUrl: opts.url,
    username: '',
    password: '',
    groupId: opts.group,
    edgeNode: opts.node,
    clientId: `sparkplug-sim-${opts.node}-${process.pid}-${++counter}`,
    keepalive: 5,
    mqttOptions: { reconnectPeriod: 200 },
  });
  const internals = client as unknown as ClientInternals;
  internals.bdSeq = bdSeq;
  const nodeMetrics = (opts.metrics ?? []).map((m) => ({ ...m }));
  const devices = Object.entries(opts.devices ?? {}).map(([id, ms]) => ({
    id,
    metrics: ms.map((m) => ({ ...m })),
  }));
  let births = 0;
  let rebirthCommands = 0;
  let resolveBorn: () => void = () => {};
  const born = new Promise<void>((r) => {
    resolveBorn = r;
  });
  const birth = () => {
    // sparkplug-client appends bdSeq to the NBIRTH metrics array it is given: hand it a copy each time.
    client.publishNodeBirth({ timestamp: Date.now(), metrics: nodeMetrics.map((m) => ({ ...m })) });
    for (const d of devices)
      client.publishDeviceBirth(d.id, { timestamp: Date.now(), metrics: d.metrics.map((m) => ({ ...m })) });
    births += 1;
    resolveBorn();
  };
  client.on('birth', birth);
  client.on('ncmd', (payload) => {
    const rebirth = (payload.metrics ?? []).some(
      (m) => m.name === 'Node Control/Rebirth' && m.value === true,
    );
    if (!rebirth) return;
    rebirthCommands += 1;
    birth();
  });
  client.on('error', () => {});
  return {
    get births() {
      return births;
    },
    get rebirthCommands() {
      return rebirthCommands;
    },
    born,
    nodeData(metrics, o = {}) {
      client.publishNodeData({ timestamp: o.timestamp ?? Date.now(), metrics });
    },
    deviceData(device, metrics, o = {}) {
      client.publishDeviceData(device, { timestamp: o.timestamp ?? Date.now(), metrics });
    },
    deviceDeath(device) {
      client.publishDeviceDeath(device, { timestamp: Date.now() });
    },
    skipSeq(n) {
      internals.seq = (internals.seq + n) % 256;
    },
    setBirthValue(name, value, device) {
      const list = device === undefined ? nodeMetrics : devices.find((d) => d.id === device)?.metrics;
      const m = list?.find((x) => x.name === name);
      if (m) m.value = value;
    },
    kill() {
      internals.client.options.reconnectPeriod = 0;
      internals.client.stream.destroy();
      internals.client.end(true);
    },
    stop() {
      client.stop();
    },
  };
}
