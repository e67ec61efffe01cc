// Configuration of the `modbus` source: transport (TCP, RTU on a serial port, RTU over TCP), one or several
// devices (unit ids), the register map of each signal and the polling and request limits. Mistakes a
// controls engineer can make are caught here, at load time, with a sentence that says what to write.
import { z } from 'zod';
import { deprecatedField, withDeprecatedKeys } from '../../src/config/kit/deprecated-keys.js';
import { componentId, duration, ownerName } from '../../src/config/kit/primitives.js';
import { signalBaseShape } from '../../src/config/kit/signal.js';
import { isBitTable, parseRegister, type RegisterRef } from './address.js';
import { DATA_TYPES, ORDERS, type Order, orderFrom, registerCount } from './codec.js';

/** Protocol limits of one read request (Modbus application protocol v1.1b3, FC 1-4). */
export const PROTOCOL_MAX_REGISTERS = 125;
export const PROTOCOL_MAX_BITS = 2000;

const register = z
  .union([z.string(), z.number()])
  .transform((text, ctx): RegisterRef => {
    const parsed = parseRegister(text);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  })
  .describe(
    'Where the value lives: "holding:100", "input:0", "coil:5", "discrete:3" (zero-based protocol addresses), or the one-based Modicon number "40101" (= holding:100; 3xxxx input, 1xxxx discrete, 0xxxx coil; six digits 400001..465536 for the whole range).',
  );

const endianness = z.enum(['big', 'little']);

export const modbusSignalSchema = z
  .object({
    ...signalBaseShape,
    register,
    type: z
      .enum(DATA_TYPES)
      .optional()
      .describe(
        'How the registers are decoded: bool, int16, uint16, int32, uint32, int64, uint64, float32, float64 or string. Default: bool for coils, discrete inputs and `bit`; uint16 for registers.',
      ),
    bit: z
      .number()
      .int()
      .min(0)
      .max(15)
      .optional()
      .describe(
        'Reads one bit (0 = least significant) of a 16-bit register as a boolean, e.g. a status word flag.',
      ),
    length: z
      .number()
      .int()
      .min(1)
      .max(PROTOCOL_MAX_REGISTERS)
      .optional()
      .describe(
        'For type string: number of registers (two characters each), e.g. 4 for an 8-character lot id.',
      ),
    order: z
      .enum(ORDERS)
      .optional()
      .describe(
        'Byte order of multi-byte values, named by where the bytes A B C D of the big-endian value land: ABCD (default, big-endian), CDAB (word-swapped, low word first), BADC (bytes swapped in each register), DCBA (little-endian).',
      ),
    word_order: endianness
      .optional()
      .describe(
        'Shorthand for the order of registers in 32/64-bit values: big (high word first) or little (low word first = CDAB).',
      ),
    byte_order: endianness
      .optional()
      .describe(
        'Shorthand for the order of the two bytes inside each register: big (default) or little (= BADC).',
      ),
  })
  .strict()
  .superRefine((s, ctx) => {
    const bitTable = isBitTable(s.register.table);
    const type = s.type ?? (bitTable || s.bit !== undefined ? 'bool' : 'uint16');
    if (bitTable && type !== 'bool') {
      ctx.addIssue({
        code: 'custom',
        path: ['type'],
        message: `${s.register.table === 'coil' ? 'coils' : 'discrete inputs'} hold single bits, so they can only be read as bool; read ${type} from a "holding:" or "input:" register instead, or write type: bool`,
      });
    }
    if (bitTable && s.bit !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['bit'],
        message: `${s.register.table}:${s.register.address} is already a single bit; remove "bit" (it picks a bit inside a 16-bit register)`,
      });
    }
    if (s.bit !== undefined && !['bool', 'int16', 'uint16'].includes(type)) {
      ctx.addIssue({
        code: 'custom',
        path: ['bit'],
        message: `"bit" picks one bit of a 16-bit register, but type ${type} spans ${registerCount(type, s.length)} registers; write type: bool with bit, or remove bit`,
      });
    }
    if (type === 'string' && s.length === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['length'],
        message:
          'a string needs its length in registers (two characters each), e.g. length: 4 for 8 characters',
      });
    }
    if (type !== 'string' && s.length !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['length'],
        message: `"length" only applies to type string; remove it (a ${type} always takes ${registerCount(type)} register(s))`,
      });
    }
    if (s.order !== undefined && (s.word_order !== undefined || s.byte_order !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['order'],
        message: 'write either "order" (ABCD, CDAB, BADC, DCBA) or "word_order"/"byte_order", not both',
      });
    }
    if (!bitTable) {
      const end = s.register.address + registerCount(type, s.length) - 1;
      if (end > 65535) {
        ctx.addIssue({
          code: 'custom',
          path: ['register'],
          message: `a ${type} at ${s.register.table}:${s.register.address} would end at register ${end}, past the last Modbus address 65535; move it to ${s.register.table}:${65536 - registerCount(type, s.length)} or lower`,
        });
      }
    }
  });

const deviceSchema = z
  .object({
    unit_id: z
      .number()
      .int()
      .min(0)
      .max(255)
      .describe(
        'Modbus unit id (slave address) of the device: 1..247 on a serial bus; 0, 1 or 255 on most TCP devices.',
      ),
    name: z
      .string()
      .optional()
      .describe('Name of the device for messages and /status, e.g. "packer-3 drive".'),
    timeout: duration
      .optional()
      .describe("This device's response timeout; defaults to the source's `timeout`."),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .optional()
      .describe("Retries of a timed-out request for this device; defaults to the source's `retries`."),
    max_registers_per_request: z
      .number()
      .int()
      .min(1)
      .max(PROTOCOL_MAX_REGISTERS)
      .optional()
      .describe(
        'Largest register read this device accepts (some take fewer than 125); defaults to the source setting.',
      ),
    max_bits_per_request: z
      .number()
      .int()
      .min(1)
      .max(PROTOCOL_MAX_BITS)
      .optional()
      .describe('Largest coil/discrete input read this device accepts; defaults to the source setting.'),
    signals: z.array(modbusSignalSchema).min(1).describe('Signals read from this device.'),
  })
  .strict();

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, {
  message: 'expected "host:port", e.g. "10.0.2.15:502" (the port defaults to 502)',
});

const serialSchema = z
  .object({
    port: z.string().min(1).describe('Serial device, e.g. "/dev/ttyUSB0" or "/dev/serial/by-id/...".'),
    baud: z.number().int().positive().default(9600).describe('Baud rate, e.g. 9600 or 19200.'),
    parity: z
      .enum(['none', 'even', 'odd'])
      .default('even')
      .describe('Parity; the Modbus RTU default is even (with none, the spec wants 2 stop bits).'),
    data_bits: z
      .union([z.literal(7), z.literal(8)])
      .default(8)
      .describe('Data bits; RTU uses 8.'),
    stop_bits: z
      .union([z.literal(1), z.literal(2)])
      .default(1)
      .describe('Stop bits: 1, or 2 with parity none.'),
  })
  .strict();

export const modbusReconnectSchema = z
  .object({
    initial: duration
      .prefault('1s')
      .describe(
        'First wait before polling an unanswering device (or reconnecting) again; doubles after each failure.',
      ),
    max: duration
      .prefault('30s')
      .describe('Longest wait between attempts on an unanswering device or a lost connection.'),
  })
  .strict();

const modbusSourceObject = z
  .object({
    id: componentId.describe('Unique source id, e.g. "packer-3".'),
    owner: ownerName.optional(),
    type: z.literal('modbus').describe('Modbus TCP or RTU polling source.'),
    tcp: hostPort.optional().describe('Modbus TCP server, "host:port" (port 502 by default).'),
    rtu_over_tcp: hostPort
      .optional()
      .describe('Serial-to-Ethernet converter that passes raw RTU frames (with CRC) over TCP, "host:port".'),
    serial: serialSchema.optional().describe('Modbus RTU on a local serial port (RS-485/RS-232).'),
    unit_id: z
      .number()
      .int()
      .min(0)
      .max(255)
      .optional()
      .describe(
        'Unit id of the single device of this source (simple form, with `signals`); use `devices` for several.',
      ),
    signals: z
      .array(modbusSignalSchema)
      .optional()
      .describe('Signals of the single device (simple form, with `unit_id`).'),
    devices: z
      .array(deviceSchema)
      .min(1)
      .optional()
      .describe('Several devices (unit ids) behind one connection or bus, each with its own signals.'),
    poll_interval: duration.prefault('1s').describe('Time between two reads of every signal, e.g. "500ms".'),
    timeout: duration.prefault('1s').describe('Time to wait for one response before counting a timeout.'),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(1)
      .describe('Retries of a request that timed out, within one poll.'),
    inter_request_delay: duration
      .prefault('0ms')
      .describe('Pause after each request, for devices and converters that need silence between frames.'),
    max_gap: z
      .number()
      .int()
      .min(0)
      .max(PROTOCOL_MAX_REGISTERS)
      .default(16)
      .describe(
        'Unused registers a request may span to join two signals into one read (fewer, larger requests); 0 reads only configured registers.',
      ),
    max_bit_gap: z
      .number()
      .int()
      .min(0)
      .max(PROTOCOL_MAX_BITS)
      .default(256)
      .describe('Unused coils or discrete inputs a request may span to join two signals into one read.'),
    max_registers_per_request: z
      .number()
      .int()
      .min(1)
      .max(PROTOCOL_MAX_REGISTERS)
      .default(PROTOCOL_MAX_REGISTERS)
      .describe('Largest register read (FC 3/4); the protocol limit is 125, some devices take fewer.'),
    max_bits_per_request: z
      .number()
      .int()
      .min(1)
      .max(PROTOCOL_MAX_BITS)
      .default(PROTOCOL_MAX_BITS)
      .describe('Largest coil/discrete input read (FC 1/2); the protocol limit is 2000.'),
    serialize: z
      .boolean()
      .default(false)
      .describe(
        'One request at a time on the connection, for TCP devices and gateways that cannot take concurrent requests. Always on for serial and rtu_over_tcp.',
      ),
    reconnect: modbusReconnectSchema
      .prefault({})
      .describe(
        'Backoff of an unanswering device or a lost connection (exponential, doubling from initial up to max).',
      ),
    backoff_initial: deprecatedField(duration, 'reconnect.initial'),
    backoff_max: deprecatedField(duration, 'reconnect.max'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const transports = (['tcp', 'rtu_over_tcp', 'serial'] as const).filter((k) => c[k] !== undefined);
    if (transports.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: transports.length > 1 ? [transports[1] as string] : [],
        message:
          transports.length === 0
            ? 'a modbus source needs a transport: tcp: "host:port", rtu_over_tcp: "host:port" or serial: { port: /dev/ttyUSB0, baud: 19200, parity: even }'
            : `give one transport, not ${transports.join(' and ')}`,
      });
    }
    if (c.devices !== undefined && (c.signals !== undefined || c.unit_id !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [c.signals !== undefined ? 'signals' : 'unit_id'],
        message:
          'use either unit_id + signals (one device) or devices: [{ unit_id, signals }] (several), not both',
      });
    }
    if (c.devices === undefined) {
      if (c.signals === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['signals'],
          message: 'a modbus source needs signals (with unit_id), or devices: [{ unit_id, signals }]',
        });
      } else if (c.signals.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['signals'], message: 'add at least one signal' });
      }
    }
  });

/** Old names still accepted for one release (check-config warns about each use). */
export const modbusDeprecatedKeys = [
  { old: ['backoff_initial'], new: ['reconnect', 'initial'] },
  { old: ['backoff_max'], new: ['reconnect', 'max'] },
] as const;

export const modbusSourceSchema = withDeprecatedKeys(modbusSourceObject, modbusDeprecatedKeys);

export type ModbusSourceConfig = z.output<typeof modbusSourceSchema>;
export type ModbusSignalConfig = z.output<typeof modbusSignalSchema>;
export type ModbusDeviceConfigInput = z.output<typeof deviceSchema>;

export type Transport =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'rtu_over_tcp'; host: string; port: number }
  | {
      kind: 'serial';
      path: string;
      baud: number;
      parity: 'none' | 'even' | 'odd';
      dataBits: 7 | 8;
      stopBits: 1 | 2;
    };

/** A device with every setting resolved against the source's defaults. */
export interface ResolvedDevice {
  unitId: number;
  name: string;
  timeoutMs: number;
  retries: number;
  maxRegisters: number;
  maxBits: number;
  signals: ResolvedSignal[];
  /** Path of the device in the source config, for messages. */
  path: Array<string | number>;
}

export interface ResolvedSignal {
  name: string;
  ref: RegisterRef;
  type: (typeof DATA_TYPES)[number];
  order: Order;
  bit?: number;
  length?: number;
  /** Registers (or bits, for coil/discrete tables) the signal occupies. */
  count: number;
  path: Array<string | number>;
}

export function splitHostPort(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text);
  const host = (m?.[1] ?? text).replace(/^\[|\]$/g, '');
  return { host, port: m?.[2] ? Number(m[2]) : 502 };
}

export function resolveTransport(c: ModbusSourceConfig): Transport {
  if (c.serial) {
    return {
      kind: 'serial',
      path: c.serial.port,
      baud: c.serial.baud,
      parity: c.serial.parity,
      dataBits: c.serial.data_bits,
      stopBits: c.serial.stop_bits,
    };
  }
  if (c.rtu_over_tcp) return { kind: 'rtu_over_tcp', ...splitHostPort(c.rtu_over_tcp) };
  return { kind: 'tcp', ...splitHostPort(c.tcp ?? '') };
}

export function describeTransport(t: Transport): string {
  if (t.kind === 'serial')
    return `RTU on ${t.path} (${t.baud} baud, ${t.dataBits}${t.parity[0]?.toUpperCase()}${t.stopBits})`;
  return `${t.kind === 'tcp' ? 'Modbus TCP' : 'RTU over TCP'} ${t.host}:${t.port}`;
}

/** One request at a time: a serial bus is half-duplex, and RTU frames over TCP carry no transaction id. */
export function isSerialized(c: ModbusSourceConfig): boolean {
  return c.serialize || c.serial !== undefined || c.rtu_over_tcp !== undefined;
}

export function resolveSignal(s: ModbusSignalConfig, path: Array<string | number>): ResolvedSignal {
  const bitTable = isBitTable(s.register.table);
  const type = s.type ?? (bitTable || s.bit !== undefined ? 'bool' : 'uint16');
  const order: Order = s.order ?? orderFrom(s.word_order ?? 'big', s.byte_order ?? 'big');
  const r: ResolvedSignal = {
    name: s.name,
    ref: s.register,
    type,
    order,
    count: bitTable ? 1 : registerCount(type, s.length),
    path,
  };
  if (s.bit !== undefined) r.bit = s.bit;
  if (s.length !== undefined) r.length = s.length;
  return r;
}

export function resolveDevices(c: ModbusSourceConfig): ResolvedDevice[] {
  const base = {
    timeoutMs: c.timeout,
    retries: c.retries,
    maxRegisters: c.max_registers_per_request,
    maxBits: c.max_bits_per_request,
  };
  if (!c.devices) {
    const unitId = c.unit_id ?? 1;
    return [
      {
        ...base,
        unitId,
        name: `unit ${unitId}`,
        signals: (c.signals ?? []).map((s, i) => resolveSignal(s, ['signals', i])),
        path: [],
      },
    ];
  }
  return c.devices.map((d, di) => ({
    unitId: d.unit_id,
    name: d.name ?? `unit ${d.unit_id}`,
    timeoutMs: d.timeout ?? base.timeoutMs,
    retries: d.retries ?? base.retries,
    maxRegisters: d.max_registers_per_request ?? base.maxRegisters,
    maxBits: d.max_bits_per_request ?? base.maxBits,
    signals: d.signals.map((s, i) => resolveSignal(s, ['devices', di, 'signals', i])),
    path: ['devices', di],
  }));
}
