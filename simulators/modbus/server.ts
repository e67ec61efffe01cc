// Modbus PLC simulator: modbus-serial's TCP server in front of two units, a press (Press1) and a packer
// (Packer3), whose registers change deterministically from a seed, with faults on demand: exception
// responses, latency, a unit that stops answering, a server restart. An independent peer: it imports nothing
// from src/ or adapters/, so a test of the gateway against it proves something about real Modbus behaviour.
// The register map is documented in simulators/modbus/README.md.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { ServerTCP } from 'modbus-serial';

export type SimTable = 'coil' | 'discrete' | 'input' | 'holding';

export interface ModbusSimOptions {
  /** TCP port; 0 (default) lets the OS pick one. */
  port?: number;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Seed of the value model, so two runs with the same seed produce the same values. */
  seed?: number;
  /** Period of the value model in ms (default 100); 0 freezes the values (tests set them with write). */
  tickMs?: number;
  /** Unit ids served (default [1, 2]): the 1st, 3rd, ... run the press model, the 2nd, 4th, ... the packer. */
  units?: number[];
  /** Adds this many readable holding registers from holding:1000 on every unit, for load tests. */
  extraRegisters?: number;
  /** Start value of the uint32 counters (default 2^32 - 50, so they wrap within the first seconds). */
  counterStart?: number;
  /**
   * Also listen on a second port (0 = any) that speaks RTU frames (with CRC) over TCP, like a serial-to-Ethernet
   * converter in front of the same units.
   */
  rtuOverTcpPort?: number;
}

export interface ModbusSimStats {
  /** Requests received (all units, all function codes). */
  requests: number;
  byUnit: Record<number, number>;
  byFunction: Record<number, number>;
}

export interface ModbusSim {
  readonly host: string;
  readonly port: number;
  /** Port of the RTU-over-TCP listener, when `rtuOverTcpPort` was given. */
  readonly rtuPort: number | undefined;
  /** Model ticks applied since start. */
  readonly ticks: number;
  /** An offline unit does not answer at all: the client sees a timeout, like a powered-off device behind a gateway. */
  setOffline(unit: number, offline: boolean): void;
  /** Delays every answer (of `unit`, or of all units) by `ms`. */
  setLatency(ms: number, unit?: number): void;
  /**
   * Every read that covers `address` of `unit` is answered with exception `code` (2 = illegal data address);
   * `code` 0 removes the fault. `address` is "holding:100", "input:3", "coil:1", "discrete:0" or a holding number.
   */
  injectException(unit: number, address: string | number, code: number): void;
  /** Sets raw values: register words (0..65535) or bits, from `address` on. */
  write(
    unit: number,
    address: string | number,
    values: ReadonlyArray<number | boolean> | number | boolean,
  ): void;
  /** Reads raw values as a client would, without faults. */
  read(unit: number, address: string | number, count: number): number[];
  /** Request counters, to compare what a client sent with what it should have sent. */
  stats(): ModbusSimStats;
  resetStats(): void;
  /** Closes the server (dropping every connection) and listens again on the same port; registers are kept. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

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
const READABLE: Record<SimTable, number> = { holding: 200, input: 100, coil: 16, discrete: 16 };

const PROTOCOL_MAX_REGISTERS = 125;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function parseAddress(address: string | number): { table: SimTable; address: number } {
  if (typeof address === 'number') return { table: 'holding', address };
  const m = /^(holding|input|coil|discrete):(\d+)$/.exec(address.trim());
  if (!m)
    throw new Error(
      `modbus sim: address "${address}" is not of the form holding:100, input:3, coil:1 or discrete:0`,
    );
  return { table: m[1] as SimTable, address: Number(m[2]) };
}

class Unit {
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
function step(u: Unit, n: number, r: () => number): void {
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

type ValCb<T> = (err: Error | null, value: T) => void;

/** modbus-serial's server turns an error's `modbusErrorCode` into the exception response. */
function modbusError(code: number, message: string): Error {
  return Object.assign(new Error(message), { modbusErrorCode: code });
}

/** CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), appended low byte first. */
function crc16(buf: Uint8Array): number {
  let crc = 0xffff;
  for (const b of buf) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Length of the RTU request at the start of `buf` (CRC included), or 0 while incomplete. */
function rtuRequestLength(buf: Buffer): number {
  if (buf.length < 2) return 0;
  const fc = buf[1] as number;
  if (fc === 15 || fc === 16) return buf.length < 7 ? 0 : 9 + (buf[6] as number);
  return 8;
}

/**
 * RTU over TCP: each connection gets its own Modbus TCP connection to the simulator; RTU requests are
 * checked (CRC), wrapped in MBAP and their answers unwrapped again, one at a time as on a serial line.
 */
function rtuBridge(tcpPort: () => number, host: string): { server: Server; sockets: Set<Socket> } {
  const sockets = new Set<Socket>();
  const server = createServer((rtu) => {
    const inner = connect({ port: tcpPort(), host });
    sockets.add(rtu);
    sockets.add(inner);
    let pending = Buffer.alloc(0);
    let answers = Buffer.alloc(0);
    let tid = 0;
    inner.on('data', (data: Buffer) => {
      answers = Buffer.concat([answers, data]);
      while (answers.length >= 6 && answers.length >= 6 + answers.readUInt16BE(4)) {
        const pdu = answers.subarray(6, 6 + answers.readUInt16BE(4));
        answers = answers.subarray(6 + pdu.length);
        const out = Buffer.alloc(pdu.length + 2);
        pdu.copy(out);
        out.writeUInt16LE(crc16(pdu), pdu.length);
        rtu.write(out);
      }
    });
    rtu.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      for (let n = rtuRequestLength(pending); n > 0 && pending.length >= n; n = rtuRequestLength(pending)) {
        const frame = pending.subarray(0, n);
        pending = pending.subarray(n);
        // A frame with a bad CRC is ignored, as a serial device would.
        if (crc16(frame.subarray(0, n - 2)) !== frame.readUInt16LE(n - 2)) continue;
        const mbap = Buffer.alloc(6);
        tid = (tid + 1) & 0xffff;
        mbap.writeUInt16BE(tid, 0);
        mbap.writeUInt16BE(n - 2, 4);
        inner.write(Buffer.concat([mbap, frame.subarray(0, n - 2)]));
      }
    });
    const close = () => {
      rtu.destroy();
      inner.destroy();
      sockets.delete(rtu);
      sockets.delete(inner);
    };
    inner.on('error', close);
    inner.on('close', close);
    rtu.on('error', close);
    rtu.on('close', close);
  });
  return { server, sockets };
}

export async function startModbusSim(opts: ModbusSimOptions = {}): Promise<ModbusSim> {
  const host = opts.host ?? '127.0.0.1';
  const tickMs = opts.tickMs ?? 100;
  const rnd = mulberry32(opts.seed ?? 1);
  const unitIds = opts.units ?? [1, 2];
  const extra = opts.extraRegisters ?? 0;
  const units = new Map<number, Unit>();
  unitIds.forEach((id, i) => {
    units.set(id, new Unit(id, i % 2 === 0 ? 'press' : 'packer', opts.counterStart ?? 2 ** 32 - 50));
  });
  let ticks = 0;
  let globalLatency = 0;
  const stats: ModbusSimStats = { requests: 0, byUnit: {}, byFunction: {} };
  for (const u of units.values()) step(u, 0, rnd);

  const tick = () => {
    ticks += 1;
    for (const u of units.values()) step(u, ticks, rnd);
  };
  const timer = tickMs > 0 ? setInterval(tick, tickMs) : undefined;
  timer?.unref();

  const readable = (t: SimTable, addr: number) =>
    addr < READABLE[t] || (t === 'holding' && addr >= MAP.extra_start && addr < MAP.extra_start + extra);

  /**
   * Answers one read after the unit's faults: offline -> never, exception -> error, latency -> later.
   * modbus-serial's server waits for the callback, so not calling it is how a unit stays silent.
   */
  const serve = <T>(
    unitId: number,
    t: SimTable,
    addr: number,
    len: number,
    cb: ValCb<T>,
    values: () => T,
  ): void => {
    const u = units.get(unitId);
    if (!u) {
      // What a TCP gateway answers for a unit id it has no device for.
      cb(modbusError(11, 'no such unit'), [] as unknown as T);
      return;
    }
    if (u.offline) return;
    let code = 0;
    if ((t === 'holding' || t === 'input') && len > PROTOCOL_MAX_REGISTERS) code = 3;
    for (let a = addr; code === 0 && a < addr + len; a++) {
      if (a > 65535 || !readable(t, a)) code = 2;
      else code = u.faults.get(`${t}:${a}`) ?? 0;
    }
    const answer = () => {
      if (u.offline) return;
      if (code !== 0) cb(modbusError(code, 'refused'), [] as unknown as T);
      else cb(null, values());
    };
    const delay = Math.max(u.latencyMs, globalLatency);
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  };

  const extraValue = (u: Unit, a: number) => (a * 7 + ticks + u.id) & 0xffff;
  const words = (u: Unit | undefined, t: 'holding' | 'input', addr: number, len: number): number[] => {
    const out = new Array<number>(len);
    if (!u) return out.fill(0);
    const src = u[t];
    for (let i = 0; i < len; i++) {
      const a = addr + i;
      out[i] =
        t === 'holding' && a >= MAP.extra_start && a < MAP.extra_start + extra
          ? extraValue(u, a)
          : (src[a] as number);
    }
    return out;
  };

  // Parameter counts matter: modbus-serial picks the callback style by the function's arity.
  const vector = {
    getHoldingRegister(addr: number, unitId: number, cb: ValCb<number>) {
      serve(unitId, 'holding', addr, 1, cb, () => words(units.get(unitId), 'holding', addr, 1)[0] as number);
    },
    getMultipleHoldingRegisters(addr: number, len: number, unitId: number, cb: ValCb<number[]>) {
      serve(unitId, 'holding', addr, len, cb, () => words(units.get(unitId), 'holding', addr, len));
    },
    getInputRegister(addr: number, unitId: number, cb: ValCb<number>) {
      serve(unitId, 'input', addr, 1, cb, () => words(units.get(unitId), 'input', addr, 1)[0] as number);
    },
    getMultipleInputRegisters(addr: number, len: number, unitId: number, cb: ValCb<number[]>) {
      serve(unitId, 'input', addr, len, cb, () => words(units.get(unitId), 'input', addr, len));
    },
    getCoil(addr: number, unitId: number, cb: ValCb<boolean>) {
      serve(unitId, 'coil', addr, 1, cb, () => units.get(unitId)?.coil[addr] === 1);
    },
    getDiscreteInput(addr: number, unitId: number, cb: ValCb<boolean>) {
      serve(unitId, 'discrete', addr, 1, cb, () => units.get(unitId)?.discrete[addr] === 1);
    },
    setRegister(addr: number, value: number, unitId: number, cb: (err: Error | null) => void) {
      const u = units.get(unitId);
      if (!u || u.offline) return;
      if (!readable('holding', addr)) return cb(modbusError(2, 'illegal address'));
      u.holding[addr] = value & 0xffff;
      cb(null);
    },
    setCoil(addr: number, value: boolean, unitId: number, cb: (err: Error | null) => void) {
      const u = units.get(unitId);
      if (!u || u.offline) return;
      if (!readable('coil', addr)) return cb(modbusError(2, 'illegal address'));
      u.coil[addr] = value ? 1 : 0;
      cb(null);
    },
  };

  /** Counts requests frame by frame on the wire (the server itself reports none). */
  const countFrames = (sock: Socket) => {
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (data: Buffer) => {
      buf = buf.length === 0 ? data : Buffer.concat([buf, data]);
      while (buf.length >= 8) {
        const len = buf.readUInt16BE(4);
        if (buf.length < 6 + len) break;
        const unit = buf[6] as number;
        const fc = buf[7] as number;
        stats.requests += 1;
        stats.byUnit[unit] = (stats.byUnit[unit] ?? 0) + 1;
        stats.byFunction[fc] = (stats.byFunction[fc] ?? 0) + 1;
        buf = buf.subarray(6 + len);
      }
    });
  };

  let server: ServerTCP | undefined;
  let port = opts.port ?? 0;
  const listen = (p: number) =>
    new Promise<ServerTCP>((resolve, reject) => {
      // ServerTCP falls back to 502 on a falsy port, so port 0 is passed as the string "0" (net accepts it).
      const s = new ServerTCP(vector, { host, port: (p === 0 ? '0' : p) as number, unitID: 255 });
      const raw = (s as unknown as { _server: Server })._server;
      raw.on('connection', countFrames);
      s.on('socketError', () => {
        // A client vanishing mid-request is normal for a PLC; nothing to report.
      });
      s.once('serverError', (err: unknown) => reject(err));
      s.once('initialized', () => {
        const addr = raw.address();
        if (addr && typeof addr === 'object') port = addr.port;
        resolve(s);
      });
    });
  const close = (s: ServerTCP) => new Promise<void>((resolve) => s.close(() => resolve()));

  server = await listen(port);

  let bridge: ReturnType<typeof rtuBridge> | undefined;
  let rtuPort: number | undefined;
  const listenBridge = (p: number) =>
    new Promise<ReturnType<typeof rtuBridge>>((resolve, reject) => {
      const b = rtuBridge(() => port, host);
      b.server.once('error', reject);
      b.server.listen({ port: p, host }, () => {
        const addr = b.server.address();
        if (addr && typeof addr === 'object') rtuPort = addr.port;
        resolve(b);
      });
    });
  const closeBridge = async () => {
    const b = bridge;
    bridge = undefined;
    if (!b) return;
    for (const sock of b.sockets) sock.destroy();
    await new Promise<void>((resolve) => b.server.close(() => resolve()));
  };
  if (opts.rtuOverTcpPort !== undefined) bridge = await listenBridge(opts.rtuOverTcpPort);

  const unit = (id: number): Unit => {
    const u = units.get(id);
    if (!u)
      throw new Error(`modbus sim: unit ${id} is not simulated (units: ${[...units.keys()].join(', ')})`);
    return u;
  };

  return {
    host,
    get port() {
      return port;
    },
    get rtuPort() {
      return rtuPort;
    },
    get ticks() {
      return ticks;
    },
    setOffline(id, offline) {
      unit(id).offline = offline;
    },
    setLatency(ms, id) {
      if (id === undefined) globalLatency = ms;
      else unit(id).latencyMs = ms;
    },
    injectException(id, address, code) {
      const a = parseAddress(address);
      if (code === 0) unit(id).faults.delete(`${a.table}:${a.address}`);
      else unit(id).faults.set(`${a.table}:${a.address}`, code);
    },
    write(id, address, values) {
      const u = unit(id);
      const a = parseAddress(address);
      const list = Array.isArray(values) ? values : [values];
      const t = u.table(a.table);
      list.forEach((v, i) => {
        t[a.address + i] = typeof v === 'boolean' ? (v ? 1 : 0) : Number(v) & 0xffff;
      });
    },
    read(id, address, count) {
      const u = unit(id);
      const a = parseAddress(address);
      if (a.table === 'holding' || a.table === 'input') return words(u, a.table, a.address, count);
      return Array.from(u.table(a.table).subarray(a.address, a.address + count));
    },
    stats() {
      return { requests: stats.requests, byUnit: { ...stats.byUnit }, byFunction: { ...stats.byFunction } };
    },
    resetStats() {
      stats.requests = 0;
      stats.byUnit = {};
      stats.byFunction = {};
    },
    async restart() {
      const hadBridge = bridge !== undefined;
      await closeBridge();
      if (server) await close(server);
      server = undefined;
      server = await listen(port);
      if (hadBridge) bridge = await listenBridge(rtuPort ?? 0);
    },
    async stop() {
      if (timer) clearInterval(timer);
      await closeBridge();
      if (server) await close(server);
      server = undefined;
    },
  };
}
