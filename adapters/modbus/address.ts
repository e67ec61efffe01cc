// Modbus addressing as controls engineers write it: `holding:100` (zero-based protocol address) or the
// Modicon convention `40101` / `400101` (one-based, the leading digit names the table). One parser, so the
// schema, the planner and the messages all agree on what a register string means.
import { closest } from '../../src/config/kit/suggest.js';

export type ModbusTable = 'coil' | 'discrete' | 'input' | 'holding';

export interface RegisterRef {
  table: ModbusTable;
  /** Zero-based protocol address (what goes on the wire), 0..65535. */
  address: number;
}

export const TABLES: readonly ModbusTable[] = ['coil', 'discrete', 'input', 'holding'];

/** Function code that reads each table. */
export const READ_FUNCTION: Record<ModbusTable, 1 | 2 | 3 | 4> = {
  coil: 1,
  discrete: 2,
  holding: 3,
  input: 4,
};

/** True for tables of single bits (coils, discrete inputs), false for 16-bit register tables. */
export function isBitTable(t: ModbusTable): boolean {
  return t === 'coil' || t === 'discrete';
}

const TABLE_ALIASES: Record<string, ModbusTable> = {
  holding: 'holding',
  input: 'input',
  coil: 'coil',
  discrete: 'discrete',
};

const MODICON_PREFIX: Record<string, ModbusTable> = {
  '0': 'coil',
  '1': 'discrete',
  '3': 'input',
  '4': 'holding',
};

const EXAMPLE =
  'write "holding:100", "input:0", "coil:5", "discrete:3" or the Modicon form "40101" (= holding:100)';

/**
 * Parses a register reference. Returns the reference, or a sentence saying what is wrong and what to write.
 * Modicon numbers are one-based: 40001 is holding:0, 30001 input:0, 10001 discrete:0, 00001 coil:0; the
 * six-digit form (400001..465536) reaches the whole 16-bit range.
 */
export function parseRegister(input: string | number): RegisterRef | string {
  const text = String(input).trim();
  const colon = /^([a-zA-Z_]+)\s*:\s*(\d+)$/.exec(text);
  if (colon) {
    const name = (colon[1] as string).toLowerCase();
    const table = TABLE_ALIASES[name];
    if (!table) {
      const near = closest(name, Object.keys(TABLE_ALIASES));
      if (near) return `unknown register table "${colon[1]}"; did you mean "${near}:${colon[2]}"?`;
      return `unknown register table "${colon[1]}"; ${EXAMPLE}`;
    }
    const address = Number(colon[2]);
    if (address > 65535) {
      // `holding:400101`: a six-digit Modicon number written as a protocol address.
      const digit = Object.keys(MODICON_PREFIX).find((d) => MODICON_PREFIX[d] === table);
      const first = Number(digit) * 100_000 + 1;
      if (digit !== '0' && address >= first && address - first <= 65535) {
        return `${table}:${address} looks like the Modicon number ${address} written as a protocol address; Modicon ${address} is ${table}:${address - first}: write "${table}:${address - first}" or "${address}"`;
      }
      return `address ${address} is past the last Modbus address 65535; protocol addresses run from ${table}:0 to ${table}:65535`;
    }
    return { table, address };
  }
  if (/^\d+$/.test(text)) {
    // A YAML number loses leading zeros (00001 arrives as 1), so short numbers are refused, never guessed.
    if (text.length < 5) {
      const n = Number(text);
      const modicon = n < 9999 ? `, or the Modicon number "4${String(n + 1).padStart(4, '0')}"` : '';
      return `register ${text} needs its table: write "holding:${n}" (or "input:${n}", "coil:${n}", "discrete:${n}")${modicon}`;
    }
    if (text.length === 5 || text.length === 6) {
      const table = MODICON_PREFIX[text[0] as string];
      const n = Number(text.slice(1));
      if (!table) {
        return `"${text}" is not a Modicon register number (it must start with 0 coil, 1 discrete input, 3 input register or 4 holding register); ${EXAMPLE}`;
      }
      if (n < 1)
        return `"${text}" is not a register: Modicon numbers are one-based (${text[0]}0001 is ${table}:0)`;
      if (n - 1 > 65535)
        return `"${text}" is past the last Modbus address (${table}:65535 is ${text[0]}65536)`;
      return { table, address: n - 1 };
    }
    return `"${text}" is not a register; ${EXAMPLE}`;
  }
  return `"${text}" is not a register; ${EXAMPLE}`;
}

export function formatRegister(ref: RegisterRef): string {
  return `${ref.table}:${ref.address}`;
}

/** The Modicon number of a reference: 40101 for holding:100, 400101-style six digits past 9998. */
export function modiconOf(ref: RegisterRef): string {
  const digit = Object.keys(MODICON_PREFIX).find((d) => MODICON_PREFIX[d] === ref.table) as string;
  const n = ref.address + 1;
  return `${digit}${String(n).padStart(n <= 9999 ? 4 : 5, '0')}`;
}
