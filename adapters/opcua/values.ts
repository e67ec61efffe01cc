// Turns an OPC UA DataValue into a RawSample: the value as a plain JS value (Int64/UInt64 as a bigint, which the
// pipeline keeps exact; DateTime as ISO text), the canonical value type its built-in DataType maps to (so a
// Boolean or a String needs no `value_type` in the YAML), the chosen timestamp, and the quality its status code
// means: the status-code bits are OPC UA's business, so they are decoded here and the pipeline sees a canonical word.
import {
  DataType,
  type DataValue,
  Int64ToBigInt,
  UInt64ToBigInt,
  type Variant,
  VariantArrayType,
} from 'node-opcua';
import type { Quality, RawSample } from '../../src/model/records.js';

/** What the adapter knows about one monitored or polled variable. */
export interface ItemSpec {
  signal: string;
  /** NodeId string, after browse-path resolution. */
  address: string;
  timestamp: 'source' | 'server';
  /** Array element requested with an index range: the server answers a one-element array. */
  index?: number;
}

/**
 * The quality an OPC UA status code means. OPC UA puts the severity in the top two bits of the 32-bit code
 * (Part 4, 7.39): 0b00 good, 0b01 uncertain, 0b10 bad; 0b11 is reserved and treated as bad, the safe reading.
 */
export function qualityOfStatusCode(code: number | bigint): Quality {
  const top = typeof code === 'bigint' ? Number((code >> 30n) & 3n) : (code >>> 30) & 3;
  return top === 0 ? 'good' : top === 1 ? 'uncertain' : 'bad';
}

export type CanonicalType = 'number' | 'integer' | 'boolean' | 'string';

/**
 * The canonical value type of a built-in OPC UA DataType: what a value of that type becomes in a reading.
 * Undefined for types with no canonical form (structures, Variant, DataValue...): those follow the signal's
 * `value_type` (number by default) and are quarantined with their raw content when they do not fit.
 */
export function canonicalTypeOf(dataType: DataType): CanonicalType | undefined {
  switch (dataType) {
    case DataType.Boolean:
      return 'boolean';
    case DataType.SByte:
    case DataType.Byte:
    case DataType.Int16:
    case DataType.UInt16:
    case DataType.Int32:
    case DataType.UInt32:
    case DataType.Int64:
    case DataType.UInt64:
    case DataType.StatusCode:
      return 'integer';
    case DataType.Float:
    case DataType.Double:
      return 'number';
    case DataType.String:
    case DataType.DateTime:
    case DataType.LocalizedText:
    case DataType.ByteString:
    case DataType.Guid:
    case DataType.NodeId:
    case DataType.ExpandedNodeId:
    case DataType.QualifiedName:
    case DataType.XmlElement:
      return 'string';
    default:
      return undefined;
  }
}

function isoOf(d: unknown): string | null {
  return d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString() : null;
}

/** One scalar of a Variant, by its data type. */
export function scalarValue(dataType: DataType, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (dataType) {
    case DataType.Boolean:
    case DataType.SByte:
    case DataType.Byte:
    case DataType.Int16:
    case DataType.UInt16:
    case DataType.Int32:
    case DataType.UInt32:
    case DataType.Float:
    case DataType.Double:
    case DataType.String:
      return v;
    // Always a bigint: the pipeline turns one within ±(2^53-1) into a number and keeps larger ones exact.
    case DataType.Int64:
      return Array.isArray(v) ? Int64ToBigInt(v as number[]) : typeof v === 'number' ? BigInt(v) : v;
    case DataType.UInt64:
      return Array.isArray(v) ? UInt64ToBigInt(v as number[]) : typeof v === 'number' ? BigInt(v) : v;
    case DataType.DateTime:
      return isoOf(v);
    case DataType.ByteString:
      return Buffer.isBuffer(v) ? v.toString('base64') : v;
    case DataType.LocalizedText:
      return (v as { text?: string | null }).text ?? null;
    case DataType.StatusCode:
      return (v as { value?: number }).value ?? v;
    case DataType.Guid:
    case DataType.NodeId:
    case DataType.ExpandedNodeId:
    case DataType.QualifiedName:
      return String(v);
    default: {
      // Structures and other rare types stay as data the pipeline can quarantine with the raw content kept.
      const j = (v as { toJSON?: () => unknown }).toJSON;
      return typeof j === 'function' ? j.call(v) : v;
    }
  }
}

/** A Variant's value as a plain JS value; arrays (typed arrays included) become plain arrays. */
export function variantValue(variant: Variant | null | undefined): unknown {
  if (!variant) return null;
  if (variant.arrayType !== VariantArrayType.Scalar) {
    const arr = variant.value as ArrayLike<unknown> | null;
    if (!arr) return [];
    return Array.from(arr, (x) => scalarValue(variant.dataType, x));
  }
  return scalarValue(variant.dataType, variant.value);
}

export function isArrayVariant(variant: Variant | null | undefined): boolean {
  return !!variant && variant.arrayType !== VariantArrayType.Scalar;
}

export function toSample(
  item: ItemSpec,
  dv: DataValue,
  attrs: Record<string, string> | undefined,
): RawSample {
  let value = variantValue(dv.value);
  const array = Array.isArray(value);
  if (item.index !== undefined && array)
    value = (value as unknown[]).length > 0 ? (value as unknown[])[0] : null;
  const primary = item.timestamp === 'source' ? dv.sourceTimestamp : dv.serverTimestamp;
  const fallback = item.timestamp === 'source' ? dv.serverTimestamp : dv.sourceTimestamp;
  const ts = primary ?? fallback ?? undefined;
  const sample: RawSample = {
    signal: item.signal,
    value,
    address: item.address,
    status: dv.statusCode ? qualityOfStatusCode(dv.statusCode.value) : 'good',
  };
  // The server's type; an array without `index` gets none, so it is quarantined as what it is (bad_type).
  const type =
    dv.value && (item.index !== undefined || !array) ? canonicalTypeOf(dv.value.dataType) : undefined;
  if (type !== undefined) sample.value_type = type;
  if (ts) sample.ts = ts;
  if (attrs) sample.attrs = attrs;
  return sample;
}
