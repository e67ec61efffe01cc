// plantgate as a Sparkplug B edge node (Sparkplug 3.0) for the `mqtt` sink, format sparkplug_b: the will (NDEATH
// with this connection's bdSeq), NBIRTH then one DBIRTH per source (a device) on every connection, readings as
// DDATA by alias, events as NDATA of the node's `Event` metric, and a rebirth when a host sends the Rebirth NCMD.
// Every message's seq (0-255, wrapping; NBIRTH is 0) is set when the link sends it, so seq follows wire order.
import * as sparkplugPayload from 'sparkplug-payload';
import type { Quality, Reading, RecordValue } from '../../model/records.js';
import {
  type CanonicalValueType,
  type PublishedSparkplugType,
  SPARKPLUG_QUALITY,
  sparkplugTypeFor,
  valueTypeOf,
} from '../../model/sparkplug.js';
import type { Batch, DeclaredSource, WriteOutcome } from '../kit/types.js';
import type { BdSeqStore } from './bdseq.js';
import type { Link } from './link.js';
import { publishAll, type Send } from './publish-all.js';

type UPayload = Parameters<NonNullable<ReturnType<typeof sparkplugPayload.get>>['encodePayload']>[0];
type UMetric = NonNullable<UPayload['metrics']>[number];

const codec = sparkplugPayload.get('spBv1.0');
if (!codec) throw new Error('sparkplug-payload does not know the spBv1.0 namespace');
const encode = (p: UPayload): Buffer => Buffer.from(codec.encodePayload(p));

export const REBIRTH_METRIC = 'Node Control/Rebirth';
/** The node metric each event is published on, as its canonical JSON (a String). */
export const EVENT_METRIC = 'Event';
/** Data messages carry at most this many metrics; a larger share of a batch is split. */
const MAX_METRICS_PER_MESSAGE = 500;

interface MetricDef {
  name: string;
  alias: number;
  type: PublishedSparkplugType;
  unit?: string | undefined;
  /** The last value published, carried by the next DBIRTH. */
  last?: { value: RecordValue; ts: number; quality: Quality };
}

interface Device {
  metrics: Map<string, MetricDef>;
  /** Bumped when a metric is added or changes datatype; a DBIRTH records the version it announced. */
  version: number;
  bornVersion: number;
}

export interface SparkplugNodeOptions {
  groupId: string;
  nodeId: string;
  link: Link;
  bdSeq: BdSeqStore;
  declared: () => readonly DeclaredSource[];
  timeoutMs: number;
  /** Counted on /status through the log only when something goes wrong. */
  onRebirthRequest?: () => void;
}

export class SparkplugNode {
  readonly #o: SparkplugNodeOptions;
  readonly #prefix: string;
  readonly #devices = new Map<string, Device>();
  /** Aliases 1 and 2 are the node's Rebirth and Event metrics; device metrics follow, in declaration order. */
  #nextAlias = 3;
  #seq = 0;
  #bdSeq = 0;
  readonly counters = { rebirth_requests: 0, births: 0 };

  constructor(opts: SparkplugNodeOptions) {
    this.#o = opts;
    this.#prefix = `spBv1.0/${opts.groupId}`;
    this.#learnDeclared();
  }

  get ncmdTopic(): string {
    return `${this.#prefix}/NCMD/${this.#o.nodeId}`;
  }

  /** Options of the next connection: a fresh bdSeq, and the NDEATH carrying it as the will. */
  async beforeConnect(): Promise<{ will: { topic: string; payload: Buffer; qos: 1; retain: false } }> {
    this.#bdSeq = await this.#o.bdSeq.next();
    return {
      will: { topic: this.#topic('NDEATH'), payload: this.#deathPayload(), qos: 1, retain: false },
    };
  }

  /** On every connection: listen for NCMD, then NBIRTH and the DBIRTHs before any data. */
  async onConnect(): Promise<void> {
    await this.#o.link.subscribe(this.ncmdTopic);
    this.#learnDeclared();
    await this.#births(true);
  }

  /** A planned stop publishes the NDEATH itself: the broker sends the will only for a lost connection. */
  publishDeath(): Promise<void> {
    return this.#o.link.publish(this.#topic('NDEATH'), this.#deathPayload(), { qos: 1 });
  }

  /** An NCMD: a Rebirth request (by name or alias, true) re-sends NBIRTH and every DBIRTH. */
  onMessage(topic: string, payload: Buffer): void {
    if (topic !== this.ncmdTopic) return;
    let metrics: UMetric[];
    try {
      metrics = codec?.decodePayload(payload).metrics ?? [];
    } catch {
      return; // not a Sparkplug payload: nothing a host asked for
    }
    const rebirth = metrics.some(
      (m) => (m.name === REBIRTH_METRIC || Number(m.alias) === 1) && m.value === true,
    );
    if (!rebirth) return;
    this.counters.rebirth_requests += 1;
    this.#births(false).catch(() => undefined); // a lost connection births again on the next one anyway
  }

  async write(batch: Batch, signal: AbortSignal): Promise<WriteOutcome> {
    const now = Date.now();
    const byDevice = new Map<string, Reading[]>();
    const events: UMetric[] = [];
    const touched = new Map<string, Device>();
    for (const { record, json } of batch.entries) {
      if (record.kind === 'event') {
        events.push({
          alias: 2,
          type: 'String',
          value: json ?? JSON.stringify(record),
          timestamp: Date.parse(record.ts),
        });
        continue;
      }
      const device = this.#device(record.source.id);
      const def = device.metrics.get(record.signal);
      // A signal not announced yet, or one whose values changed type, needs a new DBIRTH before its data.
      if (def === undefined) {
        const type = naturalType(record);
        device.metrics.set(record.signal, { name: record.signal, alias: this.#nextAlias++, type });
        device.version += 1;
      } else if (!fits(def.type, record)) {
        def.type = naturalType(record);
        device.version += 1;
      }
      touched.set(record.source.id, device);
      const list = byDevice.get(record.source.id);
      if (list) list.push(record);
      else byDevice.set(record.source.id, [record]);
    }
    const sends: Send[] = [];
    // Checked on every attempt, so a batch resent after a failed DBIRTH announces its device again.
    for (const [id, device] of touched) {
      if (device.bornVersion !== device.version) sends.push((s) => this.#publishDbirth(id, s));
    }
    for (const [id, readings] of byDevice) {
      for (let i = 0; i < readings.length; i += MAX_METRICS_PER_MESSAGE) {
        const chunk = readings.slice(i, i + MAX_METRICS_PER_MESSAGE);
        sends.push((s) =>
          this.#o.link.publish(
            this.#topic('DDATA', id),
            () => this.#dataPayload(id, chunk, now),
            { qos: 1 },
            s,
          ),
        );
      }
    }
    for (let i = 0; i < events.length; i += MAX_METRICS_PER_MESSAGE) {
      const metrics = events.slice(i, i + MAX_METRICS_PER_MESSAGE);
      sends.push((s) =>
        this.#o.link.publish(
          this.#topic('NDATA'),
          () => encode({ timestamp: now, seq: this.#nextSeq(), metrics }),
          { qos: 1 },
          s,
        ),
      );
    }
    return publishAll(this.#o.link, sends, signal, this.#o.timeoutMs);
  }

  #topic(kind: string, device?: string): string {
    return device === undefined
      ? `${this.#prefix}/${kind}/${this.#o.nodeId}`
      : `${this.#prefix}/${kind}/${this.#o.nodeId}/${device}`;
  }

  #nextSeq(): number {
    const s = this.#seq;
    this.#seq = (s + 1) & 0xff;
    return s;
  }

  #deathPayload(): Buffer {
    return encode({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'Int64', value: this.#bdSeq }] });
  }

  #device(id: string): Device {
    let d = this.#devices.get(id);
    if (!d) {
      d = { metrics: new Map(), version: 0, bornVersion: -1 };
      this.#devices.set(id, d);
    }
    return d;
  }

  /** Declared signals get their aliases in a fixed order (sources by id, signals by name), before any data. */
  #learnDeclared(): void {
    const sources = [...this.#o.declared()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const src of sources) {
      const device = this.#device(src.id);
      const signals = [...src.signals].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const s of signals) {
        if (device.metrics.has(s.name)) continue;
        device.version += 1;
        const vt: CanonicalValueType = s.value_type ?? 'number';
        device.metrics.set(s.name, {
          name: s.name,
          alias: this.#nextAlias++,
          type: sparkplugTypeFor(vt),
          unit: s.unit,
        });
      }
    }
  }

  /** NBIRTH (seq 0) and a DBIRTH per device; `first` on a new connection, before data may flow. */
  async #births(first: boolean): Promise<void> {
    const link = this.#o.link;
    this.counters.births += 1;
    const sends: Array<Promise<void>> = [
      link.publish(this.#topic('NBIRTH'), () => this.#nodeBirthPayload(), { qos: 1 }, undefined, first),
    ];
    for (const id of [...this.#devices.keys()].sort()) {
      sends.push(this.#publishDbirth(id, undefined, first));
    }
    await Promise.all(sends);
  }

  #nodeBirthPayload(): Buffer {
    this.#seq = 0;
    const now = Date.now();
    return encode({
      timestamp: now,
      seq: this.#nextSeq(),
      metrics: [
        { name: 'bdSeq', type: 'Int64', value: this.#bdSeq, timestamp: now },
        { name: REBIRTH_METRIC, alias: 1, type: 'Boolean', value: false, timestamp: now },
        { name: EVENT_METRIC, alias: 2, type: 'String', value: null, isNull: true, timestamp: now },
      ],
    });
  }

  #publishDbirth(id: string, signal?: AbortSignal, first = false): Promise<void> {
    return this.#o.link.publish(
      this.#topic('DBIRTH', id),
      () => this.#deviceBirthPayload(id),
      { qos: 1 },
      signal,
      first,
    );
  }

  #deviceBirthPayload(id: string): Buffer {
    const now = Date.now();
    const metrics: UMetric[] = [];
    const device = this.#device(id);
    device.bornVersion = device.version;
    for (const def of device.metrics.values()) {
      const m: UMetric = {
        name: def.name,
        alias: def.alias,
        type: def.type,
        timestamp: def.last?.ts ?? now,
        value: def.last ? wireValue(def.last.value, def.type) : null,
      };
      if (!def.last) m.isNull = true;
      const props: NonNullable<UMetric['properties']> = {};
      if (def.unit !== undefined) props.engUnit = { type: 'String', value: def.unit };
      if (def.last && def.last.quality !== 'good') {
        props.Quality = { type: 'Int32', value: SPARKPLUG_QUALITY[def.last.quality] };
      }
      if (Object.keys(props).length > 0) m.properties = props;
      metrics.push(m);
    }
    return encode({ timestamp: now, seq: this.#nextSeq(), metrics });
  }

  #dataPayload(id: string, readings: readonly Reading[], now: number): Buffer {
    const device = this.#device(id);
    const metrics: UMetric[] = [];
    for (const r of readings) {
      const def = device.metrics.get(r.signal) as MetricDef;
      const ts = Date.parse(r.ts);
      // Only a batch whose values changed type part-way has a value that does not fit its birth type.
      const type = fits(def.type, r) ? def.type : naturalType(r);
      const m: UMetric = { alias: def.alias, type, timestamp: ts, value: wireValue(r.value, type) };
      if (r.quality !== 'good') {
        m.properties = { Quality: { type: 'Int32', value: SPARKPLUG_QUALITY[r.quality] } };
      }
      metrics.push(m);
      def.last = { value: r.value, ts, quality: r.quality };
    }
    return encode({ timestamp: now, seq: this.#nextSeq(), metrics });
  }
}

/** The datatype a reading's value is announced with when its signal was not declared. */
function naturalType(r: Reading): PublishedSparkplugType {
  return sparkplugTypeFor(valueTypeOf(r.value, r.value_type));
}

/** Whether a reading's value can be published under a metric's datatype (a whole number fits Int64 and Double). */
function fits(type: PublishedSparkplugType, r: Reading): boolean {
  const v = r.value;
  switch (type) {
    case 'Boolean':
      return typeof v === 'boolean';
    case 'String':
      return typeof v === 'string' && r.value_type !== 'integer';
    case 'Int64':
      return (
        (typeof v === 'number' && Number.isInteger(v)) ||
        (typeof v === 'string' && r.value_type === 'integer')
      );
    default:
      return typeof v === 'number';
  }
}

/** A canonical value as the codec takes it: a 64-bit integer beyond 2^53 stays decimal text (encoded exactly). */
function wireValue(value: RecordValue, type: PublishedSparkplugType): UMetric['value'] {
  if (type === 'Int64' && typeof value === 'string') return value as unknown as number;
  return value;
}
