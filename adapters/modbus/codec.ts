// Decoding Modbus register words into values: integer and float widths, strings over n registers, single bits,
// and the four byte/word orders PLC vendors use. Pure functions, so golden cases test them without a device.

export const DATA_TYPES = [
  'bool',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'float32',
  'float64',
  'string',
] as const;
export type DataType = (typeof DATA_TYPES)[number];

/**
 * Byte order of a multi-register value, named by where the bytes of the big-endian value A B C D end up:
 * ABCD big-endian (high word first), CDAB word-swapped (low word first), BADC bytes swapped inside each
 * register, DCBA fully little-endian. For 64-bit values the same rule extends to four registers.
 */
export const ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export type Order = (typeof ORDERS)[number];

/** Registers a value of this type occupies (strings take their configured length). */
export function registerCount(type: DataType, length?: number): number {
  switch (type) {
    case 'bool':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4;
    case 'string':
      return length ?? 1;
  }
}

export function orderFrom(word: 'big' | 'little', byte: 'big' | 'little'): Order {
  if (word === 'big') return byte === 'big' ? 'ABCD' : 'BADC';
  return byte === 'big' ? 'CDAB' : 'DCBA';
}

function wordsLittle(order: Order): boolean {
  return order === 'CDAB' || order === 'DCBA';
}

function bytesSwapped(order: Order): boolean {
  return order === 'BADC' || order === 'DCBA';
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** 64-bit integers stay numbers while exact, and become bigint only past 2^53 so nothing is rounded. */
function fromBigInt(v: bigint): number | bigint {
  return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v;
}

/**
 * Puts `count` register words starting at `offset` into big-endian byte order (A first), undoing the
 * device's word and byte order.
 */
function canonicalBytes(words: ArrayLike<number>, offset: number, count: number, order: Order): Buffer {
  const buf = Buffer.allocUnsafe(count * 2);
  const little = wordsLittle(order);
  const swap = bytesSwapped(order);
  for (let i = 0; i < count; i++) {
    const w = (words[offset + (little ? count - 1 - i : i)] as number) & 0xffff;
    if (swap) buf.writeUInt16LE(w, i * 2);
    else buf.writeUInt16BE(w, i * 2);
  }
  return buf;
}

export interface DecodeSpec {
  type: DataType;
  order: Order;
  /** Bit 0..15 of the register value (0 = least significant); the result is a boolean. */
  bit?: number;
  /** String length in registers (two characters each). */
  length?: number;
}

/**
 * Decodes the value at `offset` in a block of register words (each 0..65535, as read from the wire).
 * Bits are numbered on the register value as transmitted; the order does not apply to them. Strings are
 * read in register order, two characters per register (high byte first unless the order swaps bytes),
 * as Latin-1, and end at the first NUL.
 */
export function decodeRegisters(
  words: ArrayLike<number>,
  offset: number,
  spec: DecodeSpec,
): number | bigint | boolean | string {
  if (spec.bit !== undefined) {
    return (((words[offset] as number) >>> spec.bit) & 1) === 1;
  }
  switch (spec.type) {
    case 'bool':
      return (words[offset] as number) !== 0;
    case 'int16':
    case 'uint16': {
      let w = (words[offset] as number) & 0xffff;
      if (bytesSwapped(spec.order)) w = ((w & 0xff) << 8) | (w >>> 8);
      return spec.type === 'int16' ? (w << 16) >> 16 : w;
    }
    case 'int32':
      return canonicalBytes(words, offset, 2, spec.order).readInt32BE(0);
    case 'uint32':
      return canonicalBytes(words, offset, 2, spec.order).readUInt32BE(0);
    case 'float32':
      return canonicalBytes(words, offset, 2, spec.order).readFloatBE(0);
    case 'int64':
      return fromBigInt(canonicalBytes(words, offset, 4, spec.order).readBigInt64BE(0));
    case 'uint64':
      return fromBigInt(canonicalBytes(words, offset, 4, spec.order).readBigUInt64BE(0));
    case 'float64':
      return canonicalBytes(words, offset, 4, spec.order).readDoubleBE(0);
    case 'string': {
      const n = spec.length ?? 1;
      const buf = Buffer.allocUnsafe(n * 2);
      const swap = bytesSwapped(spec.order);
      for (let i = 0; i < n; i++) {
        const w = (words[offset + i] as number) & 0xffff;
        if (swap) buf.writeUInt16LE(w, i * 2);
        else buf.writeUInt16BE(w, i * 2);
      }
      const nul = buf.indexOf(0);
      return buf.toString('latin1', 0, nul === -1 ? buf.length : nul);
    }
  }
}
