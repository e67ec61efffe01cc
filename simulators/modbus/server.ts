// Modbus PLC simulator: modbus-serial's TCP server in front of two units, a press (Press1) and a packer
// (Packer3), whose registers change deterministically from a seed, with faults on demand: exception
// responses, latency, a unit that stops answering, a server restart. An independent peer: it imports nothing
// from src/ or adapters/, so a test of the gateway against it proves something about real Modbus behaviour.
// The register map is documented in simulators/modbus/README.md. This file answers requests and runs the
// listeners; the registers and value model are in units.ts, frame counting and RTU over TCP in frames.ts.
import type { Server } from 'node:net';
import { ServerTCP } from 'modbus-serial';
import { mulberry32 } from '../kit/random.js';
import { countFrames, type ModbusSimStats, rtuBridge } from './frames.js';
import { MAP, parseAddress, READABLE, type SimTable, step, Unit } from './units.js';

export type { ModbusSimStats } from './frames.js';
export { MACHINE_STATES, MAP, type SimTable } from './units.js';

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

const PROTOCOL_MAX_REGISTERS = 125;

type ValCb<T> = (err: Error | null, value: T) => void;

/** modbus-serial's server turns an error's `modbusErrorCode` into the exception response. */
function modbusError(code: number, message: string): Error {
  return Object.assign(new Error(message), { modbusErrorCode: code });
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

  let server: ServerTCP | undefined;
  let port = opts.port ?? 0;
  const listen = (p: number) =>
    new Promise<ServerTCP>((resolve, reject) => {
      // ServerTCP falls back to 502 on a falsy port, so port 0 is passed as the string "0" (net accepts it).
      const s = new ServerTCP(vector, { host, port: (p === 0 ? '0' : p) as number, unitID: 255 });
      const raw = (s as unknown as { _server: Server })._server;
      raw.on('connection', (sock) => countFrames(sock, stats));
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
