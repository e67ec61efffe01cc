// Deprecated configuration keys: the old spelling of a setting keeps working for one release next to the new one.
// One table per component schema (`withDeprecatedKeys`) does three things, so they cannot drift apart: the schema
// moves an old key to its new place before validating (components only ever read the new names), it refuses a
// mapping that writes both, and the loader finds every use in the file to report it as a warning with its
// position (`deprecatedKeyUses`). The old keys stay declared in the schema, `deprecated: true` in the JSON Schema,
// so editors strike them through and a mapping with both still gets every other problem reported.
import { z } from 'zod';

export type KeyPath = readonly string[];

export interface DeprecatedKey {
  /** Where the old key is, in the component's mapping: `['max_pending']`, `['reconnect', 'min']`. */
  old: KeyPath;
  /** Where its value goes: `['max_in_flight']`, `['reconnect', 'initial']`, `['auth', 'username']`. */
  new: KeyPath;
  /**
   * What the old key may not be written next to; default `new`. A group of keys that moved into a new mapping
   * (MQTT's top-level credentials into `auth:`) conflicts with that mapping, so no file mixes the two places.
   */
  conflicts?: KeyPath;
}

/** One use of a deprecated key in a file: its path from the root and the entry of the table. */
export interface DeprecatedKeyUse {
  path: Array<string | number>;
  key: DeprecatedKey;
}

const tables = new WeakMap<object, readonly DeprecatedKey[]>();

/** The declaration of an old key: optional, marked deprecated for editors, described by its new name. */
export function deprecatedField<T extends z.ZodType>(schema: T, newName: string) {
  // One meta() call, so the mark and the description sit on the same instance (`isDeprecatedField` reads it).
  return schema.optional().meta({
    deprecated: true,
    description: `Deprecated: the old name of ${newName}; write ${newName} instead (this one is accepted until the next release).`,
  });
}

/** Whether a field of an object's shape was declared with `deprecatedField` (kept out of "did you mean" hints). */
export function isDeprecatedField(field: unknown): boolean {
  return (
    typeof field === 'object' &&
    field !== null &&
    z.globalRegistry.get(field as z.ZodType)?.deprecated === true
  );
}

export const dotted = (p: KeyPath): string => p.join('.');

/** The warning for one use of an old key, printed after its position and path by check-config. */
export function deprecationWarning(k: DeprecatedKey): string {
  return `deprecated, write ${dotted(k.new)} (the old name is accepted until the next release)`;
}

/** The sentence for a mapping that writes an old key next to its new one (or next to the mapping it moved to). */
export function conflictMessage(k: DeprecatedKey): string {
  if (k.conflicts === undefined)
    return `${dotted(k.old)} is the deprecated name of ${dotted(k.new)}, which is given too; remove ${dotted(k.old)}`;
  return `${dotted(k.old)} is deprecated and cannot be combined with ${dotted(k.conflicts)}; write it as ${dotted(k.new)}`;
}

/**
 * `schema` (a `.strict()` object that declares the old keys with `deprecatedField`) preceded by the step that
 * moves each old key to its new place. The result is a pipe, not an object: the discriminated unions of sources
 * and sinks choose an option by the `type` values zod reads from a pipe's first step, so that step is given the
 * object's.
 */
export function withDeprecatedKeys<T extends z.ZodObject>(schema: T, keys: readonly DeprecatedKey[]) {
  const checked = schema.superRefine((value, ctx) => {
    // An old key is still there after the move only when its new place was written as well.
    for (const k of keys) {
      if (valueAt(value, k.old) !== undefined)
        ctx.addIssue({ code: 'custom', path: [...k.old], message: conflictMessage(k) });
    }
  });
  const rename = z.transform((input: unknown) => renamed(input, keys));
  (rename._zod as { propValues?: unknown }).propValues = checked._zod.propValues;
  const piped = z.pipe(rename, checked);
  tables.set(piped, keys);
  return piped;
}

/** The table `withDeprecatedKeys` registered for a schema, if any. */
export function deprecatedKeysOf(schema: unknown): readonly DeprecatedKey[] | undefined {
  return typeof schema === 'object' && schema !== null ? tables.get(schema) : undefined;
}

type Mapping = Record<string, unknown>;

function isMapping(v: unknown): v is Mapping {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function valueAt(v: unknown, path: KeyPath): unknown {
  let node = v;
  for (const seg of path) {
    if (!isMapping(node) || !Object.hasOwn(node, seg)) return undefined;
    node = node[seg];
  }
  return node;
}

/** A copy of `v` with `path` set (or removed, for `undefined`); undefined when a step on the way is not a mapping. */
function withValueAt(v: Mapping, path: KeyPath, value: unknown): Mapping | undefined {
  const [head, ...rest] = path;
  if (head === undefined) return undefined;
  const copy: Mapping = { ...v };
  if (rest.length === 0) {
    if (value === undefined) delete copy[head];
    else copy[head] = value;
    return copy;
  }
  const child = copy[head] ?? {};
  if (!isMapping(child)) return undefined;
  const next = withValueAt(child, rest, value);
  if (next === undefined) return undefined;
  copy[head] = next;
  return copy;
}

/** The input with every old key moved to its new place, unless that place (or its conflict) is written. */
function renamed(input: unknown, keys: readonly DeprecatedKey[]): unknown {
  if (!isMapping(input)) return input;
  let out: Mapping = input;
  for (const k of keys) {
    const value = valueAt(input, k.old);
    if (value === undefined || valueAt(input, k.conflicts ?? k.new) !== undefined) continue;
    const moved = withValueAt(out, k.new, value);
    const cleared = moved && withValueAt(moved, k.old, undefined);
    if (cleared) out = cleared;
  }
  return out;
}

interface SchemaNode {
  _zod: { def: Record<string, unknown> & { type: string }; propValues?: Record<string, Set<unknown>> };
}

/**
 * Every deprecated key `value` (the file as parsed YAML) uses, found by walking it along `schema`. A key written
 * next to its new name is not listed: the schema refuses that mapping with its own message.
 */
export function deprecatedKeyUses(schema: unknown, value: unknown): DeprecatedKeyUse[] {
  const out: DeprecatedKeyUse[] = [];
  // Iterative, so a deeply nested file cannot overflow the stack here (the loader bounds nesting before).
  const stack: Array<{ node: SchemaNode | undefined; v: unknown; path: Array<string | number> }> = [
    { node: schema as SchemaNode, v: value, path: [] },
  ];
  while (stack.length > 0) {
    const { node, v, path } = stack.pop() as (typeof stack)[number];
    if (node === undefined || v === undefined || v === null) continue;
    for (const k of tables.get(node) ?? []) {
      if (valueAt(v, k.old) !== undefined && valueAt(v, k.conflicts ?? k.new) === undefined)
        out.push({ path: [...path, ...k.old], key: k });
    }
    const def = node._zod.def;
    const same = (s: unknown) => stack.push({ node: s as SchemaNode, v, path });
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
      case 'nonoptional':
        same(def.innerType);
        break;
      case 'pipe': {
        const first = def.in as SchemaNode;
        same(first._zod.def.type === 'transform' ? def.out : first);
        break;
      }
      case 'lazy':
        same((def.getter as () => unknown)());
        break;
      case 'union': {
        const disc = typeof def.discriminator === 'string' ? def.discriminator : undefined;
        if (disc === undefined || !isMapping(v)) break;
        const options = def.options as SchemaNode[];
        same(options.find((o) => o._zod.propValues?.[disc]?.has(v[disc])));
        break;
      }
      case 'object': {
        if (!isMapping(v)) break;
        const shape = def.shape as Record<string, SchemaNode>;
        for (const [key, child] of Object.entries(v))
          if (Object.hasOwn(shape, key)) stack.push({ node: shape[key], v: child, path: [...path, key] });
        break;
      }
      case 'array':
        if (Array.isArray(v))
          v.forEach((x, i) => {
            stack.push({ node: def.element as SchemaNode, v: x, path: [...path, i] });
          });
        break;
      case 'record':
        if (isMapping(v))
          for (const [key, child] of Object.entries(v))
            stack.push({ node: def.valueType as SchemaNode, v: child, path: [...path, key] });
        break;
      default:
        break;
    }
  }
  return out;
}
