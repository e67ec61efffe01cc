// One Modbus device (unit id) on a connection as the adapter tracks it: its state, counters, current read plan
// and the signals it refused, and the decoding of one read into its samples. Separate from modbus.ts, which
// schedules the polls and decides what a failure means, so the per-device bookkeeping reads on its own.
import type { RawSample } from '../../src/model/records.js';
import { formatRegister, isBitTable } from './address.js';
import { decodeRegisters } from './codec.js';
import type { ResolvedDevice, ResolvedSignal } from './config.js';
import { deviceItems, type PlanItem, type ReadBlock } from './plan.js';

export type DeviceState = 'starting' | 'online' | 'offline' | 'reconnecting';

export interface DeviceCounters {
  /** Poll cycles started (including probes of an offline device). */
  cycles: number;
  /** Cycles in which every planned read succeeded. */
  good_cycles: number;
  failed_cycles: number;
  requests: number;
  timeouts: number;
  exceptions: number;
  retries: number;
  /** Scheduled polls skipped because the previous one (reads + emit) was still running. */
  overruns: number;
  samples: number;
  emit_errors: number;
}

export interface DeviceStatus {
  unit_id: number;
  name: string;
  state: DeviceState;
  /** Requests in the current plan. */
  requests_per_poll: number;
  counters: DeviceCounters;
  last_error?: string;
  last_error_at?: number;
  last_sample_at?: number;
  /** Signals left out of the plan because the device refused them (illegal address/function), with the reason. */
  excluded: Array<{ signal: string; reason: string }>;
}

/** Turns the data of one read (starting at `base`) into one sample per planned item. */
export function decodeBlock(
  device: Pick<ResolvedDevice, 'unitId' | 'signals'>,
  table: ReadBlock['table'],
  data: ArrayLike<number | boolean>,
  base: number,
  items: readonly PlanItem[],
  ts: number,
  out: RawSample[],
): void {
  const bits = isBitTable(table);
  for (const it of items) {
    const s = device.signals[it.index] as ResolvedSignal;
    const offset = it.start - base;
    const value = bits ? Boolean(data[offset]) : decodeRegisters(data as ArrayLike<number>, offset, s);
    out.push({
      signal: s.name,
      value,
      ts,
      address: `unit ${device.unitId} ${formatRegister(s.ref)}${s.bit !== undefined ? ` bit ${s.bit}` : ''}`,
    });
  }
}

export class Device {
  readonly cfg: ResolvedDevice;
  state: DeviceState = 'starting';
  blocks: ReadBlock[] = [];
  readonly counters: DeviceCounters = {
    cycles: 0,
    good_cycles: 0,
    failed_cycles: 0,
    requests: 0,
    timeouts: 0,
    exceptions: 0,
    retries: 0,
    overruns: 0,
    samples: 0,
    emit_errors: 0,
  };
  backoffMs = 0;
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  lastSampleAt: number | undefined;
  /** Signal index -> why and when it was left out of the plan. */
  readonly excluded = new Map<number, { reason: string; at: number }>();
  /** Signals read on their own because a bridged read that held them was refused. */
  readonly noBridge = new Set<number>();
  readonly reported = new Set<number>();
  emitFailing = false;
  readonly items: PlanItem[];

  constructor(cfg: ResolvedDevice) {
    this.cfg = cfg;
    this.items = deviceItems(cfg);
  }

  get label(): string {
    return this.cfg.name === `unit ${this.cfg.unitId}`
      ? this.cfg.name
      : `${this.cfg.name} (unit ${this.cfg.unitId})`;
  }
}
