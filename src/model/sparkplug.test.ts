// The Sparkplug datatype mapping both ways: what each canonical value is published as, and what each scalar
// Sparkplug datatype becomes when read.
import { describe, expect, it } from 'vitest';
import { canonicalTypeOf, SparkplugDataType, sparkplugTypeFor, valueTypeOf } from './sparkplug.js';

describe('Sparkplug datatypes', () => {
  it('publishes each canonical value type as one datatype, and reads every scalar datatype back', () => {
    expect(['number', 'integer', 'boolean', 'string'].map((t) => sparkplugTypeFor(t as 'number'))).toEqual([
      'Double',
      'Int64',
      'Boolean',
      'String',
    ]);
    for (const t of ['Double', 'Int64', 'Boolean', 'String'] as const) {
      expect(sparkplugTypeFor(canonicalTypeOf(t))).toBe(t);
    }
    expect(canonicalTypeOf('UInt32')).toBe('integer');
    expect(canonicalTypeOf('Float')).toBe('number');
    expect(canonicalTypeOf('DateTime')).toBe('string');
    expect(SparkplugDataType.Int64).toBe(4);
    expect(SparkplugDataType.String).toBe(12);
  });

  it('tells a 64-bit integer held as text from a string value', () => {
    expect(valueTypeOf('9007199254740993', 'integer')).toBe('integer');
    expect(valueTypeOf('R-17')).toBe('string');
    expect(valueTypeOf(1.5)).toBe('number');
    expect(valueTypeOf(false)).toBe('boolean');
  });
});
