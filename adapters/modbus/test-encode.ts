// Test helper: the inverse of the codec's decodeRegisters, so tests state a device's registers as readable values
// (123456.5 as float32 CDAB) instead of hex words. Test-only (left out of the production build): the adapter
// only decodes. It spells the byte/word orders out again instead of borrowing the decoder's helpers, so a mistake
// in those shows up as a mismatch rather than cancelling out.
import { type DecodeSpec, registerCount } from './codec.js';

/** The register words a device holding `value` sends, for numbers, bits and strings. */
export function encodeRegisters(value: number | bigint | string | boolean, spec: DecodeSpec): number[] {
  const count = registerCount(spec.type, spec.length);
  const buf = Buffer.alloc(count * 2);
  switch (spec.type) {
    case 'bool':
      return [value ? 1 : 0];
    case 'int16':
      buf.writeInt16BE(Number(value), 0);
      break;
    case 'uint16':
      buf.writeUInt16BE(Number(value), 0);
      break;
    case 'int32':
      buf.writeInt32BE(Number(value), 0);
      break;
    case 'uint32':
      buf.writeUInt32BE(Number(value), 0);
      break;
    case 'float32':
      buf.writeFloatBE(Number(value), 0);
      break;
    case 'int64':
      buf.writeBigInt64BE(BigInt(value as number | bigint), 0);
      break;
    case 'uint64':
      buf.writeBigUInt64BE(BigInt(value as number | bigint), 0);
      break;
    case 'float64':
      buf.writeDoubleBE(Number(value), 0);
      break;
    case 'string':
      buf.write(String(value), 0, 'latin1');
      break;
  }
  // BADC and DCBA swap the two bytes inside each register; CDAB and DCBA send the low word first.
  const bytesSwapped = spec.order === 'BADC' || spec.order === 'DCBA';
  const lowWordFirst = spec.order === 'CDAB' || spec.order === 'DCBA';
  const words: number[] = [];
  for (let i = 0; i < count; i++)
    words.push(bytesSwapped ? buf.readUInt16LE(i * 2) : buf.readUInt16BE(i * 2));
  // Strings keep register order; numbers put their words in the device's word order.
  if (spec.type !== 'string' && lowWordFirst) words.reverse();
  return words;
}
