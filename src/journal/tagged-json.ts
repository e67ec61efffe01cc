// Lossless JSON for raw samples kept in quarantine: values JSON cannot carry (Date, bigint, NaN, ±Infinity,
// -0, undefined, byte arrays, Map, Set) are written as tagged objects, so a replay gets the same sample back.

/** The tag key. An ordinary object that happens to own this key is wrapped, so decoding is never ambiguous. */
const TAG = '$pg';

type Tagged = { [TAG]: string; v?: unknown };

function encodeNumber(n: number): unknown {
  if (Number.isNaN(n)) return { [TAG]: 'num', v: 'NaN' };
  if (n === Number.POSITIVE_INFINITY) return { [TAG]: 'num', v: 'Infinity' };
  if (n === Number.NEGATIVE_INFINITY) return { [TAG]: 'num', v: '-Infinity' };
  if (Object.is(n, -0)) return { [TAG]: 'num', v: '-0' };
  return n;
}

/** Turns any value into a JSON-safe tree that {@link fromTaggedTree} reverses. */
export function toTaggedTree(value: unknown, seen: Set<object> = new Set()): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return encodeNumber(value);
    case 'bigint':
      return { [TAG]: 'bigint', v: value.toString() };
    case 'undefined':
      return { [TAG]: 'undef' };
    case 'symbol':
    case 'function':
      // Not data: keep a readable trace rather than failing the whole quarantine write.
      return { [TAG]: 'text', v: String(value) };
  }
  if (value === null) return null;
  const obj = value as object;
  if (seen.has(obj)) return { [TAG]: 'cycle' };
  seen.add(obj);
  try {
    if (value instanceof Date) {
      const t = value.getTime();
      return { [TAG]: 'date', v: Number.isNaN(t) ? null : value.toISOString() };
    }
    if (value instanceof Uint8Array) {
      return {
        [TAG]: 'bytes',
        v: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'),
      };
    }
    if (Array.isArray(value)) {
      const out: unknown[] = new Array(value.length);
      // A plain for loop visits holes too, which become tagged undefined.
      for (let i = 0; i < value.length; i++) out[i] = toTaggedTree(value[i], seen);
      return out;
    }
    if (value instanceof Map) {
      return { [TAG]: 'map', v: [...value].map(([k, v]) => [toTaggedTree(k, seen), toTaggedTree(v, seen)]) };
    }
    if (value instanceof Set) {
      return { [TAG]: 'set', v: [...value].map((v) => toTaggedTree(v, seen)) };
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      setOwn(out, k, toTaggedTree(v, seen));
    return Object.hasOwn(out, TAG) ? { [TAG]: 'obj', v: out } : out;
  } finally {
    seen.delete(obj);
  }
}

function decodeTag(t: Tagged): unknown {
  switch (t[TAG]) {
    case 'num':
      return t.v === '-0' ? -0 : Number(t.v);
    case 'bigint':
      return BigInt(t.v as string);
    case 'undef':
      return undefined;
    case 'date':
      return new Date(t.v === null ? Number.NaN : (t.v as string));
    case 'bytes':
      return new Uint8Array(Buffer.from(t.v as string, 'base64'));
    case 'map':
      return new Map((t.v as [unknown, unknown][]).map(([k, v]) => [fromTaggedTree(k), fromTaggedTree(v)]));
    case 'set':
      return new Set((t.v as unknown[]).map(fromTaggedTree));
    case 'obj':
      return decodePlain(t.v as Record<string, unknown>);
    case 'text':
      return t.v;
    case 'cycle':
      return '[cycle]';
    default:
      // An unknown tag from a newer writer: keep it visible instead of guessing.
      return decodePlain(t as unknown as Record<string, unknown>);
  }
}

function decodePlain(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) setOwn(out, k, fromTaggedTree(v));
  return out;
}

/** Assigns an own property even for `__proto__`, which plain assignment would turn into a prototype change. */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__')
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/** Reverses {@link toTaggedTree}. */
export function fromTaggedTree(tree: unknown): unknown {
  if (tree === null || typeof tree !== 'object') return tree;
  if (Array.isArray(tree)) return tree.map(fromTaggedTree);
  const o = tree as Record<string, unknown>;
  if (typeof o[TAG] === 'string') return decodeTag(o as Tagged);
  return decodePlain(o);
}

export function encodeTagged(value: unknown): string {
  return JSON.stringify(toTaggedTree(value));
}

export function decodeTagged<T = unknown>(text: string): T {
  return fromTaggedTree(JSON.parse(text)) as T;
}
