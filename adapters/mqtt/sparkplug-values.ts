// Sparkplug B metric values -> canonical values. The protobuf is decoded by sparkplug-payload's generated Tahu
// decoder; the value is read here from the oneof field that is actually set, because the package's convenience
// decoder reads UInt32 as a signed 32-bit number and only from long_value (Sparkplug 3.0 puts it in int_value).
// 64-bit integers follow the one rule of every source: a number while exact, a bigint beyond ±(2^53-1).
import protoModule from 'sparkplug-payload/lib/sparkplugPayloadProto.js';

const { Payload } = protoModule.org.eclipse.tahu.protobuf;
export type DecodedMetric = InstanceType<typeof Payload.Metric>;
/** The decoder's payload; its metrics are Metric instances (the generated types only say IMetric). */
export type DecodedPayload = Omit<InstanceType<typeof Payload>, 'metrics'> & { metrics: DecodedMetric[] };

/** Decodes a Sparkplug B payload; throws on bytes that are not one. */
export function decodeSparkplug(bytes: Uint8Array): DecodedPayload {
  return Payload.decode(bytes) as unknown as DecodedPayload;
}

/** The protobuf `Long` as sparkplug-payload hands it (or a plain number for small values). */
interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

/** Unsigned 64-bit integer from a protobuf uint64 field. */
export function toBigUint(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? BigInt(v) : undefined;
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  if (v !== null && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as LongLike;
    return (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  }
  return undefined;
}

/** A uint64 field as a number (timestamps, seq, alias): exact below 2^53, which every sane value is. */
export function toNumber(v: unknown): number | undefined {
  const b = toBigUint(v);
  return b === undefined ? undefined : Number(b);
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

function exact(v: bigint): number | bigint {
  return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v;
}

/** Sparkplug B datatype codes (Tahu sparkplug_b.proto, DataType). */
export const DATATYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'Int8',
  2: 'Int16',
  3: 'Int32',
  4: 'Int64',
  5: 'UInt8',
  6: 'UInt16',
  7: 'UInt32',
  8: 'UInt64',
  9: 'Float',
  10: 'Double',
  11: 'Boolean',
  12: 'String',
  13: 'DateTime',
  14: 'Text',
  15: 'UUID',
  16: 'DataSet',
  17: 'Bytes',
  18: 'File',
  19: 'Template',
  20: 'PropertySet',
  21: 'PropertySetList',
  22: 'Int8Array',
  23: 'Int16Array',
  24: 'Int32Array',
  25: 'Int64Array',
  26: 'UInt8Array',
  27: 'UInt16Array',
  28: 'UInt32Array',
  29: 'UInt64Array',
  30: 'FloatArray',
  31: 'DoubleArray',
  32: 'BooleanArray',
  33: 'StringArray',
  34: 'DateTimeArray',
};

export function datatypeName(t: number): string {
  return DATATYPE_NAMES[t] ?? `unknown datatype ${t}`;
}

/** The canonical value type a scalar Sparkplug datatype declares (undefined: not a scalar). */
export function valueTypeOf(t: number): 'integer' | 'number' | 'boolean' | 'string' | undefined {
  if (t >= 1 && t <= 8) return 'integer';
  if (t === 9 || t === 10) return 'number';
  if (t === 11) return 'boolean';
  if (t === 12 || t === 13 || t === 14 || t === 15) return 'string';
  return undefined;
}

export type ValueResult =
  | { ok: true; value: number | bigint | boolean | string }
  | { ok: false; why: string };

const INT_RANGES: Readonly<Record<number, [number, number]>> = {
  1: [-128, 127],
  2: [-32768, 32767],
  3: [-2147483648, 2147483647],
  5: [0, 255],
  6: [0, 65535],
  7: [0, 4294967295],
};
const INT_BITS: Readonly<Record<number, number>> = { 1: 8, 2: 16, 3: 32 };

/**
 * Float metrics travel as 32-bit floats: the shortest decimal that reads back as the same float32, so 21.1f
 * gives 21.1 and not 21.100000381469727 (what a float32 widened to a double prints).
 */
export function float32Decimal(f: number): number {
  if (!Number.isFinite(f) || f === 0) return f;
  for (let p = 1; p <= 9; p++) {
    const d = Number(f.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return f;
}

/** The value of a metric whose datatype is `t` (from the metric, else its BIRTH), or why it is none. */
export function metricValue(m: DecodedMetric, t: number): ValueResult {
  const field = m.value as string | undefined;
  const raw: unknown = field === undefined ? undefined : (m as unknown as Record<string, unknown>)[field];
  const name = datatypeName(t);
  if (t >= 16) {
    return {
      ok: false,
      why: `a ${name} metric is not a scalar value; plantgate reads the scalar types only (Int8..UInt64, Float, Double, Boolean, String, DateTime, Text, UUID)`,
    };
  }
  if (t < 1) return { ok: false, why: `${name} is not a Sparkplug B value type` };
  if (raw === undefined || raw === null) return { ok: false, why: `the ${name} metric carries no value` };
  const wrongField = (want: string): ValueResult => ({
    ok: false,
    why: `a ${name} metric must carry ${want}, not ${field}`,
  });
  switch (t) {
    case 1:
    case 2:
    case 3:
    case 5:
    case 6:
    case 7: {
      let v: number | undefined;
      if (field === 'intValue' && typeof raw === 'number') v = raw;
      // UInt32 sits in long_value for Tahu's JavaScript and older encoders, in int_value for Sparkplug 3.0.
      else if (field === 'longValue' && t === 7) v = toNumber(raw);
      else return wrongField(t === 7 ? 'int_value or long_value' : 'int_value');
      if (v === undefined) return wrongField('an unsigned integer');
      const [min, max] = INT_RANGES[t] as [number, number];
      const bits = INT_BITS[t];
      if (bits !== undefined && (v < min || v > max)) {
        // Signed types are two's complement in the uint32 field, sign-extended to 32 bits or not.
        const s32 = v | 0;
        const narrow = v <= 2 ** bits - 1 ? (v << (32 - bits)) >> (32 - bits) : s32;
        v = s32 >= min && s32 <= max ? s32 : narrow;
      }
      if (v < min || v > max) return { ok: false, why: `${raw} does not fit a ${name}` };
      return { ok: true, value: v };
    }
    case 4:
    case 8: {
      if (field !== 'longValue') return wrongField('long_value');
      const u = toBigUint(raw);
      if (u === undefined) return wrongField('a 64-bit integer');
      return { ok: true, value: exact(t === 4 ? BigInt.asIntN(64, u) : u) };
    }
    case 13: {
      if (field !== 'longValue') return wrongField('long_value');
      const ms = toNumber(raw);
      if (ms === undefined || ms > 8.64e15)
        return { ok: false, why: `DateTime ${String(ms)} ms is out of range` };
      return { ok: true, value: new Date(ms).toISOString() };
    }
    case 9:
      return field === 'floatValue' && typeof raw === 'number'
        ? { ok: true, value: float32Decimal(raw) }
        : wrongField('float_value');
    case 10:
      return field === 'doubleValue' && typeof raw === 'number'
        ? { ok: true, value: raw }
        : wrongField('double_value');
    case 11:
      return field === 'booleanValue' && typeof raw === 'boolean'
        ? { ok: true, value: raw }
        : wrongField('boolean_value');
    default:
      // 12 String, 14 Text, 15 UUID
      return field === 'stringValue' && typeof raw === 'string'
        ? { ok: true, value: raw }
        : wrongField('string_value');
  }
}
