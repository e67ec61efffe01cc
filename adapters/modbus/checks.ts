// Checks of a parsed `modbus` section that no single field's schema can make (duplicate unit ids, unit ids a
// serial bus cannot poll, signals longer than a device's request limit, Modicon numbers written as protocol
// addresses): run by check-config and at start. Kept apart from config.ts, which stays the shape of the YAML.
import { isBitTable, type ModbusTable, type RegisterRef } from './address.js';
import { type ModbusSourceConfig, resolveDevices } from './config.js';

/** A problem of a whole source; `severity: 'warning'` is printed by check-config but does not refuse the file. */
export interface SourceProblem {
  path: Array<string | number>;
  message: string;
  severity?: 'warning';
}

/** First digit of the Modicon number of each register table. */
const MODICON_DIGIT: Partial<Record<ModbusTable, string>> = { holding: '4', input: '3', discrete: '1' };

/**
 * `holding:40101` is almost always the Modicon number 40101 (= holding:100) written as a protocol address:
 * valid (a device may have a register 40101), so a warning, not an error, saying both ways to write it.
 * Coils are left out: their Modicon numbers (00001..09999) are ordinary protocol addresses as well.
 */
export function modiconAsProtocolAddress(ref: RegisterRef): string | undefined {
  const digit = MODICON_DIGIT[ref.table];
  if (digit === undefined) return undefined;
  const first = Number(digit) * 10_000 + 1;
  if (ref.address < first || ref.address > first + 9998) return undefined;
  const address = ref.address - first;
  return `${ref.table}:${ref.address} looks like the Modicon number ${ref.address} written as a protocol address; Modicon ${ref.address} is ${ref.table}:${address}: write "${ref.table}:${address}" or "${ref.address}" (if the device's manual really lists protocol address ${ref.address}, keep it)`;
}

/**
 * Checks that need the whole source: request limits against signal sizes, unit ids, duplicate devices; and
 * warnings for register addresses that are probably Modicon numbers.
 */
export function checkModbusSource(c: ModbusSourceConfig): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const devices = resolveDevices(c);
  const seen = new Map<number, number>();
  devices.forEach((d, di) => {
    const prev = seen.get(d.unitId);
    if (prev !== undefined) {
      problems.push({
        path: [...d.path, 'unit_id'],
        message: `unit_id ${d.unitId} is already used by devices[${prev}]; merge their signals into one device or fix the unit id`,
      });
    } else seen.set(d.unitId, di);
    if (c.serial !== undefined && (d.unitId === 0 || d.unitId > 247)) {
      problems.push({
        path: c.devices ? [...d.path, 'unit_id'] : ['unit_id'],
        message: `unit_id ${d.unitId} cannot be polled on a serial bus (0 is broadcast, 248-255 are reserved); use the device's address 1..247`,
      });
    }
    for (const s of d.signals) {
      const modicon = modiconAsProtocolAddress(s.ref);
      if (modicon) problems.push({ path: [...s.path, 'register'], message: modicon, severity: 'warning' });
      if (!isBitTable(s.ref.table) && s.count > d.maxRegisters) {
        problems.push({
          path: [...s.path, 'length'],
          message: `${s.name} spans ${s.count} registers but this device takes at most ${d.maxRegisters} per request; shorten it or raise max_registers_per_request (at most 125)`,
        });
      }
    }
  });
  return problems;
}
