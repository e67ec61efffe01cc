// `plantgate modbus read <source> <register>`: probes one address of a device while commissioning, with the
// connection settings of a `modbus` source of the config file. It talks to the device directly (not through
// the daemon), through the same connection and decoder code the adapter uses, and prints the raw registers,
// the decoded value (in every byte order for multi-register types, to find the device's order) and a
// ready-to-paste `signals:` line. The rest of the config file does not have to be valid: an engineer probes
// a register precisely while the file is still wrong.
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { parse } from 'yaml';
import { formatRegister, isBitTable, modiconOf, type RegisterRef } from '../../adapters/modbus/address.js';
import { decodeRegisters, ORDERS, type Order } from '../../adapters/modbus/codec.js';
import {
  describeTransport,
  modbusSourceSchema,
  type ResolvedSignal,
  resolveDevices,
  resolveTransport,
} from '../../adapters/modbus/config.js';
import { ModbusConnection } from '../../adapters/modbus/connection.js';

const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, CONFIG: 78 } as const;

export interface ModbusReadOptions {
  /** Unit id; default the source's `unit_id`, or its only device. */
  unit?: number | undefined;
  type?: string | undefined;
  order?: string | undefined;
  wordOrder?: string | undefined;
  byteOrder?: string | undefined;
  bit?: number | undefined;
  length?: number | undefined;
  json?: boolean | undefined;
}

type RawSource = Record<string, unknown> & {
  id?: unknown;
  type?: unknown;
  unit_id?: unknown;
  devices?: Array<Record<string, unknown>>;
};

/** Keys of a source that describe what to read, not how to reach the device. */
const SIGNAL_KEYS = new Set(['signals', 'devices', 'unit_id']);

function fail(code: number, message: string): number {
  process.stderr.write(`plantgate modbus read: ${message}\n`);
  return code;
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

/** The value in JSON: bigints (64-bit integers past 2^53) as exact decimal text. */
function jsonValue(v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

function hex(w: number): string {
  return `0x${w.toString(16).toUpperCase().padStart(4, '0')}`;
}

function span(ref: RegisterRef, count: number): string {
  return count > 1 ? `${formatRegister(ref)}..${ref.address + count - 1}` : formatRegister(ref);
}

/** The `signals:` line that reads this value, with only the keys that differ from the defaults. */
function signalLine(s: ResolvedSignal, sourceId: string): string {
  const parts = [`name: ${sourceId.replace(/[^a-z0-9_]+/gi, '_').toLowerCase()}.value`];
  parts.push(`register: "${formatRegister(s.ref)}"`);
  const defaultType = isBitTable(s.ref.table) || s.bit !== undefined ? 'bool' : 'uint16';
  if (s.type !== defaultType) parts.push(`type: ${s.type}`);
  if (s.bit !== undefined) parts.push(`bit: ${s.bit}`);
  if (s.length !== undefined) parts.push(`length: ${s.length}`);
  if (s.order !== 'ABCD') parts.push(`order: ${s.order}`);
  return `- { ${parts.join(', ')} }`;
}

export async function modbusReadCommand(
  configFile: string,
  sourceId: string,
  register: string,
  opts: ModbusReadOptions = {},
): Promise<number> {
  let doc: { sources?: unknown };
  try {
    doc = (parse(readFileSync(configFile, 'utf8')) ?? {}) as typeof doc;
  } catch (err) {
    return fail(EXIT.CONFIG, `cannot read ${configFile}: ${(err as Error).message}`);
  }
  const sources = (Array.isArray(doc.sources) ? doc.sources : []) as RawSource[];
  const index = sources.findIndex((s) => s?.id === sourceId);
  const raw = sources[index];
  if (raw?.type !== 'modbus') {
    const ids = sources.filter((s) => s?.type === 'modbus').map((s) => String(s.id));
    return fail(
      EXIT.USAGE,
      `no modbus source "${sourceId}" in ${configFile}; modbus sources: ${ids.join(', ') || 'none'}`,
    );
  }

  // The unit: --unit, else the source's own (simple form), else its only device.
  const devices = Array.isArray(raw.devices) ? raw.devices : [];
  let unit = opts.unit ?? (typeof raw.unit_id === 'number' ? raw.unit_id : undefined);
  if (unit === undefined && devices.length === 1 && typeof devices[0]?.unit_id === 'number')
    unit = devices[0].unit_id;
  if (unit === undefined) {
    const list = devices.map((d) => `${String(d.unit_id)}${d.name ? ` (${String(d.name)})` : ''}`);
    return fail(
      EXIT.USAGE,
      `source "${sourceId}" has several devices; name one with --unit: ${list.join(', ') || 'none'}`,
    );
  }
  const device = devices.find((d) => d.unit_id === unit);

  // The probe is checked by the adapter's own schema: the source's connection keys plus one signal built
  // from the arguments, so defaults, limits and messages are exactly those of the daemon.
  const connection = Object.fromEntries(Object.entries(raw).filter(([k]) => !SIGNAL_KEYS.has(k)));
  if (device?.timeout !== undefined) connection.timeout = device.timeout;
  const signal = Object.fromEntries(
    Object.entries({
      name: 'probe.value',
      register,
      type: opts.type,
      order: opts.order,
      word_order: opts.wordOrder,
      byte_order: opts.byteOrder,
      bit: opts.bit,
      length: opts.length,
    }).filter(([, v]) => v !== undefined),
  );
  const parsed = modbusSourceSchema.safeParse({ ...connection, unit_id: unit, signals: [signal] });
  if (!parsed.success) {
    const mine = parsed.error.issues.filter((i) => i.path[0] === 'signals' || i.path[0] === 'unit_id');
    if (mine.length > 0) {
      const what = (p: PropertyKey[]) => (p[0] === 'unit_id' ? '--unit' : String(p[2] ?? 'register'));
      return fail(EXIT.USAGE, mine.map((i) => `${what(i.path)}: ${i.message}`).join('; '));
    }
    const where = (p: PropertyKey[]) => `sources.${index}${p.length > 0 ? `.${p.join('.')}` : ''}`;
    const list = parsed.error.issues.map((i) => `${where(i.path)}: ${i.message}`).join('; ');
    return fail(EXIT.CONFIG, `the connection settings of "${sourceId}" are invalid: ${list}`);
  }
  const cfg = parsed.data;
  const resolved = resolveDevices(cfg)[0];
  const s = resolved?.signals[0];
  if (!resolved || !s) return fail(EXIT.FAILURE, 'internal error: the probe resolved to no signal');

  const transport = resolveTransport(cfg);
  const conn = new ModbusConnection({
    transport,
    serialize: true,
    interRequestDelayMs: 0,
    backoffInitialMs: cfg.reconnect.initial,
    backoffMaxMs: cfg.reconnect.max,
    connectTimeoutMs: Math.max(cfg.timeout, 3000),
    // Failures are reported by the error of the read itself; the connection's own warnings would repeat it.
    log: pino({ level: 'silent' }),
  });
  let data: number[] | boolean[];
  try {
    data = await conn.read(unit, s.ref.table, s.ref.address, s.count, resolved.timeoutMs);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return fail(EXIT.FAILURE, `${describeTransport(transport)}: ${why}`);
  } finally {
    await conn.close();
  }

  const bits = isBitTable(s.ref.table);
  const decode = (order: Order) =>
    bits
      ? Boolean(data[0])
      : decodeRegisters(data as number[], 0, {
          type: s.type,
          order,
          ...(s.bit !== undefined ? { bit: s.bit } : {}),
          ...(s.length !== undefined ? { length: s.length } : {}),
        });
  const value = decode(s.order);
  // The other orders only differ for values of more than one byte; shown so the right one can be picked.
  const otherOrders =
    !bits && s.bit === undefined && s.type !== 'bool' && s.type !== 'string'
      ? ORDERS.filter((o) => o !== s.order).map((o) => ({ order: o, value: decode(o) }))
      : [];
  const modicon = `${modiconOf(s.ref)}${s.count > 1 ? `..${modiconOf({ ...s.ref, address: s.ref.address + s.count - 1 })}` : ''}`;

  if (opts.json) {
    const out = {
      source: sourceId,
      connection: describeTransport(transport),
      unit,
      register: span(s.ref, s.count),
      modicon,
      raw: bits ? (data as boolean[]).map(Boolean) : data,
      type: s.type,
      order: s.order,
      value: jsonValue(value),
      other_orders: Object.fromEntries(otherOrders.map((o) => [o.order, jsonValue(o.value)])),
      signal: signalLine(s, sourceId),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return EXIT.OK;
  }
  const lines = [
    `${sourceId}: ${describeTransport(transport)}, unit ${unit}: ${span(s.ref, s.count)} (Modicon ${modicon})`,
  ];
  data.forEach((w, i) => {
    const at = formatRegister({ table: s.ref.table, address: s.ref.address + i });
    lines.push(bits ? `  ${at}  ${w ? 1 : 0}` : `  ${at}  ${hex(w as number)}  ${String(w).padStart(5)}`);
  });
  const typeText = `${s.type}${s.bit !== undefined ? ` bit ${s.bit}` : ''}${otherOrders.length > 0 ? ` ${s.order}` : ''}`;
  lines.push(`value (${typeText}): ${formatValue(value)}`);
  if (otherOrders.length > 0) {
    lines.push(
      `  in other orders: ${otherOrders.map((o) => `${o.order} ${formatValue(o.value)}`).join(', ')}`,
    );
  }
  lines.push(`signal: ${signalLine(s, sourceId)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.OK;
}
