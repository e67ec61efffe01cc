// One Modbus connection (TCP socket, RTU over TCP socket or serial port) shared by the devices of a source:
// opens lazily, reconnects with backoff after a loss, optionally lets one request at a time onto the wire,
// and turns modbus-serial's callback errors into typed errors the poller can act on.
import ModbusRTU from 'modbus-serial';
import type { Logger } from 'pino';
import { doubled } from '../../src/kit/backoff.js';
import { PlantgateError } from '../../src/kit/errors.js';
import { sleep } from '../../src/kit/sleep.js';
import type { ModbusTable } from './address.js';
import { describeTransport, type Transport } from './config.js';

const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

export function exceptionName(code: number): string {
  return EXCEPTION_NAMES[code] ?? 'unknown exception';
}

/** The device answered with a Modbus exception response. */
export class ModbusExceptionError extends PlantgateError {
  readonly exceptionCode: number;
  constructor(code: number, what: string) {
    super('SOURCE_PROTOCOL', `${what} was refused with Modbus exception ${code} (${exceptionName(code)}).`, {
      retryable: code === 5 || code === 6 || code === 11,
    });
    this.exceptionCode = code;
  }
}

/** No (valid) answer within the timeout: the device, a gateway or the line is silent or garbled. */
export class ModbusTimeoutError extends PlantgateError {
  constructor(message: string, cause?: unknown) {
    super('SOURCE_PROTOCOL', message, { retryable: true, cause });
  }
}

/** The connection itself is down (refused, lost, or waiting for its next reconnect attempt). */
export class ModbusConnectionError extends PlantgateError {
  constructor(message: string, cause?: unknown) {
    super('SOURCE_CONNECT', message, { retryable: true, cause });
  }
}

export interface ConnectionOptions {
  transport: Transport;
  serialize: boolean;
  interRequestDelayMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** How long a connect attempt may take. */
  connectTimeoutMs: number;
  log: Logger;
}

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'down' | 'closed';

interface RegisterResult {
  data: number[] | boolean[];
}

type Callback = (err: unknown, res: RegisterResult | undefined) => void;

/** The callback half of modbus-serial's client we use; its typings omit `connectTelnet`. */
interface Client {
  setTimeout(ms: number): void;
  close(cb: () => void): void;
  destroy(cb: () => void): void;
  on(event: 'close' | 'error', fn: (e?: unknown) => void): void;
  removeAllListeners(): void;
  readonly isOpen: boolean;
  writeFC1(unit: number, addr: number, len: number, cb: Callback): void;
  writeFC2(unit: number, addr: number, len: number, cb: Callback): void;
  writeFC3(unit: number, addr: number, len: number, cb: Callback): void;
  writeFC4(unit: number, addr: number, len: number, cb: Callback): void;
  connectTCP(host: string, opts: { port: number }): Promise<void>;
  connectTelnet(host: string, opts: { port: number }): Promise<void>;
  connectRTUBuffered(
    path: string,
    opts: { baudRate: number; parity: string; dataBits: number; stopBits: number },
  ): Promise<void>;
}

/**
 * t3.5 of Modbus RTU: a frame ends with 3.5 characters of silence, and a device that hears the next request
 * earlier takes it for the rest of the last frame. A character is start + data + parity + stop bits; above 19200
 * baud the specification fixes 1.75 ms. Other transports need no silence (0).
 */
export function frameSilenceMs(t: Transport): number {
  if (t.kind !== 'serial') return 0;
  if (t.baud > 19200) return 1.75;
  const bits = 1 + t.dataBits + (t.parity === 'none' ? 0 : 1) + t.stopBits;
  return (3.5 * bits * 1000) / t.baud;
}

/** Longest wait for a port to confirm it closed; a driver that never calls back must not hold up stop(). */
const CLOSE_TIMEOUT_MS = 2000;

/**
 * Lets go of a client completely. modbus-serial's destroy() cancels the timers of pending requests and
 * destroys TCP sockets, but does nothing at all to a serial port (its RTU port class has no destroy): the port
 * stayed open, its read poller kept the event loop alive after the daemon had stopped, and the device stayed
 * held (field fixes #11, item 21). So a port still open after destroy() is closed too.
 */
function release(client: Client): Promise<void> {
  client.removeAllListeners();
  // Errors of a port being torn down (a close on a vanished device) are expected and of no interest.
  client.on('error', () => {});
  return new Promise<void>((resolve) => {
    try {
      client.destroy(() => {});
      if (!client.isOpen) {
        resolve();
        return;
      }
      const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
      timer.unref();
      client.close(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      resolve();
    }
  });
}

export class ModbusConnection {
  readonly #o: ConnectionOptions;
  readonly #where: string;
  #client: Client | undefined;
  #state: ConnectionState = 'idle';
  #connecting: Promise<void> | undefined;
  /** Ends the wait of a connect attempt in progress (set while one runs). */
  #abortConnect: (() => void) | undefined;
  #nextAttemptAt = 0;
  #backoff: number;
  #lastConnectError: string | undefined;
  /** Settles every request still waiting when the connection drops, so no poller hangs on a dead socket. */
  readonly #pending = new Set<(err: Error) => void>();
  #queue: Promise<void> = Promise.resolve();
  #consecutiveTimeouts = 0;
  /** Once a connection has been lost, its recovery is logged once. */
  #wasLost = false;
  readonly counters = { connects: 0, connect_failures: 0, disconnects: 0, silent_reconnects: 0 };
  /** The pause after each request: inter_request_delay, and on a serial line at least t3.5. */
  readonly #pauseMs: number;

  constructor(o: ConnectionOptions) {
    this.#o = o;
    this.#where = describeTransport(o.transport);
    this.#backoff = o.backoffInitialMs;
    this.#pauseMs = Math.max(o.interRequestDelayMs, frameSilenceMs(o.transport));
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get where(): string {
    return this.#where;
  }

  /** Words for /status when the connection is not open. */
  get problem(): string | undefined {
    if (this.#state !== 'down') return undefined;
    const wait = Math.max(0, this.#nextAttemptAt - Date.now());
    return `${this.#where} is not reachable (${this.#lastConnectError ?? 'connection lost'}); next attempt in ${Math.ceil(wait / 1000)} s`;
  }

  /** Reads `count` registers or bits. Rejects with ModbusExceptionError, ModbusTimeoutError or ModbusConnectionError. */
  async read(
    unit: number,
    table: ModbusTable,
    start: number,
    count: number,
    timeoutMs: number,
  ): Promise<number[] | boolean[]> {
    if (!this.#o.serialize) return this.#readOpen(unit, table, start, count, timeoutMs);
    // A FIFO chain: each request starts after the previous one (and its pause) finished.
    const prev = this.#queue;
    let release!: () => void;
    this.#queue = new Promise<void>((r) => {
      release = r;
    });
    await prev;
    try {
      return await this.#readOpen(unit, table, start, count, timeoutMs);
    } finally {
      release();
    }
  }

  async #readOpen(
    unit: number,
    table: ModbusTable,
    start: number,
    count: number,
    timeoutMs: number,
  ): Promise<number[] | boolean[]> {
    const client = await this.#ensureOpen();
    try {
      return await this.#request(client, unit, table, start, count, timeoutMs);
    } finally {
      // Timers may fire a little early against the clock (libuv's cached loop time): the silence is measured.
      const until = performance.now() + this.#pauseMs;
      await sleep(this.#pauseMs);
      for (let left = until - performance.now(); left > 0; left = until - performance.now())
        await sleep(left);
    }
  }

  #request(
    client: Client,
    unit: number,
    table: ModbusTable,
    start: number,
    count: number,
    timeoutMs: number,
  ): Promise<number[] | boolean[]> {
    const what = `unit ${unit} ${table}:${start} (${count} ${table === 'coil' || table === 'discrete' ? 'bit' : 'register'}${count === 1 ? '' : 's'})`;
    return new Promise<number[] | boolean[]>((resolve, reject) => {
      let settled = false;
      // modbus-serial times the request out itself; this guard only protects against a callback that never comes.
      const guard = setTimeout(
        () => finish(new ModbusTimeoutError(`${what}: no answer within ${timeoutMs} ms.`)),
        timeoutMs * 2 + 1000,
      );
      const onDrop = (err: Error) => finish(err);
      const finish = (err: Error | undefined, data?: number[] | boolean[]) => {
        if (settled) return;
        settled = true;
        clearTimeout(guard);
        this.#pending.delete(onDrop);
        if (err) reject(err);
        else resolve(data as number[] | boolean[]);
      };
      this.#pending.add(onDrop);
      const cb: Callback = (err, res) => {
        if (err) {
          finish(this.#classify(err, what, timeoutMs));
          // A TCP peer that vanished without closing the socket answers nothing ever again: start over. Done
          // after this request settled, so it still counts as the timeout it was.
          if (
            this.#consecutiveTimeouts >= 3 &&
            this.#o.transport.kind !== 'serial' &&
            this.#client === client
          ) {
            this.#consecutiveTimeouts = 0;
            this.#drop('three requests in a row went unanswered', true);
          }
          return;
        }
        this.#consecutiveTimeouts = 0;
        const data = res?.data ?? [];
        // FC1/FC2 answers are padded to whole bytes.
        finish(undefined, data.length > count ? (data.slice(0, count) as number[] | boolean[]) : data);
      };
      try {
        // The client reads its timeout when the request is written, so per-device timeouts share one client.
        client.setTimeout(timeoutMs);
        if (table === 'coil') client.writeFC1(unit, start, count, cb);
        else if (table === 'discrete') client.writeFC2(unit, start, count, cb);
        else if (table === 'holding') client.writeFC3(unit, start, count, cb);
        else client.writeFC4(unit, start, count, cb);
      } catch (err) {
        finish(new ModbusConnectionError(`${what}: the request could not be sent.`, err));
      }
    });
  }

  #classify(err: unknown, what: string, timeoutMs: number): Error {
    const e = err as { modbusCode?: unknown; errno?: unknown; name?: unknown; message?: unknown };
    if (typeof e.modbusCode === 'number') {
      this.#consecutiveTimeouts = 0;
      return new ModbusExceptionError(e.modbusCode, what);
    }
    if (e.errno === 'ETIMEDOUT') {
      this.#consecutiveTimeouts += 1;
      return new ModbusTimeoutError(`${what}: no answer within ${timeoutMs} ms.`);
    }
    if (e.name === 'PortNotOpenError' || !this.#client?.isOpen) {
      return new ModbusConnectionError(`${what}: the connection to ${this.#where} is not open.`, err);
    }
    // CRC errors, wrong lengths, unexpected unit or function in the answer: a garbled line behaves like silence.
    return new ModbusTimeoutError(`${what}: invalid answer (${String(e.message ?? err)}).`, err);
  }

  async #ensureOpen(): Promise<Client> {
    if (this.#state === 'closed')
      throw new ModbusConnectionError(`The connection to ${this.#where} is closed.`);
    if (this.#state === 'open' && this.#client?.isOpen) return this.#client;
    if (this.#state === 'open') this.#drop('the port closed');
    if (!this.#connecting) {
      const wait = this.#nextAttemptAt - Date.now();
      if (wait > 0) {
        throw new ModbusConnectionError(
          `${this.#where} is not reachable (${this.#lastConnectError ?? 'connection lost'}); next attempt in ${Math.ceil(wait / 1000)} s.`,
        );
      }
      this.#connecting = this.#connect().finally(() => {
        this.#connecting = undefined;
      });
    }
    await this.#connecting;
    if (this.#state !== 'open' || !this.#client) {
      throw new ModbusConnectionError(
        `${this.#where} is not reachable (${this.#lastConnectError ?? 'connection lost'}).`,
      );
    }
    return this.#client;
  }

  async #connect(): Promise<void> {
    this.#state = 'connecting';
    const client = new (ModbusRTU as unknown as new () => Client)();
    client.on('error', () => {
      // Port errors also close the port; the close handler does the bookkeeping.
    });
    const t = this.#o.transport;
    const opening =
      t.kind === 'tcp'
        ? client.connectTCP(t.host, { port: t.port })
        : t.kind === 'rtu_over_tcp'
          ? client.connectTelnet(t.host, { port: t.port })
          : client.connectRTUBuffered(t.path, {
              baudRate: t.baud,
              parity: t.parity,
              dataBits: t.dataBits,
              stopBits: t.stopBits,
            });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        opening,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no connection within ${this.#o.connectTimeoutMs} ms`)),
            this.#o.connectTimeoutMs,
          );
          // close() does not wait out the connect timeout.
          this.#abortConnect = () => reject(new Error('the source stopped'));
        }),
      ]);
    } catch (err) {
      clearTimeout(timer);
      this.#abortConnect = undefined;
      // A port that finishes opening after we gave up on it would stay open for good: release it then.
      opening.then(
        () => void release(client),
        () => {},
      );
      if (this.#isClosed()) {
        await release(client);
        return;
      }
      this.counters.connect_failures += 1;
      const reason = err instanceof Error ? err.message : String(err);
      const first = this.#lastConnectError === undefined && !this.#wasLost;
      this.#lastConnectError = reason;
      if (!this.#isClosed()) this.#state = 'down';
      this.#nextAttemptAt = Date.now() + this.#backoff;
      this.#backoff = doubled(this.#backoff, {
        initialMs: this.#o.backoffInitialMs,
        maxMs: this.#o.backoffMaxMs,
      });
      void release(client);
      if (first) this.#o.log.warn({ err }, `Cannot connect to ${this.#where}; retrying with backoff.`);
      return;
    }
    clearTimeout(timer);
    this.#abortConnect = undefined;
    if (this.#isClosed()) {
      await release(client);
      return;
    }
    this.#client = client;
    this.#state = 'open';
    this.#backoff = this.#o.backoffInitialMs;
    this.#nextAttemptAt = 0;
    this.#consecutiveTimeouts = 0;
    this.counters.connects += 1;
    if (this.#wasLost || this.#lastConnectError !== undefined) {
      this.#o.log.info(`Connection to ${this.#where} is back.`);
    }
    this.#lastConnectError = undefined;
    this.#wasLost = false;
    client.on('close', () => {
      if (this.#client === client) this.#drop('the peer closed the connection');
    });
  }

  /** Forgets the current client and fails everything waiting on it; the next request reconnects. */
  #drop(reason: string, quiet = false): void {
    const client = this.#client;
    if (!client) return;
    this.#client = undefined;
    if (quiet) {
      // Silence is the device's problem (reported per device); the fresh socket is routine, not an outage.
      this.#state = 'idle';
      this.counters.silent_reconnects += 1;
      this.#o.log.debug(`Reopening the connection to ${this.#where}: ${reason}.`);
    } else if (this.#state === 'open') {
      this.#state = 'down';
      this.counters.disconnects += 1;
      this.#lastConnectError = reason;
      this.#wasLost = true;
      // The first reconnect is immediate: a restarted PLC is usually back by the next poll.
      this.#nextAttemptAt = 0;
      this.#o.log.warn(`Connection to ${this.#where} lost: ${reason}; reconnecting.`);
    }
    void release(client);
    const err = new ModbusConnectionError(`The connection to ${this.#where} was lost (${reason}).`);
    for (const fail of [...this.#pending]) fail(err);
  }

  /** Closes the socket or port for good and fails every waiting request; resolves once the port is closed. */
  async close(): Promise<void> {
    const connecting = this.#connecting;
    this.#state = 'closed';
    this.#abortConnect?.();
    const client = this.#client;
    this.#client = undefined;
    const err = new ModbusConnectionError(
      `The connection to ${this.#where} was closed because the source stopped.`,
    );
    for (const fail of [...this.#pending]) fail(err);
    if (client) await release(client);
    await connecting?.catch(() => {});
  }

  #isClosed(): boolean {
    return this.#state === 'closed';
  }
}
