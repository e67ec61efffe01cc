// From configured signals to readable items on one connection: NodeIds and browse paths resolved (chunked within
// the server's operation limits), each node's DataType and ValueRank checked against the signal, and signals
// that did not resolve looked for again. Separate from the session and from the data path because this is the
// part that talks about the plant's address space, and its problems are the ones that name a signal.
import {
  AttributeIds,
  type ClientSession,
  DataType,
  type DataValue,
  findBasicDataType,
  makeBrowsePath,
  type NodeId,
  type ReadValueIdOptions,
  resolveNodeId,
  VariableIds,
} from 'node-opcua';
import type { OpcuaSignalConfig, OpcuaSourceConfig } from './config.js';
import type { ConnectionHooks } from './hooks.js';
import { type CanonicalType, canonicalTypeOf, type ItemSpec, isArrayVariant } from './values.js';

/** Upper bound of items per CreateMonitoredItems / Read / TranslateBrowsePaths call even when the server sets none. */
const MAX_CHUNK = 2000;

export interface ResolvedItem extends ItemSpec {
  cfg: OpcuaSignalConfig;
  /** From the node's DataType attribute (subtypes resolved to their built-in type), when it could be read. */
  serverType?: CanonicalType;
  dataTypeName?: string;
  /** The array-without-index problem is reported once per item and connection. */
  arrayReported?: boolean;
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function limitOf(v: unknown): number {
  const n = typeof v === 'number' ? v : 0;
  return n > 0 ? Math.min(n, MAX_CHUNK) : MAX_CHUNK;
}

export async function readLimits(
  session: ClientSession,
): Promise<{ monitor: number; read: number; translate: number }> {
  const ids = [
    VariableIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
    VariableIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
    VariableIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIds,
  ];
  try {
    const dvs = await session.read(
      ids.map((i) => ({ nodeId: resolveNodeId(i), attributeId: AttributeIds.Value })),
    );
    const v = dvs.map((d) => (d.statusCode.isGood() ? d.value.value : 0));
    return { monitor: limitOf(v[0]), read: limitOf(v[1]), translate: limitOf(v[2]) };
  } catch {
    // Servers without operation limits: stay with our own bound.
    return { monitor: MAX_CHUNK, read: MAX_CHUNK, translate: MAX_CHUNK };
  }
}

/** A declared signal whose address did not resolve at connect, looked for again while connected. */
export interface Unresolved {
  signal: string;
  path?: string;
  node?: string;
}

function browsePathOf(path: string) {
  return makeBrowsePath('RootFolder', `/${path.replace(/^\//, '')}`);
}

/** The name of the first unresolved signal that resolves now, if any. */
export async function findResolved(
  session: ClientSession,
  unresolved: readonly Unresolved[],
  chunk: number,
): Promise<string | undefined> {
  const paths = unresolved.filter((u) => u.path !== undefined);
  for (const part of chunks(paths, chunk)) {
    const results = await session.translateBrowsePath(part.map((u) => browsePathOf(u.path as string)));
    const i = results.findIndex((r) => r.statusCode.isGood() && (r.targets?.length ?? 0) > 0);
    if (i >= 0) return part[i]?.signal;
  }
  const nodes = unresolved.filter((u) => u.node !== undefined);
  for (const part of chunks(nodes, chunk)) {
    const dvs = await session.read(
      part.map((u) => ({ nodeId: u.node as string, attributeId: AttributeIds.NodeClass })),
    );
    const i = dvs.findIndex((d) => d.statusCode.isGood());
    if (i >= 0) return part[i]?.signal;
  }
  return undefined;
}

export async function resolveItems(
  session: ClientSession,
  cfg: OpcuaSourceConfig,
  chunk: number,
  hooks: ConnectionHooks,
  unresolved: Unresolved[],
): Promise<ResolvedItem[]> {
  const items: ResolvedItem[] = [];
  const byPath: Array<{ s: OpcuaSignalConfig; path: string }> = [];
  for (const s of cfg.signals) {
    if (s.node !== undefined) items.push(itemOf(s, s.node));
    else byPath.push({ s, path: s.browse_path as string });
  }
  for (const part of chunks(byPath, chunk)) {
    const results = await session.translateBrowsePath(part.map(({ path }) => browsePathOf(path)));
    part.forEach(({ s, path }, i) => {
      const r = results[i];
      const target = r?.targets?.[0];
      if (!r?.statusCode.isGood() || !target) {
        hooks.count('items_failed');
        unresolved.push({ signal: s.name, path });
        hooks.onProblem(
          `path:${s.name}`,
          s.name,
          `signal ${s.name} is never read: browse_path "${path}" does not resolve on ${cfg.endpoint} (${r?.statusCode.name ?? 'no result'}); check the browse names and namespace indexes (plantgate opcua browse ${cfg.id} lists them)`,
          true,
        );
        return;
      }
      items.push(itemOf(s, target.targetId.toString()));
    });
  }
  return items;
}

/** Value-rule keys that only make sense for numbers. */
const NUMERIC_RULES = ['unit', 'canonical_unit', 'scale', 'range', 'max_rate_of_change', 'deadband'] as const;

/**
 * Reads the DataType and ValueRank of every item (chunked within the server's read limit) and checks them
 * against the signal: a `value_type` that contradicts the server's type, numeric rules on a Boolean or String,
 * an array without `index`, an `index` on a scalar. Each is a problem that names the signal; reading goes on
 * (the explicit `value_type` wins; the pipeline quarantines what does not fit). A server that refuses these
 * reads only costs the checks: the values still carry their type.
 */
export async function describeItems(
  session: ClientSession,
  items: ResolvedItem[],
  chunk: number,
  cfg: OpcuaSourceConfig,
  hooks: ConnectionHooks,
): Promise<void> {
  const per = Math.max(1, Math.floor(chunk / 3));
  const builtIn = new Map<string, DataType | undefined>();
  for (const part of chunks(items, per)) {
    let dvs: DataValue[];
    try {
      dvs = await session.read(
        part.flatMap((it) => [
          { nodeId: it.address, attributeId: AttributeIds.DataType },
          { nodeId: it.address, attributeId: AttributeIds.ValueRank },
          { nodeId: it.address, attributeId: AttributeIds.ArrayDimensions },
        ]),
      );
    } catch {
      return;
    }
    for (let i = 0; i < part.length; i++) {
      const it = part[i] as ResolvedItem;
      const dt = dvs[3 * i];
      const rank = dvs[3 * i + 1];
      const dims = dvs[3 * i + 2];
      if (!dt?.statusCode.isGood()) continue;
      const id = dt.value.value as NodeId;
      const key = id.toString();
      if (!builtIn.has(key)) {
        // ns=0;i=1..25 are the built-in types themselves; anything else (Duration, UtcTime, an enumeration, a
        // vendor subtype) is walked up to its built-in supertype once per connection.
        const direct =
          id.namespace === 0 && typeof id.value === 'number' && id.value <= 25 ? id.value : undefined;
        let t: DataType | undefined = direct as DataType | undefined;
        if (t === undefined) t = await findBasicDataType(session, id).catch(() => undefined);
        builtIn.set(key, t);
      }
      const t = builtIn.get(key);
      if (t !== undefined) {
        const ct = canonicalTypeOf(t);
        if (ct !== undefined) it.serverType = ct;
        it.dataTypeName = DataType[t];
      }
      const valueRank = rank?.statusCode.isGood() ? (rank.value.value as number) : undefined;
      const d = dims?.statusCode.isGood() ? (dims.value.value as ArrayLike<number> | null) : null;
      const length = d && d.length === 1 && (d[0] as number) > 0 ? (d[0] as number) : undefined;
      checkDeclared(it, valueRank, length, cfg, hooks);
    }
  }
}

function checkDeclared(
  it: ResolvedItem,
  valueRank: number | undefined,
  length: number | undefined,
  cfg: OpcuaSourceConfig,
  hooks: ConnectionHooks,
): void {
  const s = it.cfg;
  const where = `node ${it.address} on ${cfg.endpoint}`;
  const server = it.serverType;
  const explicit = s.value_type;
  if (server !== undefined && explicit !== undefined && !compatible(explicit, server)) {
    hooks.onProblem(
      `type:${s.name}`,
      s.name,
      `signal ${s.name} declares value_type: ${explicit} but ${where} has DataType ${it.dataTypeName} (${server}); remove value_type to take the server's type, or correct it`,
    );
  } else if (
    server !== undefined &&
    explicit === undefined &&
    (server === 'boolean' || server === 'string')
  ) {
    const rules = NUMERIC_RULES.filter((k) => s[k] !== undefined);
    if (rules.length > 0) {
      hooks.onProblem(
        `type:${s.name}`,
        s.name,
        `signal ${s.name} has ${rules.join(', ')}, which apply to numbers, but ${where} has DataType ${it.dataTypeName} (${server}); remove them or read another variable`,
      );
    }
  } else hooks.clearProblem(`type:${s.name}`);
  // ValueRank: -1 scalar, 0 or more an array; -2 (any) and -3 (scalar or 1-D) are decided by the values.
  if (valueRank !== undefined && valueRank >= 0 && it.index === undefined && !it.arrayReported) {
    it.arrayReported = true;
    hooks.count('array_without_index');
    hooks.onProblem(
      `array:${s.name}`,
      s.name,
      `node ${it.address} of signal ${s.name} on ${cfg.endpoint} is an array${length === undefined ? '' : ` of ${length} elements`}; add "index: <n>" to the signal (one signal per element)`,
    );
  }
  if (valueRank === -1 && it.index !== undefined) {
    hooks.onProblem(
      `index:${s.name}`,
      s.name,
      `signal ${s.name} has index: ${it.index} but ${where} is not an array; remove index`,
    );
  }
}

/** Whether a configured value_type can hold the server's type without contradicting it. */
function compatible(explicit: CanonicalType, server: CanonicalType): boolean {
  if (explicit === server || explicit === 'string') return true;
  // An integer is a number; a Double read as integer is refused per value (not_integer), not per signal.
  return (explicit === 'number' && server === 'integer') || (explicit === 'integer' && server === 'number');
}

function itemOf(s: OpcuaSignalConfig, address: string): ResolvedItem {
  const it: ResolvedItem = { signal: s.name, address, timestamp: s.timestamp, cfg: s };
  if (s.index !== undefined) it.index = s.index;
  return it;
}

export function readValueId(it: ResolvedItem): ReadValueIdOptions {
  const r: ReadValueIdOptions = { nodeId: it.address, attributeId: AttributeIds.Value };
  if (it.index !== undefined) r.indexRange = String(it.index) as unknown as ReadValueIdOptions['indexRange'];
  return r;
}

/** Array values without `index` are a configuration problem: said once, and the sample is still emitted (quarantined as bad_type). */
export function checkArray(
  it: ResolvedItem,
  dv: DataValue,
  cfg: OpcuaSourceConfig,
  hooks: ConnectionHooks,
): void {
  if (it.index === undefined && !it.arrayReported && isArrayVariant(dv.value)) {
    it.arrayReported = true;
    const n = (dv.value.value as ArrayLike<unknown> | null)?.length ?? 0;
    hooks.count('array_without_index');
    hooks.onProblem(
      `array:${it.signal}`,
      it.signal,
      `node ${it.address} of signal ${it.signal} on ${cfg.endpoint} is an array of ${n} elements; add "index: <n>" to the signal (one signal per element)`,
    );
  }
}
