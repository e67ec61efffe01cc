// Sparkplug B host side of the `mqtt` source (`payload: sparkplug_b`): turns NBIRTH/DBIRTH/NDATA/DDATA/NDEATH/
// DDEATH into samples. It keeps, per edge node, the metric names and aliases of the last BIRTH, the last value of
// each metric (a DEATH re-sends them with quality bad), the expected `seq` (0-255) and the NBIRTH's bdSeq. What it
// cannot resolve (DATA before any BIRTH, an unknown alias or device, a seq gap) asks the caller for a Rebirth.
import sparkplugPayload from 'sparkplug-payload';
import type { RawSample } from '../../src/model/records.js';
import { type MqttSubscriptionConfig, SPARKPLUG_NAMESPACE } from './config.js';
import { cutRaw, type RejectReason, sanitizeSegment, topicMatches } from './mapping.js';
import {
  type DecodedMetric,
  type DecodedPayload,
  datatypeName,
  decodeSparkplug,
  metricValue,
  toNumber,
  valueTypeOf,
} from './sparkplug-values.js';

/** Edge nodes one subscription keeps state for; the BIRTH of one more is quarantined (memory stays bounded). */
export const MAX_NODES = 10_000;
/** Metrics per node or device. */
export const MAX_METRICS = 50_000;

/** Metrics that steer the Sparkplug session, not readings of the plant. */
function isControlMetric(name: string): boolean {
  return name === 'bdSeq' || name.startsWith('Node Control/') || name.startsWith('Device Control/');
}

export interface Reject {
  reason: RejectReason;
  detail: string;
  /** The payload (base64, cut) or, for one metric, a short description of it. */
  raw: string;
}

export interface SparkplugOutcome {
  samples: RawSample[];
  rejects: Reject[];
  /** An edge node to send `Node Control/Rebirth` to (the caller rate-limits per node). */
  rebirth?: { group: string; node: string };
}

interface MetricState {
  signal: string;
  datatype: number;
  /** Last value seen (BIRTH or DATA), re-sent with quality bad on a DEATH; undefined until one arrives. */
  last: number | bigint | boolean | string | undefined;
}

interface Scope {
  byName: Map<string, MetricState>;
  /** Alias (as a decimal string: aliases are uint64) -> metric name. */
  aliases: Map<string, string>;
  alive: boolean;
}

interface NodeState {
  group: string;
  node: string;
  born: boolean;
  alive: boolean;
  bdSeq: string | undefined;
  nextSeq: number;
  scope: Scope;
  devices: Map<string, Scope>;
}

export interface SparkplugCounters {
  sparkplug_births: number;
  sparkplug_deaths: number;
  sparkplug_stale_deaths: number;
  sparkplug_seq_gaps: number;
  sparkplug_unresolved: number;
  sparkplug_null_metrics: number;
  sparkplug_ignored: number;
  rebirths_requested: number;
  rebirths_suppressed: number;
}

export function newSparkplugCounters(): SparkplugCounters {
  return {
    sparkplug_births: 0,
    sparkplug_deaths: 0,
    sparkplug_stale_deaths: 0,
    sparkplug_seq_gaps: 0,
    sparkplug_unresolved: 0,
    sparkplug_null_metrics: 0,
    sparkplug_ignored: 0,
    rebirths_requested: 0,
    rebirths_suppressed: 0,
  };
}

type Part = string | 'group' | 'node' | 'device' | 'metric';

function compile(template: string): Array<{ text: string } | { slot: Part }> {
  const out: Array<{ text: string } | { slot: Part }> = [];
  let last = 0;
  for (const m of template.matchAll(/\{(group|node|device|metric)\}/g)) {
    if (m.index > last) out.push({ text: template.slice(last, m.index) });
    out.push({ slot: m[1] as Part });
    last = m.index + m[0].length;
  }
  if (last < template.length) out.push({ text: template.slice(last) });
  return out;
}

/** Raw payload for quarantine: base64 of the bytes, cut like every raw payload. */
export function rawBase64(payload: Uint8Array): string {
  const head = payload.length > 1024 ? payload.subarray(0, 1024) : payload;
  return cutRaw(`base64:${Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('base64')}`);
}

const MESSAGE_TYPES = new Set(['NBIRTH', 'NDATA', 'NDEATH', 'DBIRTH', 'DDATA', 'DDEATH']);

/** One sparkplug_b subscription: topic match, per-node state, naming. */
export class SparkplugMapper {
  readonly cfg: MqttSubscriptionConfig;
  readonly #filter: string[];
  readonly #template: ReturnType<typeof compile>;
  readonly #nodes = new Map<string, NodeState>();
  readonly counters: SparkplugCounters;

  constructor(cfg: MqttSubscriptionConfig, counters: SparkplugCounters) {
    this.cfg = cfg;
    this.#filter = cfg.topic.split('/');
    this.#template = compile(cfg.signal);
    this.counters = counters;
  }

  matches(levels: readonly string[]): boolean {
    return topicMatches(this.#filter, levels);
  }

  /** Online and dead edge nodes, for /status. */
  nodeStates(): { online: number; dead: string[] } {
    let online = 0;
    const dead: string[] = [];
    for (const n of this.#nodes.values()) {
      if (n.alive) online += 1;
      else if (n.born) dead.push(`${n.group}/${n.node}`);
    }
    return { online, dead };
  }

  #name(group: string, node: string, device: string | undefined, metric: string): string {
    let out = '';
    for (const p of this.#template) {
      if ('text' in p) out += p.text;
      else if (p.slot === 'group') out += sanitizeSegment(group);
      else if (p.slot === 'node') out += sanitizeSegment(node);
      else if (p.slot === 'device') out += device === undefined ? '_' : sanitizeSegment(device);
      else out += sanitizeSegment(metric);
    }
    return out;
  }

  /** Maps one message; never throws. `now` is the receive time (epoch ms). */
  map(
    topic: string,
    levels: readonly string[],
    payload: Uint8Array,
    maxPayload: number,
    now: number,
  ): SparkplugOutcome {
    const out: SparkplugOutcome = { samples: [], rejects: [] };
    const whole = (reason: RejectReason, detail: string) => {
      out.rejects.push({ reason, detail, raw: rawBase64(payload) });
      return out;
    };
    if (payload.length > maxPayload) {
      return whole(
        'too_large',
        `payload of ${payload.length} bytes exceeds max_payload (${maxPayload} bytes)`,
      );
    }
    const [ns, group, type, node, device, ...extra] = levels;
    if (ns !== SPARKPLUG_NAMESPACE || group === undefined || type === undefined || !MESSAGE_TYPES.has(type)) {
      // Commands (ours included: we subscribe to the whole group) and STATE are not data.
      this.counters.sparkplug_ignored += 1;
      return out;
    }
    const deviceLevel = type.startsWith('D');
    if (
      node === undefined ||
      (deviceLevel ? device === undefined : device !== undefined) ||
      extra.length > 0
    ) {
      return whole('unexpected_topic', `"${topic}" is not a Sparkplug B ${type} topic`);
    }
    let p: DecodedPayload;
    try {
      p = decodeSparkplug(payload);
    } catch (err) {
      return whole('unparseable', `payload is not a Sparkplug B protobuf: ${(err as Error).message}`);
    }
    const key = `${group}/${node}`;
    let st = this.#nodes.get(key);
    const payloadTs = Object.hasOwn(p, 'timestamp') ? toNumber(p.timestamp) : undefined;

    if (type === 'NBIRTH') {
      if (st === undefined) {
        if (this.#nodes.size >= MAX_NODES) {
          return whole('too_large', `more than ${MAX_NODES} Sparkplug edge nodes on this subscription`);
        }
        st = {
          group,
          node,
          born: false,
          alive: false,
          bdSeq: undefined,
          nextSeq: 0,
          scope: newScope(),
          devices: new Map(),
        };
        this.#nodes.set(key, st);
      }
      this.counters.sparkplug_births += 1;
      st.born = true;
      st.alive = true;
      st.scope = newScope();
      // A new NBIRTH starts a new session: the devices must be born again in it.
      st.devices.clear();
      st.nextSeq = (seqOf(p) + 1) % 256;
      const bd = p.metrics.find((m) => m.name === 'bdSeq');
      st.bdSeq = bd === undefined ? undefined : bdSeqText(bd);
      this.#birth(st, st.scope, undefined, p, payloadTs, out);
      return out;
    }
    if (type === 'NDEATH') {
      const bd = p.metrics.find((m) => m.name === 'bdSeq');
      const bdSeq = bd === undefined ? undefined : bdSeqText(bd);
      if (st === undefined || !st.alive || bdSeq !== st.bdSeq) {
        // A will from an earlier session (or a node we never saw born) says nothing about the current one.
        this.counters.sparkplug_stale_deaths += 1;
        return out;
      }
      this.counters.sparkplug_deaths += 1;
      st.alive = false;
      // The will's timestamp is when the node connected, not when it died: the receive time is the death time.
      this.#dead(st, st.scope, undefined, now, out);
      for (const [id, d] of st.devices) if (d.alive) this.#dead(st, d, id, now, out);
      return out;
    }

    // Every other message belongs to a born node's session and carries its seq.
    if (st === undefined || !st.alive) {
      this.counters.sparkplug_unresolved += 1;
      out.rebirth = { group, node };
      return whole(
        'missing_field',
        `${type} from edge node ${key} ${st === undefined ? 'before any NBIRTH' : 'after its NDEATH'}: metric names unknown; Rebirth requested`,
      );
    }
    const seq = seqOf(p);
    if (seq !== st.nextSeq) {
      this.counters.sparkplug_seq_gaps += 1;
      out.rebirth = { group, node };
    }
    st.nextSeq = (seq + 1) % 256;

    const dev = device as string;
    if (type === 'DBIRTH') {
      if (!st.devices.has(dev) && st.devices.size >= MAX_METRICS) {
        return whole('too_large', `more than ${MAX_METRICS} devices on edge node ${key}`);
      }
      this.counters.sparkplug_births += 1;
      const scope = newScope();
      st.devices.set(dev, scope);
      this.#birth(st, scope, dev, p, payloadTs, out);
      return out;
    }
    const scope = deviceLevel ? st.devices.get(dev) : st.scope;
    if (type === 'DDEATH' && (scope === undefined || !scope.alive)) {
      // The death of a device this session never saw born, or a repeat: nothing to mark.
      this.counters.sparkplug_stale_deaths += 1;
      return out;
    }
    if (scope === undefined || !scope.alive) {
      this.counters.sparkplug_unresolved += 1;
      out.rebirth = { group, node };
      return whole(
        'missing_field',
        `${type} for device ${key}/${dev} ${scope === undefined ? 'before its DBIRTH' : 'after its DDEATH'}: metric names unknown; Rebirth requested`,
      );
    }
    if (type === 'DDEATH') {
      this.counters.sparkplug_deaths += 1;
      scope.alive = false;
      this.#dead(st, scope, dev, payloadTs ?? now, out);
      return out;
    }
    this.#data(st, scope, deviceLevel ? dev : undefined, p, payloadTs, payload, out);
    return out;
  }

  #birth(
    st: NodeState,
    scope: Scope,
    device: string | undefined,
    p: DecodedPayload,
    payloadTs: number | undefined,
    out: SparkplugOutcome,
  ): void {
    for (const m of p.metrics) {
      const name = m.name;
      if (name === '') continue;
      if (isControlMetric(name)) {
        // Not a reading, but DATA may name it by alias: known, so it is skipped rather than "unresolved".
        if (Object.hasOwn(m, 'alias') && scope.aliases.size < MAX_METRICS)
          scope.aliases.set(String(toNumber(m.alias)), name);
        continue;
      }
      if (scope.byName.size >= MAX_METRICS) {
        out.rejects.push(metricReject('too_large', `more than ${MAX_METRICS} metrics in one BIRTH`, m));
        break;
      }
      const ms: MetricState = {
        signal: this.#name(st.group, st.node, device, name),
        datatype: m.datatype,
        last: undefined,
      };
      scope.byName.set(name, ms);
      if (Object.hasOwn(m, 'alias')) scope.aliases.set(String(toNumber(m.alias)), name);
      this.#sample(ms, m, name, payloadTs, device, st, out);
    }
  }

  #data(
    st: NodeState,
    scope: Scope,
    device: string | undefined,
    p: DecodedPayload,
    payloadTs: number | undefined,
    payload: Uint8Array,
    out: SparkplugOutcome,
  ): void {
    const unresolved: string[] = [];
    for (const m of p.metrics) {
      let name: string | undefined = m.name !== '' ? m.name : undefined;
      if (name === undefined && Object.hasOwn(m, 'alias'))
        name = scope.aliases.get(String(toNumber(m.alias)));
      const ms = name === undefined ? undefined : scope.byName.get(name);
      if (ms === undefined || name === undefined) {
        if (name === undefined || !isControlMetric(name))
          unresolved.push(name ?? `alias ${String(toNumber(m.alias))}`);
        continue;
      }
      this.#sample(ms, m, name, payloadTs, device, st, out);
    }
    if (unresolved.length > 0) {
      // The node's BIRTH did not announce them (a missed DBIRTH/NBIRTH): ask for a new one.
      this.counters.sparkplug_unresolved += 1;
      out.rebirth = { group: st.group, node: st.node };
      const where = device === undefined ? `${st.group}/${st.node}` : `${st.group}/${st.node}/${device}`;
      out.rejects.push({
        reason: 'missing_field',
        detail: `metrics not in the BIRTH of ${where}: ${unresolved.slice(0, 10).join(', ')}${unresolved.length > 10 ? ` and ${unresolved.length - 10} more` : ''}; Rebirth requested`,
        raw: rawBase64(payload),
      });
    }
  }

  /** One metric of a BIRTH or DATA: a sample, a quarantine entry, or nothing (a null with no earlier value). */
  #sample(
    ms: MetricState,
    m: DecodedMetric,
    name: string,
    payloadTs: number | undefined,
    device: string | undefined,
    st: NodeState,
    out: SparkplugOutcome,
  ): void {
    // DATA may omit the datatype: the BIRTH's holds.
    const datatype = m.datatype !== 0 ? m.datatype : ms.datatype;
    const ts = Object.hasOwn(m, 'timestamp') ? toNumber(m.timestamp) : payloadTs;
    const address = sparkplugAddress(st, device, name);
    const valueType = valueTypeOf(datatype);
    if (m.isNull) {
      // A null is "no value now": the last value with quality bad, or nothing when there never was one.
      if (ms.last === undefined || valueType === undefined) {
        this.counters.sparkplug_null_metrics += 1;
        return;
      }
      out.samples.push(sample(ms, ms.last, ts, address, valueType, 'bad'));
      return;
    }
    const v = metricValue(m, datatype);
    if (!v.ok || valueType === undefined) {
      out.rejects.push(metricReject('bad_type', `${address}: ${v.ok ? datatypeName(datatype) : v.why}`, m));
      return;
    }
    // A NaN or infinite value is no "last value" a DEATH or a null could stand for (the pipeline refuses it).
    if (typeof v.value !== 'number' || Number.isFinite(v.value)) ms.last = v.value;
    out.samples.push(sample(ms, v.value, ts, address, valueType, undefined));
  }

  /** Every metric of a dead node or device, once more, with its last value and quality bad. */
  #dead(st: NodeState, scope: Scope, device: string | undefined, ts: number, out: SparkplugOutcome): void {
    for (const [name, ms] of scope.byName) {
      const vt = valueTypeOf(ms.datatype);
      if (ms.last === undefined || vt === undefined) continue;
      out.samples.push(sample(ms, ms.last, ts, sparkplugAddress(st, device, name), vt, 'bad'));
    }
  }
}

function newScope(): Scope {
  return { byName: new Map(), aliases: new Map(), alive: true };
}

function seqOf(p: DecodedPayload): number {
  return Object.hasOwn(p, 'seq') ? (toNumber(p.seq) ?? -1) % 256 : -1;
}

function bdSeqText(m: DecodedMetric): string | undefined {
  const v = metricValue(m, m.datatype);
  return v.ok ? String(v.value) : undefined;
}

function sparkplugAddress(st: NodeState, device: string | undefined, metric: string): string {
  return `${st.group}/${st.node}${device === undefined ? '' : `/${device}`}:${metric}`;
}

function metricReject(reason: RejectReason, detail: string, m: DecodedMetric): Reject {
  const desc: Record<string, unknown> = { name: m.name, datatype: datatypeName(m.datatype) };
  if (Object.hasOwn(m, 'alias')) desc.alias = String(toNumber(m.alias));
  return { reason, detail, raw: cutRaw(JSON.stringify(desc)) };
}

function sample(
  ms: MetricState,
  value: number | bigint | boolean | string,
  ts: number | undefined,
  address: string,
  valueType: 'integer' | 'number' | 'boolean' | 'string',
  status: 'bad' | undefined,
): RawSample {
  const s: RawSample = { signal: ms.signal, value, address, value_type: valueType };
  if (ts !== undefined && ts > 0) {
    s.ts = ts;
    s.ts_unit = 'ms';
  }
  if (status !== undefined) s.status = status;
  return s;
}

/** Where a Rebirth request for an edge node goes. */
export function rebirthTopic(group: string, node: string): string {
  return `${SPARKPLUG_NAMESPACE}/${group}/NCMD/${node}`;
}

const codec = sparkplugPayload.get(SPARKPLUG_NAMESPACE);

/** `Node Control/Rebirth` = true, the command every Sparkplug edge node answers with a new NBIRTH. */
export function rebirthPayload(now: number): Uint8Array {
  if (codec === null) throw new Error('sparkplug-payload lacks the spBv1.0 codec');
  return codec.encodePayload({
    timestamp: now,
    metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }],
  });
}
