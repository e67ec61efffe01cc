// Sparkplug B datatypes (Sparkplug 3.0, the Tahu protobuf DataType codes) and how they map to the canonical value
// types, in both directions: the `mqtt` sink publishes canonical values as Sparkplug metrics, and a Sparkplug
// reader turns metric datatypes back into canonical value types. Shapes and mappings only, no codec.
import type { Quality, RecordValue } from './records.js';

/** The scalar datatype codes of the Sparkplug B protobuf (Payload.Metric.datatype). */
export const SparkplugDataType = {
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  DateTime: 13,
  Text: 14,
  UUID: 15,
} as const;

export type SparkplugScalarType = keyof typeof SparkplugDataType;
export type CanonicalValueType = 'number' | 'integer' | 'boolean' | 'string';

/** The four Sparkplug datatypes canonical values are published as. */
export type PublishedSparkplugType = 'Double' | 'Int64' | 'Boolean' | 'String';

/**
 * The datatype a canonical value type is published as. Integers are Int64 whatever their range, so a counter
 * that grows never changes datatype (which would force a rebirth); numbers are Double, as JSON carries them.
 */
export function sparkplugTypeFor(valueType: CanonicalValueType): PublishedSparkplugType {
  switch (valueType) {
    case 'integer':
      return 'Int64';
    case 'boolean':
      return 'Boolean';
    case 'string':
      return 'String';
    default:
      return 'Double';
  }
}

/** The canonical value type of a Sparkplug scalar datatype (DateTime is a string once it is ISO 8601 text). */
export function canonicalTypeOf(type: SparkplugScalarType): CanonicalValueType {
  switch (type) {
    case 'Float':
    case 'Double':
      return 'number';
    case 'Boolean':
      return 'boolean';
    case 'String':
    case 'Text':
    case 'UUID':
    case 'DateTime':
      return 'string';
    default:
      return 'integer';
  }
}

/**
 * The canonical value type of a reading's value: a string marked `value_type: integer` is a 64-bit integer too
 * large for a JSON number (records.ts), any other string is text.
 */
export function valueTypeOf(value: RecordValue, valueType?: 'integer'): CanonicalValueType {
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'string') return valueType === 'integer' ? 'integer' : 'string';
  return 'number';
}

/**
 * The `Quality` metric property as Ignition and most Sparkplug hosts read it (OPC DA codes): sent only for
 * readings that are not good, so a good value costs no bytes.
 */
export const SPARKPLUG_QUALITY: Readonly<Record<Quality, number>> = { good: 192, uncertain: 64, bad: 0 };
