// Loads a plant configuration file: YAML with positions, the zod schema, the cross-field checks and the
// resolution of secrets and paths. Every problem comes back as FILE:LINE:COL key.path: message; nothing
// here throws for bad input, so `check-config` and the daemon report all problems at once.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Document, isAlias, LineCounter, parseDocument, visit, type YAMLError } from 'yaml';
import { eventConfigSchema } from '../events/config.js';
import { adminSocketProblem } from '../health/admin-server.js';
import { type CheckInput, crossCheck, type Path, type SourceSignals } from './checks.js';
import { isStackOverflow, lexicalDepthProblem, MAX_NESTING, valueDepthProblem } from './depth.js';
import { configFingerprint } from './fingerprint.js';
import { deprecatedKeyUses, deprecationWarning } from './kit/deprecated-keys.js';
import { unitWarning } from './kit/units.js';
import { configErrorMap, describeAt, KEY_MESSAGE_SEPARATOR, MISSING_KEY } from './messages.js';
import { YamlPositions } from './positions.js';
import {
  type GatewayConfig,
  type PlantConfig,
  plantConfigSchema,
  type SinkConfig,
  type SourceConfig,
  sinkConfigSchema,
  sourceConfigSchema,
} from './schema.js';
import { resolveReferences } from './secrets.js';
import { gatewaySchema } from './sections.js';

export interface ConfigIssue {
  /** The file as the caller named it. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  /** Dotted key path such as `sources.1.signals.0.unit`; empty for the whole file. */
  path: string;
  message: string;
}

export type LoadResult =
  | {
      ok: true;
      config: PlantConfig;
      /** Absolute path of the file. */
      file: string;
      /** What each source declares (same order as config.sources), for the pipeline and summaries. */
      signals: SourceSignals[];
      /**
       * Valid but probably not meant (`unit: F`), or an old key name (`max_pending`) that still works for one
       * release: check-config prints them, the daemon logs them at every load.
       */
      warnings: ConfigIssue[];
      /** Secret references left unresolved because of `skipSecrets` (`env:NAME`, `file:/path`). */
      secretsNotChecked: string[];
      /** `sha256:<hex>` of the effective configuration, secrets as references (./fingerprint.ts). */
      fingerprint: string;
      /** The bytes that were parsed, so an approval signature is checked against exactly these (loadConfig only). */
      source?: Buffer;
    }
  | { ok: false; issues: ConfigIssue[]; warnings?: ConfigIssue[] };

export interface LoadOptions {
  /** Environment used for `*_env` secrets; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Check everything except that secrets resolve (`check-config --no-secrets`, on a workstation without the
   * plant's secrets). The resulting config has no secret values: never start a daemon from it.
   */
  skipSecrets?: boolean;
}

/** `FILE:LINE:COL key.path: message` (without the path when the issue is about the whole file). */
export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}${i.path ? ` ${i.path}` : ''}: ${i.message}`;
}

export async function loadConfig(file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'the file does not exist'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : String(code ?? err);
    return {
      ok: false,
      issues: [{ file, line: 1, col: 1, path: '', message: `cannot read the configuration file: ${why}` }],
    };
  }
  const absolute = resolve(file);
  const res = await parseConfig(bytes.toString('utf8'), {
    file,
    baseDir: dirname(absolute),
    absolutePath: absolute,
    env: opts.env,
    skipSecrets: opts.skipSecrets,
  });
  return res.ok ? { ...res, source: bytes } : res;
}

export interface ParseOptions {
  /** Name used in issues. */
  file: string;
  /** Directory relative paths start from. */
  baseDir: string;
  /** Absolute path reported on success; default `<baseDir>/<file name>`. */
  absolutePath?: string;
  env?: NodeJS.ProcessEnv | undefined;
  skipSecrets?: boolean | undefined;
}

/** Same as loadConfig for text already in memory (tests, reload from a socket). */
export async function parseConfig(text: string, opts: ParseOptions): Promise<LoadResult> {
  try {
    return await parse(text, opts);
  } catch (err) {
    // A bug here must not look like a crash of the daemon on a bad file; report it with its cause.
    const message = isStackOverflow(err)
      ? `the configuration is nested too deeply to check (more than plantgate's limit of ${MAX_NESTING} levels); look for unclosed brackets, runaway indentation or a chain of aliases`
      : `internal error while checking the configuration: ${err instanceof Error ? err.message : String(err)}`;
    return { ok: false, issues: [{ file: opts.file, line: 1, col: 1, path: '', message }] };
  }
}

async function parse(text: string, opts: ParseOptions): Promise<LoadResult> {
  const { file } = opts;
  // Before the (recursive) parser: nesting past the limit is a located error, never a stack overflow.
  const lexical = lexicalDepthProblem(text);
  if (lexical) {
    const lc = new LineCounter();
    lc.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lc.addNewLine(i + 1);
    const p = lc.linePos(lexical.offset ?? 0);
    return { ok: false, issues: [{ file, line: p.line, col: p.col, path: '', message: lexical.message }] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  const pos = new YamlPositions(doc, lineCounter);
  // A value written under a deprecated key is checked under its new name; its problems are shown where it is
  // written (`max_pending: 5` is "at least 100" at max_pending, not at a max_in_flight the file does not have).
  let moved: Array<{ written: Path; checked: Path }> = [];
  const asWritten = (path: Path): Path => {
    for (const m of moved) {
      if (m.checked.length <= path.length && m.checked.every((seg, i) => path[i] === seg))
        return [...m.written, ...path.slice(m.checked.length)];
    }
    return path;
  };
  const issue = (at: Path, message: string, key = false): ConfigIssue => {
    const path = asWritten(at);
    const p = pos.locate(path, { key });
    return { file, line: p.line, col: p.col, path: path.join('.'), message };
  };

  if (doc.errors.length > 0) {
    // One broken bracket or indent makes the parser report errors all the way down; the first one is where
    // the problem is, the rest mostly follow from it.
    const all = sortIssues(doc.errors.map((e) => syntaxIssue(e, text, pos, file)));
    const first = all[0] as ConfigIssue;
    const more = all.length - 1;
    if (more > 0)
      first.message += ` (and ${more} more YAML ${more === 1 ? 'error' : 'errors'} after it, often caused by this one)`;
    return { ok: false, issues: [first] };
  }
  const unresolved = unresolvedAlias(doc, pos, file);
  if (unresolved) return { ok: false, issues: [unresolved] };
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    const why = isStackOverflow(err)
      ? `it is nested too deeply (plantgate accepts at most ${MAX_NESTING} levels; look for a chain of aliases)`
      : err instanceof Error
        ? err.message
        : String(err);
    return { ok: false, issues: [issue([], `cannot read the YAML: ${why}`)] };
  }
  const deep = valueDepthProblem(raw);
  if (deep) return { ok: false, issues: [issue(deep.path ?? [], deep.message)] };
  const deprecated = deprecatedKeyUses(plantConfigSchema, raw);
  moved = deprecated.map((u) => ({
    written: u.path,
    checked: [...u.path.slice(0, u.path.length - u.key.old.length), ...u.key.new],
  }));
  if (raw === null || raw === undefined) {
    return {
      ok: false,
      issues: [
        issue([], 'the file is empty; a plant configuration needs at least gateway, storage and sources'),
      ],
    };
  }

  const issues: ConfigIssue[] = [];
  const parsed = plantConfigSchema.safeParse(raw, { error: configErrorMap });
  if (!parsed.success) {
    for (const zi of parsed.error.issues) {
      const path = zi.path.filter((p): p is string | number => typeof p !== 'symbol');
      if (zi.code === 'unrecognized_keys') {
        const messages = zi.message.split(KEY_MESSAGE_SEPARATOR);
        zi.keys.forEach((k, n) => {
          issues.push(issue([...path, k], messages[n] ?? `unknown key "${k}"`, true));
        });
      } else if (zi.message === MISSING_KEY) {
        const d = describeAt(plantConfigSchema, path, raw);
        issues.push(issue(path, d ? `${MISSING_KEY} (${d.replace(/\.$/, '')})` : MISSING_KEY));
      } else {
        issues.push(issue(path, zi.message));
      }
    }
  }

  // Cross-field checks and references run on whatever parsed, so all problems are reported in one go.
  const input: CheckInput = parsed.success
    ? { ...parsed.data, lineOf: (p) => pos.locate(p).line }
    : partial(raw, (p) => pos.locate(p).line);
  const checked = crossCheck(input);
  for (const ci of checked.issues) issues.push(issue(ci.path, ci.message));
  const warnings = [...checked.warnings, ...unitWarnings(raw)].map((w) => issue(w.path, w.message));
  // Old key names still work for one release; each use is shown at the key, with the name to write instead.
  for (const use of deprecated) warnings.push(issue(use.path, deprecationWarning(use.key), true));

  const secretsNotChecked: string[] = [];
  const ctx = {
    env: opts.env ?? process.env,
    baseDir: opts.baseDir,
    ...(opts.skipSecrets ? { skipSecrets: true, skipped: secretsNotChecked } : {}),
  };
  if (parsed.success) {
    for (const ri of await resolveReferences(parsed.data, ctx)) issues.push(issue(ri.path, ri.message));
    const socket = parsed.data.admin.socket;
    // sun_path holds 108 bytes including the final NUL: a longer path fails only at bind time.
    if (Buffer.byteLength(socket) > 107) {
      const written = (raw as { admin?: { socket?: unknown } }).admin?.socket !== undefined;
      issues.push(
        issue(
          written ? ['admin', 'socket'] : ['storage', 'dir'],
          `the admin socket path "${socket}" is ${Buffer.byteLength(socket)} bytes long; Unix sockets allow at most 107, so set admin.socket to a shorter path`,
        ),
      );
    }
    // A regular file (or anything but a socket) at that path is refused, never deleted; the daemon refuses it too.
    const socketProblem = adminSocketProblem(socket);
    if (socketProblem) {
      const written = (raw as { admin?: { socket?: unknown } }).admin?.socket !== undefined;
      issues.push(issue(written ? ['admin', 'socket'] : ['storage', 'dir'], socketProblem));
    }
  } else {
    for (const [section, items] of [
      ['sources', input.sources],
      ['sinks', input.sinks],
    ] as const) {
      for (let i = 0; i < items.length; i++) {
        if (items[i] === undefined) continue;
        for (const ri of await resolveReferences(items[i], ctx, [section, i]))
          issues.push(issue(ri.path, ri.message));
      }
    }
  }

  if (issues.length > 0 || !parsed.success)
    return { ok: false, issues: sortIssues(issues), warnings: sortIssues(warnings) };
  return {
    ok: true,
    config: parsed.data,
    file: opts.absolutePath ?? resolve(opts.baseDir, basename(file)),
    signals: checked.signals,
    warnings: sortIssues(warnings),
    secretsNotChecked,
    fingerprint: configFingerprint(parsed.data),
  };
}

/** `unit`/`canonical_unit` values that are valid UCUM but almost surely a mistake (F, C), wherever they are. */
function unitWarnings(raw: unknown): Array<{ path: Path; message: string }> {
  const out: Array<{ path: Path; message: string }> = [];
  const stack: Array<{ v: unknown; path: Path }> = [{ v: raw, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop() as { v: unknown; path: Path };
    if (typeof v !== 'object' || v === null) continue;
    for (const [k, x] of Object.entries(v)) {
      const p = [...path, Array.isArray(v) ? Number(k) : k];
      if ((k === 'unit' || k === 'canonical_unit') && typeof x === 'string') {
        const w = unitWarning(x);
        if (w) out.push({ path: p, message: w });
      } else stack.push({ v: x, path: p });
    }
  }
  return out;
}

function basename(file: string): string {
  return file.split(/[\\/]/).pop() ?? file;
}

/** Parses each section and list entry on its own, for checks when the whole file did not parse. */
function partial(raw: unknown, lineOf: (p: Path) => number): CheckInput {
  const obj = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const gw = gatewaySchema.safeParse(obj.gateway);
  const parseEach = <T>(
    items: unknown[],
    schema: { safeParse(v: unknown): { success: boolean; data?: T } },
  ) =>
    items.map((it) => {
      const r = schema.safeParse(it);
      return r.success ? (r.data as T) : undefined;
    });
  const ids = (v: unknown) =>
    list(v).map((it) => {
      const id = (it as { id?: unknown } | null)?.id;
      return typeof id === 'string' ? id : undefined;
    });
  return {
    rawIds: { sources: ids(obj.sources), sinks: ids(obj.sinks) },
    gateway: gw.success ? (gw.data as GatewayConfig) : undefined,
    sources: parseEach<SourceConfig>(list(obj.sources), sourceConfigSchema),
    events: parseEach(list(obj.events), eventConfigSchema),
    sinks: parseEach<SinkConfig>(list(obj.sinks), sinkConfigSchema),
    lineOf,
  };
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues
    .filter((i) => {
      const k = `${i.line}:${i.col}:${i.path}:${i.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => a.line - b.line || a.col - b.col);
}

function syntaxIssue(e: YAMLError, text: string, pos: YamlPositions, file: string): ConfigIssue {
  const p = pos.at(e.pos[0]);
  let message = `YAML syntax error: ${e.message}`;
  if (e.code === 'DUPLICATE_KEY') {
    const m = /^("[^"\n]*"|'[^'\n]*'|[^:\n]+?)\s*:/.exec(text.slice(e.pos[0]));
    const key = m?.[1]?.replace(/^["']|["']$/g, '') ?? 'this key';
    message = `key "${key}" appears twice in the same mapping; keep one of them`;
  } else if (/Maximum call stack size exceeded/.test(e.message)) {
    message = `the YAML is nested too deeply here for the parser (plantgate accepts at most ${MAX_NESTING} levels); look for unclosed brackets or runaway indentation`;
  } else if (e.code === 'TAB_AS_INDENT') {
    message = 'YAML syntax error: tabs are not allowed for indentation; indent with spaces';
  }
  return { file, line: p.line, col: p.col, path: '', message };
}

function unresolvedAlias(doc: Document, pos: YamlPositions, file: string): ConfigIssue | undefined {
  let found: ConfigIssue | undefined;
  visit(doc, {
    Alias(_key, node) {
      if (!isAlias(node) || node.resolve(doc) !== undefined) return undefined;
      const p = pos.at(node.range?.[0] ?? 0);
      found = {
        file,
        line: p.line,
        col: p.col,
        path: '',
        message: `the alias *${node.source} refers to no anchor; define &${node.source} before it`,
      };
      return visit.BREAK;
    },
  });
  return found;
}
