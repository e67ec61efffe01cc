// The `modbus` source: polls every device of one connection on its own drift-free schedule, decodes the
// planned reads into samples and emits one batch per device and poll. A device that stops answering is
// isolated (probed with backoff, without retries) so the others on the same connection keep their rate.
import { doubled } from '../../src/kit/backoff.js';
import type { RawSample } from '../../src/model/records.js';
import type { Adapter, AdapterContext, ComponentHealth } from '../kit/types.js';
import { formatRegister } from './address.js';
import {
  isSerialized,
  type ModbusSourceConfig,
  type ResolvedSignal,
  resolveDevices,
  resolveTransport,
} from './config.js';
import {
  exceptionName,
  ModbusConnection,
  ModbusConnectionError,
  ModbusExceptionError,
  ModbusTimeoutError,
} from './connection.js';
import { Device, type DeviceStatus, decodeBlock } from './device.js';
import { type PlanItem, planReads, type ReadBlock } from './plan.js';

export { type DeviceCounters, type DeviceState, type DeviceStatus, decodeBlock } from './device.js';

/** Exception codes that concern the addressed registers, not the device's health. */
const ADDRESS_EXCEPTIONS = new Set([1, 2, 3]);

export class ModbusAdapter implements Adapter {
  readonly #cfg: ModbusSourceConfig;
  readonly #devices: Device[];
  #conn: ModbusConnection | undefined;
  #ctx: AdapterContext | undefined;
  #stopped = false;
  #started = false;
  #loops: Promise<void>[] = [];
  readonly #wakers = new Set<() => void>();
  #t0 = 0;

  constructor(cfg: ModbusSourceConfig) {
    this.#cfg = cfg;
    this.#devices = resolveDevices(cfg).map((d) => new Device(d));
    for (const d of this.#devices) this.#replan(d);
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#ctx = ctx;
    this.#stopped = false;
    const cfg = this.#cfg;
    this.#conn = new ModbusConnection({
      transport: resolveTransport(cfg),
      serialize: isSerialized(cfg),
      interRequestDelayMs: cfg.inter_request_delay,
      backoffInitialMs: cfg.reconnect.initial,
      backoffMaxMs: cfg.reconnect.max,
      connectTimeoutMs: Math.max(cfg.timeout, 3000),
      log: ctx.log,
    });
    ctx.signal.addEventListener('abort', () => void this.stop(), { once: true });
    this.#t0 = Date.now();
    // Devices start spread over one interval, so a gateway with many units does not see them all at once.
    const n = this.#devices.length;
    this.#loops = this.#devices.map((d, k) =>
      this.#run(d, this.#t0 + Math.floor((k * cfg.poll_interval) / n)),
    );
  }

  async stop(): Promise<void> {
    if (this.#stopped) {
      await Promise.all(this.#loops);
      return;
    }
    this.#stopped = true;
    for (const wake of [...this.#wakers]) wake();
    await this.#conn?.close();
    await Promise.all(this.#loops);
  }

  /** Per-device view for /status details and tests. No I/O. */
  devices(): DeviceStatus[] {
    return this.#devices.map((d) => {
      const s: DeviceStatus = {
        unit_id: d.cfg.unitId,
        name: d.cfg.name,
        state: d.state,
        requests_per_poll: d.blocks.length,
        counters: { ...d.counters },
        excluded: [...d.excluded].map(([i, e]) => ({
          signal: d.cfg.signals[i]?.name ?? String(i),
          reason: e.reason,
        })),
      };
      if (d.lastError !== undefined) s.last_error = d.lastError;
      if (d.lastErrorAt !== undefined) s.last_error_at = d.lastErrorAt;
      if (d.lastSampleAt !== undefined) s.last_sample_at = d.lastSampleAt;
      return s;
    });
  }

  health(): ComponentHealth {
    const devs = this.#devices;
    const conn = this.#conn;
    const counters: Record<string, number> = {};
    for (const d of devs) {
      for (const [k, v] of Object.entries(d.counters)) {
        counters[k] = (counters[k] ?? 0) + v;
        counters[`unit_${d.cfg.unitId}_${k}`] = v;
      }
    }
    if (conn) Object.assign(counters, conn.counters);
    const offline = devs.filter((d) => d.state === 'offline');
    counters.devices_online = devs.filter((d) => d.state === 'online').length;
    counters.devices_offline = offline.length;
    counters.signals_excluded = devs.reduce((n, d) => n + d.excluded.size, 0);

    let state: ComponentHealth['state'];
    if (this.#stopped) state = 'stopped';
    else if (!this.#started || devs.every((d) => d.state === 'starting')) state = 'starting';
    else if (conn?.state === 'down' || devs.every((d) => d.state === 'reconnecting')) state = 'reconnecting';
    else if (offline.length === devs.length) state = 'down';
    else state = 'connected';

    const words: string[] = [];
    const problem = conn?.problem;
    if (problem) words.push(problem);
    for (const d of offline) {
      words.push(
        `${d.label} does not answer (${d.lastError ?? 'no answer'}); next attempt within ${Math.ceil(d.backoffMs / 1000)} s`,
      );
    }
    for (const d of devs) {
      for (const [i, e] of d.excluded) words.push(`${d.cfg.signals[i]?.name} is not read: ${e.reason}`);
    }
    const h: ComponentHealth = { state, counters };
    if (words.length > 0) h.detail = words.join('; ');
    let lastErr: Device | undefined;
    let lastSample: number | undefined;
    for (const d of devs) {
      if (d.lastErrorAt !== undefined && (lastErr?.lastErrorAt ?? -1) < d.lastErrorAt) lastErr = d;
      if (d.lastSampleAt !== undefined) lastSample = Math.max(lastSample ?? 0, d.lastSampleAt);
    }
    if (lastErr?.lastError !== undefined) {
      h.last_error = `${lastErr.label}: ${lastErr.lastError}`;
      if (lastErr.lastErrorAt !== undefined) h.last_error_at = lastErr.lastErrorAt;
    }
    if (lastSample !== undefined) h.last_sample_at = lastSample;
    return h;
  }

  #replan(d: Device): void {
    const limits = {
      maxRegisters: d.cfg.maxRegisters,
      maxBits: d.cfg.maxBits,
      maxGap: this.#cfg.max_gap,
      maxBitGap: this.#cfg.max_bit_gap,
    };
    const active = d.items.filter((i) => !d.excluded.has(i.index));
    const bridged = active.filter((i) => !d.noBridge.has(i.index));
    const alone = active.filter((i) => d.noBridge.has(i.index));
    d.blocks = [...planReads(bridged, limits), ...planReads(alone, { ...limits, maxGap: 0, maxBitGap: 0 })];
  }

  /** Waits until `at` (epoch ms) or until the source stops. */
  #sleepUntil(at: number): Promise<void> {
    const ms = at - Date.now();
    if (ms <= 0 || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }

  async #run(d: Device, first: number): Promise<void> {
    const interval = this.#cfg.poll_interval;
    const phase = first;
    let due = first;
    while (!this.#stopped) {
      await this.#sleepUntil(due);
      if (this.#stopped) break;
      const outcome = await this.#cycle(d);
      if (this.#stopped) break;
      const now = Date.now();
      if (outcome === 'offline') {
        // Isolated: the next attempt waits out the backoff instead of taking a slot every interval.
        due = now + d.backoffMs;
        continue;
      }
      // Drift-free: the next poll is the next slot of the grid phase + k * interval; slots that passed while
      // this poll ran are skipped and counted, never caught up in a burst.
      due += interval;
      if (due <= now) {
        const behind = Math.floor((now - due) / interval) + 1;
        if (outcome === 'ok') d.counters.overruns += behind;
        due += behind * interval;
      }
      // After a backoff wait the device rejoins its grid.
      const offsetFromGrid = (due - phase) % interval;
      if (offsetFromGrid !== 0) due += interval - offsetFromGrid;
    }
  }

  /** One poll of one device: every planned read, then one emit. */
  async #cycle(d: Device): Promise<'ok' | 'offline' | 'disconnected'> {
    const conn = this.#conn;
    const ctx = this.#ctx;
    if (!conn || !ctx) return 'disconnected';
    d.counters.cycles += 1;
    this.#reincludeExcluded(d);
    const ts = Date.now();
    const samples: RawSample[] = [];
    // An unanswering device gets one try per request instead of its retries, so a probe costs one timeout.
    const retries = d.state === 'offline' ? 0 : d.cfg.retries;
    let failure: 'offline' | 'disconnected' | undefined;
    let replan = false;
    for (const block of d.blocks) {
      if (this.#stopped) return 'disconnected';
      try {
        const data = await this.#readBlock(d, block, retries);
        this.#decode(d, block, data, block.start, block.items, ts, samples);
      } catch (err) {
        if (err instanceof ModbusExceptionError && ADDRESS_EXCEPTIONS.has(err.exceptionCode)) {
          await this.#isolateRefused(d, block, err, retries, ts, samples);
          replan = true;
          continue;
        }
        if (err instanceof ModbusConnectionError) {
          failure = 'disconnected';
        } else {
          failure = 'offline';
        }
        this.#noteError(d, err);
        break;
      }
    }
    if (replan) this.#replan(d);
    if (failure === 'disconnected') {
      d.counters.failed_cycles += 1;
      d.state = 'reconnecting';
    } else if (failure === 'offline') {
      d.counters.failed_cycles += 1;
      this.#markOffline(d);
    } else {
      d.counters.good_cycles += 1;
      this.#markOnline(d);
    }
    if (samples.length > 0) await this.#emit(d, ctx, samples);
    return failure ?? 'ok';
  }

  async #readBlock(d: Device, block: ReadBlock, retries: number): Promise<number[] | boolean[]> {
    const conn = this.#conn as ModbusConnection;
    for (let attempt = 0; ; attempt++) {
      d.counters.requests += 1;
      try {
        return await conn.read(d.cfg.unitId, block.table, block.start, block.count, d.cfg.timeoutMs);
      } catch (err) {
        if (err instanceof ModbusExceptionError) {
          d.counters.exceptions += 1;
          if (!err.retryable || attempt >= retries) throw err;
        } else if (err instanceof ModbusTimeoutError) {
          d.counters.timeouts += 1;
          if (attempt >= retries) throw err;
        } else {
          throw err;
        }
        if (this.#stopped) throw err;
        d.counters.retries += 1;
      }
    }
  }

  /**
   * A read was refused for its addresses. Reading each of its signals alone finds the one the device does not
   * have; that signal is named and left out of the plan, the others are read without bridging from now on.
   */
  async #isolateRefused(
    d: Device,
    block: ReadBlock,
    err: ModbusExceptionError,
    retries: number,
    ts: number,
    samples: RawSample[],
  ): Promise<void> {
    const groups = new Map<string, PlanItem[]>();
    for (const it of block.items) {
      const key = `${it.start}:${it.count}`;
      const g = groups.get(key);
      if (g) g.push(it);
      else groups.set(key, [it]);
    }
    if (groups.size === 1) {
      for (const it of block.items) this.#exclude(d, it, err.exceptionCode);
      return;
    }
    for (const items of groups.values()) {
      const first = items[0] as PlanItem;
      try {
        const sub: ReadBlock = { table: first.table, start: first.start, count: first.count, items };
        const data = await this.#readBlock(d, sub, retries);
        this.#decode(d, sub, data, sub.start, items, ts, samples);
        for (const it of items) d.noBridge.add(it.index);
      } catch (e) {
        if (e instanceof ModbusExceptionError && ADDRESS_EXCEPTIONS.has(e.exceptionCode)) {
          for (const it of items) this.#exclude(d, it, e.exceptionCode);
        } else {
          throw e;
        }
      }
    }
  }

  #exclude(d: Device, it: PlanItem, code: number): void {
    const s = d.cfg.signals[it.index] as ResolvedSignal;
    const what = `${formatRegister(s.ref)}${s.count > 1 ? `..${s.ref.address + s.count - 1}` : ''}`;
    const reason = `${d.label} refused ${what} with Modbus exception ${code} (${exceptionName(code)}); check the register of ${s.name} or remove it`;
    d.excluded.set(it.index, { reason, at: Date.now() });
    d.noBridge.add(it.index);
    d.lastError = reason;
    d.lastErrorAt = Date.now();
    if (!d.reported.has(it.index)) {
      d.reported.add(it.index);
      this.#ctx?.log.warn(
        { signal: s.name, unit: d.cfg.unitId, exception: code },
        `Signal ${s.name}: ${reason}.`,
      );
    }
  }

  /** A refused signal is tried again after reconnect.max, in case the PLC program was changed meanwhile. */
  #reincludeExcluded(d: Device): void {
    if (d.excluded.size === 0) return;
    const now = Date.now();
    let changed = false;
    for (const [i, e] of d.excluded) {
      if (now - e.at >= this.#cfg.reconnect.max) {
        d.excluded.delete(i);
        changed = true;
      }
    }
    if (changed) this.#replan(d);
  }

  #decode(
    d: Device,
    block: ReadBlock,
    data: number[] | boolean[],
    base: number,
    items: readonly PlanItem[],
    ts: number,
    out: RawSample[],
  ): void {
    decodeBlock(d.cfg, block.table, data, base, items, ts, out);
  }

  async #emit(d: Device, ctx: AdapterContext, samples: RawSample[]): Promise<void> {
    try {
      await ctx.emit(samples);
      d.counters.samples += samples.length;
      d.lastSampleAt = Date.now();
      if (d.emitFailing) {
        d.emitFailing = false;
        ctx.log.info(`Samples of ${d.label} are accepted again.`);
      }
    } catch (err) {
      d.counters.emit_errors += 1;
      if (this.#stopped) return;
      if (!d.emitFailing) {
        d.emitFailing = true;
        ctx.log.warn({ err }, `Samples of ${d.label} could not be handed on; the next poll tries again.`);
      }
    }
  }

  #noteError(d: Device, err: unknown): void {
    d.lastError = err instanceof Error ? err.message.replace(/\.$/, '') : String(err);
    d.lastErrorAt = Date.now();
  }

  #markOffline(d: Device): void {
    const initial = this.#cfg.reconnect.initial;
    if (d.state !== 'offline') {
      d.state = 'offline';
      d.backoffMs = initial;
      this.#ctx?.log.warn(
        { unit: d.cfg.unitId, err_message: d.lastError },
        `${d.label} does not answer (${d.lastError}); it is polled with backoff until it answers again, the other devices keep their rate.`,
      );
    } else {
      d.backoffMs = doubled(d.backoffMs, { initialMs: initial, maxMs: this.#cfg.reconnect.max });
    }
  }

  #markOnline(d: Device): void {
    if (d.state === 'offline') {
      this.#ctx?.log.info(
        { unit: d.cfg.unitId },
        `${d.label} answers again; back to polling every ${this.#cfg.poll_interval} ms.`,
      );
    }
    d.state = 'online';
    d.backoffMs = 0;
  }
}
