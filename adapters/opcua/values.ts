// Turns an OPC UA DataValue into a RawSample: the value as a plain JS value (Int64 as bigint unless it fits a
// number, DateTime as ISO text), the chosen timestamp, and the numeric status code (the pipeline maps it to quality).
import {
  DataType,
  type DataValue,
  Int64ToBigInt,
  UInt64ToBigInt,
  type Variant,
  VariantArrayType,
} from 'node-opcua';
import type { RawSample } from '../../src/model/records.js';

/** What the adapter knows about one monitored or polled variable. */
export interface ItemSpec {
  signal: string;
  /** NodeId string, after browse-path resolution. */
  address: string;
  timestamp: 'source' | 'server';
  /** Array element requested with an index range: the server answers a one-element array. */
  index?: number;
}

function bigToValue(b: bigint): bigint | number {
  return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(b) : b;
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
    case DataType.Int64:
      return Array.isArray(v) ? bigToValue(Int64ToBigInt(v as number[])) : v;
    case DataType.UInt64:
      return Array.isArray(v) ? bigToValue(UInt64ToBigInt(v as number[])) : v;
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
  if (item.index !== undefined && Array.isArray(value)) value = value.length > 0 ? value[0] : null;
  const primary = item.timestamp === 'source' ? dv.sourceTimestamp : dv.serverTimestamp;
  const fallback = item.timestamp === 'source' ? dv.serverTimestamp : dv.sourceTimestamp;
  const ts = primary ?? fallback ?? undefined;
  const sample: RawSample = {
    signal: item.signal,
    value,
    address: item.address,
    status: dv.statusCode ? dv.statusCode.value >>> 0 : 0,
  };
  if (ts) sample.ts = ts;
  if (attrs) sample.attrs = attrs;
  return sample;
}
