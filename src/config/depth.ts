// Limits on how deeply a configuration file may nest, checked without recursion. The YAML parser, zod and
// our own walkers recurse, so a file nested a thousand levels deep (a runaway indent, unclosed brackets, a
// chain of aliases) would end in "Maximum call stack size exceeded" somewhere; instead it is a located
// config error. A real plant configuration nests about eight levels deep; the limits leave ample room.

/** Deepest nesting of mappings and lists accepted, in the file and after aliases are expanded. */
export const MAX_NESTING = 64;
/** Widest indentation accepted (columns); each nesting level in block style needs at least one more. */
export const MAX_INDENT = 256;

export interface DepthProblem {
  /** 0-based offset in the text (lexical check) or the path in the value (value check). */
  offset?: number;
  path?: Array<string | number>;
  message: string;
}

const tooDeep = (depth: number | string) =>
  `the configuration is nested ${depth} levels deep here; plantgate accepts at most ${MAX_NESTING}: look for unclosed brackets, runaway indentation or a chain of aliases`;

/**
 * A scan of the text, before parsing: flow brackets outside quotes and comments, and indentation. Returns
 * the first place that goes past a limit. Block scalars (`|`, `>`) are not recognised: brackets in their text
 * count, which errs only for text with more than MAX_NESTING unbalanced brackets.
 */
export function lexicalDepthProblem(text: string): DepthProblem | undefined {
  let depth = 0;
  let lineStart = true;
  let indent = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      lineStart = true;
      indent = 0;
      continue;
    }
    if (lineStart) {
      if (c === ' ') {
        indent += 1;
        if (indent > MAX_INDENT) {
          return {
            offset: i,
            message: `this line is indented more than ${MAX_INDENT} columns; plantgate accepts at most ${MAX_NESTING} levels of nesting: look for runaway indentation`,
          };
        }
        continue;
      }
      lineStart = false;
    }
    if (c === '#' && (i === 0 || /\s/.test(text[i - 1] as string))) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl - 1;
      continue;
    }
    if (c === '"' || c === "'") {
      // Skip the quoted scalar (backslash escapes in double quotes, '' in single quotes).
      let j = i + 1;
      for (; j < text.length; j++) {
        const d = text[j];
        if (c === '"' && d === '\\') j += 1;
        else if (d === c) {
          if (c === "'" && text[j + 1] === "'") j += 1;
          else break;
        }
      }
      // Only a quote that starts a scalar opens one; "it's" inside plain text does not.
      const prev = i === 0 ? ' ' : (text[i - 1] as string);
      if (/[\s[{,:-]/.test(prev)) i = j;
      continue;
    }
    if (c === '[' || c === '{') {
      depth += 1;
      if (depth > MAX_NESTING) return { offset: i, message: tooDeep(`more than ${MAX_NESTING}`) };
    } else if ((c === ']' || c === '}') && depth > 0) depth -= 1;
  }
  return undefined;
}

/** Iterative depth of a parsed value (aliases expanded); the path to the first point past the limit. */
export function valueDepthProblem(value: unknown): DepthProblem | undefined {
  const stack: Array<{ v: unknown; path: Array<string | number> }> = [{ v: value, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop() as { v: unknown; path: Array<string | number> };
    if (typeof v !== 'object' || v === null) continue;
    if (path.length > MAX_NESTING) return { path, message: tooDeep(path.length) };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], path: [...path, i] });
    } else for (const [k, x] of Object.entries(v)) stack.push({ v: x, path: [...path, k] });
  }
  return undefined;
}

/** True for the RangeError V8 throws when recursion runs out of stack. */
export function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /Maximum call stack size exceeded/.test(err.message);
}
