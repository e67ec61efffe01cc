// Read planning: signals of one device are coalesced into the fewest read requests that respect the protocol
// and device limits, bridging unused gaps up to a configured size. The plan is also printed for engineers
// (`plantgate check-config --plan <source>`), so they see exactly what will be sent.
import { formatRegister, isBitTable, type ModbusTable, READ_FUNCTION, TABLES } from './address.js';
import {
  describeTransport,
  isSerialized,
  type ModbusSourceConfig,
  type ResolvedDevice,
  resolveDevices,
  resolveTransport,
} from './config.js';

/** One thing to read: `count` registers (or bits) from `start` in `table`. */
export interface PlanItem {
  table: ModbusTable;
  start: number;
  count: number;
  /** Index of the signal in its device, so decoded values find their signal again. */
  index: number;
}

export interface ReadBlock {
  table: ModbusTable;
  start: number;
  /** Registers or bits read, gaps included. */
  count: number;
  items: PlanItem[];
}

export interface PlanLimits {
  /** Largest register read, ≤ 125. */
  maxRegisters: number;
  /** Largest bit read, ≤ 2000. */
  maxBits: number;
  /** Unused registers one request may span to join two signals. */
  maxGap: number;
  /** Unused bits one request may span to join two signals. */
  maxBitGap: number;
}

/**
 * Greedy coalescing per table over items sorted by address: an item joins the open request when the gap
 * before it is within the allowed gap and the request stays within the size limit; otherwise it opens the
 * next request. Overlapping items (two views of one register) share a request. Never produces more requests
 * than items, and never a request past a limit unless a single item is itself larger (the config check
 * refuses those).
 */
export function planReads(items: readonly PlanItem[], limits: PlanLimits): ReadBlock[] {
  const blocks: ReadBlock[] = [];
  for (const table of TABLES) {
    const bits = isBitTable(table);
    const limit = bits ? limits.maxBits : limits.maxRegisters;
    const gap = bits ? limits.maxBitGap : limits.maxGap;
    const mine = items
      .filter((i) => i.table === table)
      .sort((a, b) => a.start - b.start || a.start + a.count - (b.start + b.count));
    let open: ReadBlock | undefined;
    for (const item of mine) {
      const itemEnd = item.start + item.count;
      if (open) {
        const end = open.start + open.count;
        const newEnd = Math.max(end, itemEnd);
        if (item.start - end <= gap && newEnd - open.start <= limit) {
          open.count = newEnd - open.start;
          open.items.push(item);
          continue;
        }
      }
      open = { table, start: item.start, count: item.count, items: [item] };
      blocks.push(open);
    }
  }
  return blocks;
}

export function deviceItems(device: ResolvedDevice): PlanItem[] {
  return device.signals.map((s, index) => ({
    table: s.ref.table,
    start: s.ref.address,
    count: s.count,
    index,
  }));
}

export function planDevice(
  device: ResolvedDevice,
  cfg: Pick<ModbusSourceConfig, 'max_gap' | 'max_bit_gap'>,
): ReadBlock[] {
  return planReads(deviceItems(device), {
    maxRegisters: device.maxRegisters,
    maxBits: device.maxBits,
    maxGap: cfg.max_gap,
    maxBitGap: cfg.max_bit_gap,
  });
}

/** Fewest requests any plan could use: each table's distinct registers packed back to back at the limit. */
export function minimumRequests(
  items: readonly PlanItem[],
  limits: Pick<PlanLimits, 'maxRegisters' | 'maxBits'>,
): number {
  let n = 0;
  for (const table of TABLES) {
    const covered = new Set<number>();
    for (const i of items)
      if (i.table === table) for (let a = i.start; a < i.start + i.count; a++) covered.add(a);
    if (covered.size > 0)
      n += Math.ceil(covered.size / (isBitTable(table) ? limits.maxBits : limits.maxRegisters));
  }
  return n;
}

const TABLE_WORDS: Record<ModbusTable, string> = {
  coil: 'coils',
  discrete: 'discrete inputs',
  input: 'input registers',
  holding: 'holding registers',
};

/** The read plan of a source in words: what is sent to each device on every poll. */
export function describePlan(cfg: ModbusSourceConfig): string {
  const transport = resolveTransport(cfg);
  const lines: string[] = [];
  lines.push(
    `Source ${cfg.id}: ${describeTransport(transport)}, polled every ${cfg.poll_interval} ms` +
      (isSerialized(cfg) ? ', one request at a time' : '') +
      (cfg.inter_request_delay > 0 ? `, ${cfg.inter_request_delay} ms pause after each request` : '') +
      '.',
  );
  for (const device of resolveDevices(cfg)) {
    const blocks = planDevice(device, cfg);
    const items = deviceItems(device);
    const min = minimumRequests(items, device);
    lines.push(
      `${device.name === `unit ${device.unitId}` ? device.name : `${device.name} (unit ${device.unitId})`}: ${blocks.length} request${blocks.length === 1 ? '' : 's'} per poll for ${device.signals.length} signal${device.signals.length === 1 ? '' : 's'} (lower bound ${min}; at most ${device.maxRegisters} registers and ${device.maxBits} bits per request, gaps up to ${cfg.max_gap} registers / ${cfg.max_bit_gap} bits bridged; timeout ${device.timeoutMs} ms, ${device.retries} retr${device.retries === 1 ? 'y' : 'ies'}).`,
    );
    blocks.forEach((b, k) => {
      const unit = isBitTable(b.table) ? 'bit' : 'register';
      const used = new Set<number>();
      for (const it of b.items) for (let a = it.start; a < it.start + it.count; a++) used.add(a);
      const unused = b.count - used.size;
      lines.push(
        `  ${k + 1}. FC${READ_FUNCTION[b.table]} read ${TABLE_WORDS[b.table]} ${b.start}..${b.start + b.count - 1} (${b.count} ${unit}${b.count === 1 ? '' : 's'}${unused > 0 ? `, ${unused} unused` : ''}):`,
      );
      for (const it of b.items) {
        const s = device.signals[it.index];
        if (!s) continue;
        const detail =
          s.bit !== undefined
            ? `bit ${s.bit}`
            : s.type === 'string'
              ? `string of ${s.length} registers`
              : s.count > 1
                ? `${s.type} ${s.order}`
                : s.type;
        lines.push(`       ${formatRegister(s.ref)} ${detail} -> ${s.name}`);
      }
    });
  }
  return lines.join('\n');
}
