// The Modbus simulator's register store and value model: the register map, one Unit per simulated device with
// its four tables, faults and counters, and the seeded step that moves a press or a packer one tick. No
// protocol here; server.ts answers requests from these tables. The map is documented in README.md.

export type SimTable = 'coil' | 'discrete' | 'input' | 'holding';

/** Machine states in the `state` register, as in the OPC UA simulator. */
export const MACHINE_STATES = ['idle', 'running', 'fault', 'setup'] as const;

/** Addresses of the register map (see README.md). */
export const MAP = {
  analog_abcd: 0,
  analog_cdab: 2,
  temperature_x10: 4,
  state: 5,
  flags: 6,
  position: 8,
  lot_id: 20,
  energy: 30,
  lifetime: 34,
  counter_abcd: 100,
  counter_cdab: 102,
  scrap: 104,
  input_badc: 0,
  input_dcba: 2,
  input_raw: 4,
  extra_start: 1000,
} as const;

/** Highest readable address + 1 of each table (reads past it get exception 2, like a real PLC). */
export const READABLE: Record<SimTable, number> = { holding: 200, input: 100, coil: 16, discrete: 16 };

export function parseAddress(address: string | number): { table: SimTable; address: number } {
  if (typeof address === 'number') return { table: 'holding', address };
  const m = /^(holding|input|coil|discrete):(\d+)$/.exec(address.trim());
  if (!m)
    throw new Error(
      `modbus sim: address "${address}" is not of the form holding:100, input:3, coil:1 or discrete:0`,
    );
  return { table: m[1] as SimTable, address: Number(m[2]) };
}

export class Unit {
  readonly id: number;
  readonly kind: 'press' | 'packer';
  readonly holding = new Uint16Array(65536);
  readonly input = new Uint16Array(65536);
  readonly coil = new Uint8Array(65536);
  readonly discrete = new Uint8Array(65536);
  offline = false;
  latencyMs = 0;
  /** `${table}:${address}` -> exception code. */
  readonly faults = new Map<string, number>();
  counter: number;
  scrap = 0;
  lifetime: bigint;
  energy = 0;
  lot = 1;

  constructor(id: number, kind: 'press' | 'packer', counterStart: number) {
    this.id = id;
    this.kind = kind;
    this.counter = counterStart >>> 0;
    // Past 2^53, so a client must keep 64-bit integers exact.
    this.lifetime = (1n << 60n) + BigInt(id);
  }

  table(t: SimTable): Uint16Array | Uint8Array {
    return this[t];
  }
}

function putFloat32(words: Uint16Array, at: number, v: number, wordSwap: boolean, byteSwap = false): void {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v, 0);
  let w = [b.readUInt16BE(0), b.readUInt16BE(2)];
  if (byteSwap) w = w.map((x) => ((x & 0xff) << 8) | (x >>> 8));
  if (wordSwap) w.reverse();
  words[at] = w[0] as number;
  words[at + 1] = w[1] as number;
}

function putUint32(words: Uint16Array, at: number, v: number, wordSwap: boolean): void {
  const hi = (v >>> 16) & 0xffff;
  const lo = v & 0xffff;
  words[at] = wordSwap ? lo : hi;
  words[at + 1] = wordSwap ? hi : lo;
}

function putBytes(words: Uint16Array, at: number, b: Buffer): void {
  for (let i = 0; i < b.length / 2; i++) words[at + i] = b.readUInt16BE(i * 2);
}

/** The value model: both machines advance one step per tick, from the seed only. */
export function step(u: Unit, n: number, r: () => number): void {
  const h = u.holding;
  const press = u.kind === 'press';
  const state = press ? (r() < 0.01 ? 2 : r() < 0.01 ? 3 : 1) : r() < 0.02 ? 0 : 1;
  const analog = press
    ? 1500 + 300 * Math.sin(n / 20) + (r() - 0.5) * 20
    : 140 + 20 * Math.sin(n / 50) + (r() - 0.5) * 2;
  putFloat32(h, MAP.analog_abcd, analog, false);
  putFloat32(h, MAP.analog_cdab, analog, true);
  // Press: oil temperature around 45 °C; packer: a cold room around 1 °C, so the int16 goes negative.
  const temp = press ? 45 + 10 * Math.sin(n / 200) + (r() - 0.5) : 1 + 3 * Math.sin(n / 30);
  h[MAP.temperature_x10] = Math.round(temp * 10) & 0xffff;
  h[MAP.state] = state;
  const running = state === 1;
  const fault = state === 2;
  const door = r() < 0.05;
  h[MAP.flags] = (running ? 1 : 0) | (fault ? 2 : 0) | (door ? 4 : 0);
  const position = Math.round(50_000 * Math.sin(n / 7)) - 10_000;
  h[MAP.position] = (position >>> 16) & 0xffff;
  h[MAP.position + 1] = position & 0xffff;
  if (running) {
    if (!press && r() < 0.05) u.scrap = (u.scrap + 1) >>> 0;
    else u.counter = (u.counter + 1) >>> 0;
    u.lifetime += 1n;
  }
  putUint32(h, MAP.counter_abcd, u.counter, false);
  putUint32(h, MAP.counter_cdab, u.counter, true);
  putUint32(h, MAP.scrap, u.scrap, false);
  u.energy += (press ? 0.02 : 0.005) * (running ? 1 : 0.1);
  const e = Buffer.alloc(8);
  e.writeDoubleBE(u.energy, 0);
  putBytes(h, MAP.energy, e);
  const l = Buffer.alloc(8);
  l.writeBigUInt64BE(u.lifetime, 0);
  putBytes(h, MAP.lifetime, l);
  if (n > 0 && n % 100 === 0) u.lot += 1;
  const lot = Buffer.alloc(8);
  lot.write(`LOT-${String(u.lot).padStart(4, '0')}`.slice(0, 8), 0, 'latin1');
  putBytes(h, MAP.lot_id, lot);
  // Input registers: press motor current (A) / packer line speed (packs/min), in the two remaining orders.
  const secondary = press ? 42 + 5 * Math.sin(n / 10) : 120 + 10 * Math.sin(n / 25);
  putFloat32(u.input, MAP.input_badc, secondary, false, true);
  putFloat32(u.input, MAP.input_dcba, secondary, true, true);
  u.input[MAP.input_raw] = Math.round(27648 * (0.5 + 0.5 * Math.sin(n / 40)));
  u.coil[0] = running ? 1 : 0;
  u.coil[1] = fault ? 1 : 0;
  u.coil[2] = door ? 1 : 0;
  u.discrete[0] = 1; // e-stop circuit healthy
  u.discrete[1] = door ? 0 : 1; // guard closed
}
