// Test helpers of the `mqtt` sink: a Sparkplug B payload decoder written from the protobuf wire format and the
// field numbers of the Sparkplug 3.0 specification, independent of sparkplug-payload (the sink's encoder), so a
// test does not check the encoder against itself; and a Sparkplug host that follows one edge node's messages and
// records every rule it sees broken.

export interface DecodedMetric {
  name?: string;
  alias?: bigint;
  timestamp?: bigint;
  datatype?: number;
  isNull?: boolean;
  value?: bigint | number | boolean | string;
  properties: Record<string, bigint | number | boolean | string | undefined>;
}

export interface DecodedPayload {
  timestamp?: bigint;
  seq?: bigint;
  metrics: DecodedMetric[];
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const n = Number(this.varint());
    const out = this.buf.subarray(this.pos, this.pos + n);
    if (out.length !== n) throw new Error('truncated field');
    this.pos += n;
    return out;
  }
  fixed32(): Buffer {
    const out = this.buf.subarray(this.pos, this.pos + 4);
    this.pos += 4;
    return out;
  }
  fixed64(): Buffer {
    const out = this.buf.subarray(this.pos, this.pos + 8);
    this.pos += 8;
    return out;
  }
  /** Calls `on(field, wireType, reader)` for each field; `on` must consume the value or return false to skip it. */
  each(on: (field: number, wire: number, r: Reader) => boolean): void {
    while (!this.done) {
      const key = this.varint();
      const field = Number(key >> 3n);
      const wire = Number(key & 7n);
      if (on(field, wire, this)) continue;
      if (wire === 0) this.varint();
      else if (wire === 1) this.pos += 8;
      else if (wire === 2) this.bytes();
      else if (wire === 5) this.pos += 4;
      else throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

const signed64 = (v: bigint): bigint => BigInt.asIntN(64, v);

/** Field numbers: Payload 1 timestamp, 2 metrics, 3 seq; Metric 1 name, 2 alias, 3 timestamp, 4 datatype, ... */
export function decodeSparkplug(buf: Buffer): DecodedPayload {
  const out: DecodedPayload = { metrics: [] };
  new Reader(buf).each((field, wire, r) => {
    if (field === 1 && wire === 0) out.timestamp = r.varint();
    else if (field === 3 && wire === 0) out.seq = r.varint();
    else if (field === 2 && wire === 2) out.metrics.push(decodeMetric(r.bytes()));
    else return false;
    return true;
  });
  return out;
}

function decodeMetric(buf: Buffer): DecodedMetric {
  const m: DecodedMetric = { properties: {} };
  new Reader(buf).each((field, _wire, r) => {
    switch (field) {
      case 1:
        m.name = r.bytes().toString('utf8');
        return true;
      case 2:
        m.alias = r.varint();
        return true;
      case 3:
        m.timestamp = r.varint();
        return true;
      case 4:
        m.datatype = Number(r.varint());
        return true;
      case 7:
        m.isNull = r.varint() !== 0n;
        return true;
      case 9:
        m.properties = decodePropertySet(r.bytes());
        return true;
      case 10:
        m.value = Number(r.varint());
        return true;
      case 11:
        m.value = m.datatype === 4 ? signed64(r.varint()) : r.varint();
        return true;
      case 12:
        m.value = r.fixed32().readFloatLE(0);
        return true;
      case 13:
        m.value = r.fixed64().readDoubleLE(0);
        return true;
      case 14:
        m.value = r.varint() !== 0n;
        return true;
      case 15:
        m.value = r.bytes().toString('utf8');
        return true;
      default:
        return false;
    }
  });
  return m;
}

function decodePropertySet(buf: Buffer): DecodedMetric['properties'] {
  const keys: string[] = [];
  const values: Array<bigint | number | boolean | string | undefined> = [];
  new Reader(buf).each((field, wire, r) => {
    if (field === 1 && wire === 2) keys.push(r.bytes().toString('utf8'));
    else if (field === 2 && wire === 2) values.push(decodePropertyValue(r.bytes()));
    else return false;
    return true;
  });
  return Object.fromEntries(keys.map((k, i) => [k, values[i]]));
}

function decodePropertyValue(buf: Buffer): bigint | number | boolean | string | undefined {
  let v: bigint | number | boolean | string | undefined;
  new Reader(buf).each((field, _wire, r) => {
    if (field === 3) v = Number(r.varint());
    else if (field === 4) v = r.varint();
    else if (field === 7) v = r.varint() !== 0n;
    else if (field === 8) v = r.bytes().toString('utf8');
    else return false;
    return true;
  });
  return v;
}

/** A value as a test compares it: bigints that fit become numbers. */
export function plain(v: DecodedMetric['value']): number | boolean | string | undefined {
  if (typeof v === 'bigint') return v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v.toString();
  return v;
}

export interface HostView {
  /** Rule violations seen, in words; a test expects none. */
  problems: string[];
  /** Data values by device and metric name, in arrival order. */
  values: Map<string, Array<{ metric: string; value: unknown; ts: number; quality?: number }>>;
  nbirths: number;
  dbirths: number;
  /** bdSeq of each NBIRTH and NDEATH, in arrival order. */
  births: bigint[];
  deaths: bigint[];
  messages: number;
  /** The metrics of each device's latest DBIRTH: name, alias and datatype code. */
  birthMetrics: Map<string, Array<{ name: string; alias: number; datatype: number; unit?: string }>>;
}

/**
 * Follows one edge node as a Sparkplug host does: NBIRTH resets seq to 0 and the aliases; every later message
 * must carry the next seq (mod 256); data must follow the BIRTH of its device; every alias must resolve.
 */
export function sparkplugHost(
  group: string,
  node: string,
): HostView & { onMessage(topic: string, payload: Buffer): void } {
  const view: HostView = {
    problems: [],
    values: new Map(),
    nbirths: 0,
    dbirths: 0,
    births: [],
    deaths: [],
    messages: 0,
    birthMetrics: new Map(),
  };
  let expected: bigint | undefined;
  let nodeAliases = new Map<bigint, string>();
  let devices = new Map<string, Map<bigint, string>>();
  const prefix = `spBv1.0/${group}/`;
  return Object.assign(view, {
    onMessage(topic: string, payload: Buffer): void {
      if (!topic.startsWith(prefix)) return;
      const [kind, nodeId, device] = topic.slice(prefix.length).split('/');
      if (nodeId !== node || kind === undefined || kind === 'NCMD' || kind === 'DCMD') return;
      view.messages += 1;
      const p = decodeSparkplug(payload);
      if (kind === 'NDEATH') {
        const bd = p.metrics.find((m) => m.name === 'bdSeq')?.value;
        view.deaths.push(typeof bd === 'bigint' ? bd : -1n);
        expected = undefined;
        return;
      }
      if (p.seq === undefined) view.problems.push(`${kind}: no seq`);
      if (p.timestamp === undefined) view.problems.push(`${kind}: no timestamp`);
      if (kind === 'NBIRTH') {
        if (p.seq !== 0n) view.problems.push(`NBIRTH seq ${p.seq}, not 0`);
        view.nbirths += 1;
        const bd = p.metrics.find((m) => m.name === 'bdSeq')?.value;
        view.births.push(typeof bd === 'bigint' ? bd : -1n);
        if (!p.metrics.some((m) => m.name === 'Node Control/Rebirth'))
          view.problems.push('NBIRTH without Rebirth');
        nodeAliases = new Map(
          p.metrics.filter((m) => m.alias !== undefined).map((m) => [m.alias as bigint, m.name as string]),
        );
        devices = new Map();
        expected = 1n;
        return;
      }
      if (expected === undefined) {
        view.problems.push(`${kind} before any NBIRTH`);
        return;
      }
      if (p.seq !== expected) view.problems.push(`${kind} seq ${p.seq}, expected ${expected}`);
      expected = ((p.seq ?? 0n) + 1n) % 256n;
      if (kind === 'DBIRTH') {
        view.dbirths += 1;
        const aliases = new Map<bigint, string>();
        for (const m of p.metrics) {
          if (m.name === undefined || m.alias === undefined)
            view.problems.push(`DBIRTH metric without name or alias`);
          else aliases.set(m.alias, m.name);
        }
        devices.set(device as string, aliases);
        view.birthMetrics.set(
          device as string,
          p.metrics.map((m) => ({
            name: m.name ?? '',
            alias: Number(m.alias ?? -1n),
            ...(typeof m.properties.engUnit === 'string' ? { unit: m.properties.engUnit } : {}),
            datatype: m.datatype ?? 0,
          })),
        );
        return;
      }
      const aliases = kind === 'DDATA' ? devices.get(device as string) : nodeAliases;
      if (!aliases) {
        view.problems.push(`${kind} for ${device} before its DBIRTH`);
        return;
      }
      const key = kind === 'DDATA' ? (device as string) : '';
      let list = view.values.get(key);
      if (!list) {
        list = [];
        view.values.set(key, list);
      }
      for (const m of p.metrics) {
        const name = m.name ?? (m.alias !== undefined ? aliases.get(m.alias) : undefined);
        if (name === undefined) view.problems.push(`${kind}: alias ${m.alias} does not resolve`);
        else {
          const quality = m.properties.Quality;
          list.push({
            metric: name,
            value: plain(m.value),
            ts: Number(m.timestamp ?? 0n),
            ...(quality !== undefined ? { quality: Number(quality) } : {}),
          });
        }
      }
    },
  });
}
