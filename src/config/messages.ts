// Turns zod's issues into sentences a controls engineer can act on: what was found, what is expected,
// and the closest allowed word ("did you mean") for unknown keys, enum values and types.
import type { z } from 'zod';
import { isDeprecatedField } from './kit/deprecated-keys.js';
import { didYouMean, quoteList } from './kit/suggest.js';

type RawIssue = z.core.$ZodRawIssue;

/** Separates the per-key sentences of one `unrecognized_keys` issue; load.ts splits them again. */
export const KEY_MESSAGE_SEPARATOR = '\u0000';

export const MISSING_KEY = 'missing required key';

/** Unions whose discriminator names a component type, with the word used in messages. */
const typedUnions = new WeakMap<object, string>();

export function labelTypedUnion(schema: object, noun: string): void {
  typedUnions.set(schema, noun);
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `text ${JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return `${v}`;
  return typeof v;
}

const EXPECTED_WORDS: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  array: 'a list',
  record: 'a mapping (key: value)',
  tuple: 'a list',
  literal: 'a fixed value',
  null: 'an empty value',
};

function shapeKeys(inst: unknown): string[] {
  const def = (inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def;
  // Old key names still parse for one release, but are never suggested: "did you mean" teaches the new ones.
  return def?.shape ? Object.keys(def.shape).filter((k) => !isDeprecatedField(def.shape?.[k])) : [];
}

/** The zod error map used by the config loader (passed per parse, so other users of zod are unaffected). */
export const configErrorMap: z.core.$ZodErrorMap = (iss: RawIssue) => {
  switch (iss.code) {
    case 'unrecognized_keys': {
      const allowed = shapeKeys(iss.inst);
      return iss.keys
        .map((k) => {
          const hint = didYouMean(k, allowed);
          return hint
            ? `unknown key "${k}"${hint}`
            : `unknown key "${k}"; allowed keys here: ${allowed.join(', ') || '(none)'}`;
        })
        .join(KEY_MESSAGE_SEPARATOR);
    }
    case 'invalid_type': {
      // load.ts adds the field's description, which the inner schema raising this may not carry.
      if (iss.input === undefined) return MISSING_KEY;
      const expected = EXPECTED_WORDS[iss.expected] ?? iss.expected;
      return `expected ${expected}, got ${describeValue(iss.input)}`;
    }
    case 'invalid_value': {
      const values = iss.values.map(String);
      const got = iss.input;
      const hint = typeof got === 'string' ? didYouMean(got, values) : '';
      if (values.length === 1) return `expected "${values[0]}", got ${describeValue(got)}`;
      return `expected ${quoteList(values)}, got ${describeValue(got)}${hint}`;
    }
    case 'invalid_union': {
      const noun = iss.inst ? typedUnions.get(iss.inst) : undefined;
      const discriminator = typeof iss.discriminator === 'string' ? iss.discriminator : undefined;
      if (noun && discriminator !== undefined) {
        const known = (Array.isArray(iss.options) ? iss.options : []).map(String);
        const input = iss.input as Record<string, unknown> | undefined;
        const got = input && typeof input === 'object' ? input[discriminator] : undefined;
        if (got === undefined)
          return `missing key "${discriminator}": every ${noun} needs one of ${quoteList(known)}`;
        const hint = typeof got === 'string' ? didYouMean(got, known) : '';
        return `unknown ${noun} type ${JSON.stringify(got)} (known types: ${known.join(', ')})${hint}`;
      }
      return undefined;
    }
    case 'too_small': {
      const min = Number(iss.minimum);
      if (iss.origin === 'array') return `needs at least ${min} ${min === 1 ? 'entry' : 'entries'}`;
      if (iss.origin === 'string')
        return min <= 1 ? 'must not be empty' : `must be at least ${min} characters long`;
      return `must be ${iss.inclusive === false ? 'greater than' : 'at least'} ${min}, got ${describeValue(iss.input)}`;
    }
    case 'too_big': {
      const max = Number(iss.maximum);
      if (iss.origin === 'array') return `allows at most ${max} ${max === 1 ? 'entry' : 'entries'}`;
      if (iss.origin === 'string') return `must be at most ${max} characters long`;
      return `must be ${iss.inclusive === false ? 'less than' : 'at most'} ${max}, got ${describeValue(iss.input)}`;
    }
    case 'invalid_format':
      if (iss.format === 'regex' && iss.pattern)
        return `${describeValue(iss.input)} does not match ${iss.pattern}`;
      return undefined;
    default:
      return undefined;
  }
};

interface SchemaLike {
  description?: string;
  _zod: { def: Record<string, unknown>; propValues?: Record<string, Set<unknown>> };
}

/**
 * The description of the field at `path` in `schema`, following the input through unions; used when zod
 * reports a missing key from an inner schema (a transform's input) that carries no description itself.
 */
export function describeAt(
  schema: unknown,
  path: ReadonlyArray<PropertyKey>,
  input: unknown,
): string | undefined {
  let node = schema as SchemaLike | undefined;
  let value = input;
  let described: string | undefined;
  for (let i = 0; i <= path.length && node; ) {
    if (typeof node.description === 'string') described = node.description;
    const def = node._zod.def;
    const type = def.type;
    if (type === 'optional' || type === 'default' || type === 'prefault' || type === 'nullable') {
      node = def.innerType as SchemaLike;
      continue;
    }
    if (type === 'pipe') {
      // A step that rewrites the input first (deprecated keys moved to their new names) describes nothing.
      const first = def.in as SchemaLike;
      node = first._zod.def.type === 'transform' ? (def.out as SchemaLike) : first;
      continue;
    }
    if (type === 'union' && Array.isArray(def.options)) {
      const disc = typeof def.discriminator === 'string' ? def.discriminator : undefined;
      const tag =
        disc && typeof value === 'object' && value !== null
          ? (value as Record<string, unknown>)[disc]
          : undefined;
      const options = def.options as SchemaLike[];
      node = disc ? options.find((o) => o._zod.propValues?.[disc]?.has(tag)) : undefined;
      continue;
    }
    if (i === path.length) break;
    const seg = path[i];
    described = undefined;
    if (type === 'object') node = (def.shape as Record<string, SchemaLike>)[String(seg)];
    else if (type === 'array') node = def.element as SchemaLike;
    else if (type === 'record') node = def.valueType as SchemaLike;
    else node = undefined;
    value =
      typeof value === 'object' && value !== null
        ? (value as Record<PropertyKey, unknown>)[seg as PropertyKey]
        : undefined;
    i++;
  }
  return node ? described : undefined;
}
