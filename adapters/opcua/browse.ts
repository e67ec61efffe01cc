// `plantgate opcua browse`: walks a server's address space from the Objects folder (or a browse path) and
// describes every node the way a signal is configured: browse path, NodeId, DataType, access level, current
// value, and a ready-to-paste `signals:` line. Uses a session opened with the source's own security settings,
// trust list and user, so what browses is what the gateway will read.
import {
  AttributeIds,
  accessLevelFlagToString,
  BrowseDirection,
  type ClientSession,
  DataType,
  findBasicDataType,
  makeBrowsePath,
  NodeClass,
  type NodeId,
  resolveNodeId,
} from 'node-opcua';
import { PlantgateError } from '../../src/kit/errors.js';
import { variantValue } from './values.js';

export interface BrowsedNode {
  /** Browse path from the Objects folder, in the `browse_path` syntax ("Objects/1:Line/1:Press"). */
  path: string;
  nodeId: string;
  kind: 'object' | 'variable';
  /** Variables: the built-in DataType name (subtypes resolved), e.g. "Double", "UInt64". */
  dataType?: string;
  /** Variables: "scalar" or "array[N]". */
  shape?: string;
  /** Variables: e.g. "CurrentRead | CurrentWrite". */
  access?: string;
  /** Variables: the current value as text, or the status when it cannot be read. */
  value?: string;
  /** Variables: the YAML signal line to paste under `signals:`. */
  yaml?: string;
  depth: number;
}

export interface BrowseOptions {
  /** Where to start: a browse path from the Objects folder; default the Objects folder itself. */
  path?: string;
  /** Levels below the start (1 = its children only). */
  depth: number;
  /** Largest number of nodes described; the rest is counted as `truncated`. */
  maxNodes?: number;
}

const OBJECTS_FOLDER = 'ns=0;i=85';
const HIERARCHICAL = resolveNodeId('HierarchicalReferences');
const MAX_VALUE_TEXT = 60;

function valueText(v: unknown): string {
  let t: string;
  if (typeof v === 'bigint') t = v.toString();
  else if (typeof v === 'string') t = JSON.stringify(v);
  else if (v === null || v === undefined) t = 'null';
  else t = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v);
  return t.length > MAX_VALUE_TEXT ? `${t.slice(0, MAX_VALUE_TEXT - 3)}...` : t;
}

/** A canonical signal name from a browse path: lowercase browse names, dotted, [a-z0-9_] only. */
export function signalNameOf(path: string): string {
  const parts = path
    .split('/')
    .slice(1)
    .map((seg) =>
      seg
        .replace(/^\d+:/, '')
        .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
        .toLowerCase()
        .replace(/[^a-z0-9_]+/g, '_')
        .replace(/^_+|_+$/g, ''),
    )
    .filter((s) => s !== '');
  return parts.join('.') || 'signal';
}

function yamlQuote(s: string): string {
  return /^[\w./:;=-]+$/.test(s) && !/^[\d-]/.test(s) ? s : JSON.stringify(s);
}

/** Walks the address space below the start node, depth first in browse order. */
export async function browseAddressSpace(
  session: ClientSession,
  opts: BrowseOptions,
): Promise<{ nodes: BrowsedNode[]; truncated: number }> {
  const maxNodes = opts.maxNodes ?? 5000;
  let start = OBJECTS_FOLDER;
  let startPath = 'Objects';
  if (opts.path !== undefined && opts.path.replace(/^\//, '') !== 'Objects') {
    const clean = opts.path.replace(/^\//, '').replace(/\/$/, '');
    const [res] = await session.translateBrowsePath([makeBrowsePath('RootFolder', `/${clean}`)]);
    const target = res?.targets?.[0];
    if (!res?.statusCode.isGood() || !target) {
      throw new PlantgateError(
        'INVALID_ARGUMENT',
        `the browse path "${opts.path}" does not resolve on this server (${res?.statusCode.name ?? 'no result'}); browse from "Objects" with a larger --depth to see the names`,
      );
    }
    start = target.targetId.toString();
    startPath = clean;
  }
  const nodes: BrowsedNode[] = [];
  let truncated = 0;
  const builtIn = new Map<string, string>();

  const visit = async (nodeId: string, path: string, depth: number): Promise<void> => {
    if (depth > opts.depth) return;
    const res = await session.browse({
      nodeId,
      browseDirection: BrowseDirection.Forward,
      referenceTypeId: HIERARCHICAL,
      includeSubtypes: true,
      nodeClassMask: NodeClass.Object | NodeClass.Variable,
      resultMask: 63,
    });
    const refs = [...(res.references ?? [])];
    // The server's own diagnostics object (ns=0) is not plant data: skipped when browsing from Objects.
    const children = refs.filter((r) => !(nodeId === OBJECTS_FOLDER && r.nodeId.namespace === 0));
    const variables = children.filter((r) => r.nodeClass === NodeClass.Variable);
    const described = new Map<string, BrowsedNode>();
    if (variables.length > 0) {
      const ids = variables.map((r) => r.nodeId);
      const attrs = [AttributeIds.DataType, AttributeIds.ValueRank, AttributeIds.ArrayDimensions];
      const dvs = await session.read(
        ids.flatMap((id) => [
          ...attrs.map((attributeId) => ({ nodeId: id, attributeId })),
          { nodeId: id, attributeId: AttributeIds.UserAccessLevel },
          { nodeId: id, attributeId: AttributeIds.Value },
        ]),
      );
      for (let i = 0; i < variables.length; i++) {
        const ref = variables[i] as (typeof variables)[number];
        const [dt, rank, dims, access, value] = dvs.slice(i * 5, i * 5 + 5);
        const childPath = `${path}/${ref.browseName.namespaceIndex}:${ref.browseName.name}`;
        let dataType = 'unknown';
        if (dt?.statusCode.isGood()) {
          const id = dt.value.value as NodeId;
          const key = id.toString();
          if (!builtIn.has(key)) {
            const t = await findBasicDataType(session, id).catch(() => undefined);
            const own = (await session
              .read({ nodeId: id, attributeId: AttributeIds.BrowseName })
              .catch(() => undefined)) as { value?: { value?: { name?: string } } } | undefined;
            const ownName = own?.value?.value?.name;
            const base = t === undefined ? 'unknown' : DataType[t];
            builtIn.set(key, ownName && ownName !== base ? `${ownName} (${base})` : base);
          }
          dataType = builtIn.get(key) as string;
        }
        const r = rank?.statusCode.isGood() ? (rank.value.value as number) : -1;
        const d = dims?.statusCode.isGood() ? (dims.value.value as ArrayLike<number> | null) : null;
        const isArray = r >= 0;
        const shape = isArray ? `array[${d && d.length === 1 ? d[0] : '?'}]` : 'scalar';
        const node: BrowsedNode = {
          path: childPath,
          nodeId: ref.nodeId.toString(),
          kind: 'variable',
          dataType,
          shape,
          access: access?.statusCode.isGood() ? accessLevelFlagToString(access.value.value as number) : '?',
          value: value?.statusCode.isGood()
            ? valueText(variantValue(value.value))
            : `(${value?.statusCode.name ?? 'unreadable'})`,
          depth,
        };
        const name = signalNameOf(childPath);
        node.yaml = `- { name: ${name}${isArray ? '_0' : ''}, browse_path: ${yamlQuote(childPath)}${isArray ? ', index: 0' : ''} }`;
        described.set(node.nodeId, node);
      }
    }
    for (const ref of children) {
      if (nodes.length >= maxNodes) {
        truncated += 1;
        continue;
      }
      const id = ref.nodeId.toString();
      const childPath = `${path}/${ref.browseName.namespaceIndex}:${ref.browseName.name}`;
      const node = described.get(id) ?? { path: childPath, nodeId: id, kind: 'object' as const, depth };
      nodes.push(node);
      // Variables can have children too (properties such as EURange); objects are walked further.
      if (ref.nodeClass === NodeClass.Object) await visit(id, childPath, depth + 1);
    }
  };
  await visit(start, startPath, 1);
  return { nodes, truncated };
}

/** Human listing: one block per node, indented by depth, with the YAML line under each variable. */
export function formatBrowse(nodes: readonly BrowsedNode[], truncated: number): string {
  const lines: string[] = [];
  for (const n of nodes) {
    const pad = '  '.repeat(n.depth - 1);
    if (n.kind === 'object') {
      lines.push(`${pad}${n.path}  ${n.nodeId}  (object)`);
      continue;
    }
    lines.push(`${pad}${n.path}  ${n.nodeId}  ${n.dataType} ${n.shape}  ${n.access}  value ${n.value}`);
    lines.push(`${pad}    ${n.yaml}`);
  }
  if (truncated > 0) lines.push(`... ${truncated} more nodes not shown; narrow with --path or lower --depth`);
  if (nodes.length === 0) lines.push('no objects or variables below this node');
  return `${lines.join('\n')}\n`;
}
