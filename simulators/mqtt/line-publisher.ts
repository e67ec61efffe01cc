// A production-line publisher: JSON telemetry per machine on `<prefix>/<machine>/telemetry` at a steady rate,
// with malformed messages mixed in on purpose (truncated JSON, wrong types, missing timestamp, oversize).
// An independent peer: it imports nothing from the product.
import mqtt, { type MqttClient } from 'mqtt';

export type MalformedKind = 'truncated' | 'wrong_type' | 'missing_ts' | 'oversize';
export const MALFORMED_KINDS: readonly MalformedKind[] = [
  'truncated',
  'wrong_type',
  'missing_ts',
  'oversize',
];

export interface LinePublisherOptions {
  url: string;
  /** Messages per second over all machines. */
  rate: number;
  /** Every Nth message is malformed (cycling through the kinds); none when absent. */
  malformedEvery?: number;
  /** Machine names, or how many (named m1..mN); default press1, filler2, packer3. */
  lines?: number | string[];
  /** Topic prefix; default `lyon/line2`. */
  topicPrefix?: string;
  qos?: 0 | 1;
  /** Stop after this many messages. */
  limit?: number;
  /** Size of oversize payloads in bytes; default 300 000 (above the adapter's 256 KiB default). */
  oversizeBytes?: number;
  protocolVersion?: 4 | 5;
  clientId?: string;
  username?: string;
  password?: string;
  /** Most unacknowledged QoS 1 publishes at once; the publisher slows down beyond it. Default 2000. */
  maxOutstanding?: number;
}

export interface LinePublisher {
  /** Messages the broker accepted (PUBACK for QoS 1, written for QoS 0). */
  readonly sent: number;
  /** Of those, how many were malformed on purpose. */
  readonly malformed: number;
  readonly byKind: Readonly<Record<MalformedKind, number>>;
  /** Resolves when `limit` messages were accepted. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export function telemetryPayload(machine: number, n: number, tsMs: number): string {
  const speed = Math.round((12 + 3 * Math.sin(n / 50 + machine)) * 100) / 100;
  const temp = Math.round((45 + 5 * Math.cos(n / 80 + machine)) * 10) / 10;
  return JSON.stringify({ ts: tsMs, speed, temp, count: n });
}

export function malformedPayload(
  kind: MalformedKind,
  n: number,
  tsMs: number,
  oversizeBytes: number,
): string {
  switch (kind) {
    case 'truncated':
      return telemetryPayload(0, n, tsMs).slice(0, 17);
    case 'wrong_type':
      return JSON.stringify({ ts: tsMs, speed: { value: 12.3 }, temp: 45.6, count: n });
    case 'missing_ts':
      return JSON.stringify({ speed: 12.3, temp: 45.6, count: n });
    case 'oversize':
      return JSON.stringify({ ts: tsMs, speed: 12.3, blob: 'x'.repeat(oversizeBytes) });
  }
}

function machineNames(lines: number | string[] | undefined): string[] {
  if (Array.isArray(lines)) return lines;
  if (lines === undefined) return ['press1', 'filler2', 'packer3'];
  return Array.from({ length: lines }, (_, i) => `m${i + 1}`);
}

export async function startLinePublisher(opts: LinePublisherOptions): Promise<LinePublisher> {
  const machines = machineNames(opts.lines);
  const prefix = opts.topicPrefix ?? 'lyon/line2';
  const qos = opts.qos ?? 1;
  const oversize = opts.oversizeBytes ?? 300_000;
  const maxOutstanding = opts.maxOutstanding ?? 2000;
  const clientOpts: mqtt.IClientOptions = {
    protocolVersion: opts.protocolVersion ?? 4,
    clientId: opts.clientId ?? `line-publisher-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    reconnectPeriod: 500,
    clean: true,
  };
  if (opts.username !== undefined) clientOpts.username = opts.username;
  if (opts.password !== undefined) clientOpts.password = opts.password;
  const client: MqttClient = await mqtt.connectAsync(opts.url, clientOpts);
  client.on('error', () => {});

  const byKind: Record<MalformedKind, number> = { truncated: 0, wrong_type: 0, missing_ts: 0, oversize: 0 };
  let issued = 0;
  let sent = 0;
  let malformed = 0;
  let outstanding = 0;
  let stopped = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;

  const publishOne = () => {
    const n = issued;
    issued += 1;
    const now = Date.now();
    const m = n % machines.length;
    const topic = `${prefix}/${machines[m]}/telemetry`;
    let payload: string;
    let kind: MalformedKind | undefined;
    if (opts.malformedEvery && (n + 1) % opts.malformedEvery === 0) {
      kind = MALFORMED_KINDS[Math.floor(n / opts.malformedEvery) % MALFORMED_KINDS.length] as MalformedKind;
      payload = malformedPayload(kind, n, now, oversize);
    } else payload = telemetryPayload(m, n, now);
    outstanding += 1;
    client.publish(topic, payload, { qos }, (err) => {
      outstanding -= 1;
      if (err) return; // not counted: only what the broker accepted is `sent`
      sent += 1;
      if (kind) {
        malformed += 1;
        byKind[kind] += 1;
      }
      if (opts.limit !== undefined && sent >= opts.limit) resolveDone();
    });
  };

  // Drift-free pacing: each tick sends what the schedule owes since t0, bounded by the outstanding window.
  const tick = () => {
    if (stopped) return;
    const owed = Math.floor(((Date.now() - t0) * opts.rate) / 1000);
    while (
      issued < owed &&
      outstanding < maxOutstanding &&
      (opts.limit === undefined || issued < opts.limit)
    ) {
      publishOne();
    }
    if (opts.limit !== undefined && issued >= opts.limit) return;
    timer = setTimeout(tick, 10);
  };
  tick();

  return {
    get sent() {
      return sent;
    },
    get malformed() {
      return malformed;
    },
    byKind,
    done,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      await client.endAsync(true);
    },
  };
}
