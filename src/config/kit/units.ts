// UCUM unit checks at config load, with a suggestion when the engineer wrote a near miss ("degF" -> "[degF]").
import ucumPkg from '@lhncbc/ucum-lhc';

interface UcumUtils {
  validateUnitString(
    unit: string,
    suggest?: boolean,
  ): {
    status: 'valid' | 'invalid' | 'error';
    ucumCode: string | null;
    msg: string[];
    suggestions?: Array<{ units: Array<[string, string, string]> }>;
  };
  convertUnitTo(from: string, value: number, to: string): { status: string; toVal: number; msg: string[] };
  commensurablesList?(unit: string): unknown;
}

const utils: UcumUtils = (
  ucumPkg as unknown as { UcumLhcUtils: { getInstance(): UcumUtils } }
).UcumLhcUtils.getInstance();

export function ucum(): UcumUtils {
  return utils;
}

/**
 * The usual ways of writing degrees that are not UCUM. Checked before the library, whose own suggestions
 * miss them ("degC" gets none) and which prints to the console on some of them (spaces).
 */
const TEMPERATURE_SPELLINGS: ReadonlyMap<string, string> = new Map([
  ...[
    'degC',
    'deg C',
    'degc',
    'DegC',
    'DEGC',
    '°C',
    '° C',
    'C°',
    'ºC',
    'Celsius',
    'celsius',
    'cel',
    'CEL',
  ].map((u) => [u, 'Cel'] as const),
  ...['°F', '° F', 'F°', 'ºF', 'deg F', 'degf', 'DegF', 'DEGF', 'Fahrenheit', 'fahrenheit', 'degF'].map(
    (u) => [u, '[degF]'] as const,
  ),
]);

/**
 * Valid UCUM codes that are almost never what a controls engineer meant: `F` is the farad and `C` the
 * coulomb, but they are written for Fahrenheit and Celsius. Not an error (a capacitance is possible), a
 * warning with the likely code.
 */
const SUSPICIOUS_UNITS: ReadonlyMap<string, string> = new Map([
  ['F', '"F" is the farad (capacitance) in UCUM; for degrees Fahrenheit write "[degF]"'],
  ['C', '"C" is the coulomb (electric charge) in UCUM; for degrees Celsius write "Cel"'],
]);

/** A warning for a valid unit that is probably a mistake (`F`, `C`), else undefined. */
export function unitWarning(unit: string): string | undefined {
  return SUSPICIOUS_UNITS.get(unit);
}

/** Returns undefined when `unit` is a valid UCUM code, else a sentence saying what to write instead. */
export function checkUnit(unit: string): string | undefined {
  const spelled = TEMPERATURE_SPELLINGS.get(unit);
  if (spelled) return `unknown unit "${unit}"; did you mean "${spelled}"?`;
  if (/\s/.test(unit))
    return `unknown unit "${unit}": UCUM codes contain no spaces (e.g. "Cel", "[degF]", "kg/h", "m3/h")`;
  const res = utils.validateUnitString(unit, true);
  if (res.status === 'valid') return undefined;
  const suggestion = res.ucumCode && res.ucumCode !== unit ? res.ucumCode : suggestFromMessages(res.msg);
  if (suggestion) return `unknown unit "${unit}"; did you mean "${suggestion}"?`;
  return `unknown unit "${unit}"; expected a UCUM code such as "Cel", "bar", "kg/h" or "[psi]"`;
}

function suggestFromMessages(msgs: string[]): string | undefined {
  for (const m of msgs) {
    const hit = /but (\S+) is\./.exec(m) ?? /Did you mean (\S+)/.exec(m);
    if (hit?.[1]) return hit[1];
  }
  return undefined;
}

/** Returns undefined when a value in `from` can be converted to `to`, else the reason. */
export function checkConvertible(from: string, to: string): string | undefined {
  if (from === to) return undefined;
  const res = utils.convertUnitTo(from, 1, to);
  if (res.status === 'succeeded') return undefined;
  return `unit "${from}" cannot be converted to "${to}" (different dimensions)`;
}

/** Builds a converter for one unit pair once, so the hot path does no parsing. Linear units get a fast path. */
export function makeConverter(from: string, to: string): (v: number) => number {
  if (from === to) return (v) => v;
  const at0 = utils.convertUnitTo(from, 0, to);
  const at1 = utils.convertUnitTo(from, 1, to);
  const at100 = utils.convertUnitTo(from, 100, to);
  if (at0.status !== 'succeeded' || at1.status !== 'succeeded' || at100.status !== 'succeeded') {
    throw new Error(`cannot convert "${from}" to "${to}": ${[...at0.msg, ...at1.msg].join('; ')}`);
  }
  const offset = at0.toVal;
  const factor = at1.toVal - at0.toVal;
  // UCUM special units (temperatures) are affine; anything non-affine goes through the library each time.
  if (Math.abs(offset + factor * 100 - at100.toVal) <= 1e-9 * Math.max(1, Math.abs(at100.toVal))) {
    return (v) => offset + factor * v;
  }
  return (v) => utils.convertUnitTo(from, v, to).toVal;
}
