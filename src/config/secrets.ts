// Resolution of what a parsed configuration refers to outside itself: secrets (environment variables and
// files), relative paths, and TLS files that must be readable. Done once at load, so a missing token is a
// config error with its position, never a failed request at 3 a.m.
//
// The choice: secrets are resolved generically by key name rather than by each component schema, so every
// adapter and sink gets the same rule and the same messages without extra code:
//   - inside an `auth` (or `*_auth`, `credentials`) mapping, every `X_env` and `X_file` key is a secret
//     reference; elsewhere only keys whose X contains password, passphrase, token, bearer or secret are;
//     `ca_file`, `cert_file` and `key_file` are not: components read those PEM files when they connect, all
//     with `readPem` (./tls.ts);
//   - this is the only place secrets are read: adapters and sinks get the resolved value and never look at the
//     environment or a secret file themselves, so every component refuses an empty variable, drops a final
//     newline, caps the file size and keeps the value out of messages the same way;
//   - the resolved value is put next to the reference under `X` as a `Secret` (e.g. `auth.bearer_env:
//     CENTRAL_TOKEN` gives `auth.bearer: Secret`), the reference itself stays for messages. Components read
//     it with `secretOf(cfg.auth, 'bearer')`; a Secret prints as "[redacted]" everywhere;
//   - relative values of the file keys listed in PATH_KEYS (`dir`, `socket`, `pki_dir`, `ca_file`, ...) and of
//     secret `*_file` references become absolute against the directory of the config file; `ca_file`,
//     `cert_file` and `key_file` must be readable files.
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { Secret } from './kit/primitives.js';

export interface SecretRef {
  /** `env`: the name of an environment variable; `file`: a path (relative to `baseDir`). */
  kind: 'env' | 'file';
  name: string;
}

export interface ResolveContext {
  env: NodeJS.ProcessEnv;
  /** Directory relative file names start from (the config file's directory). */
  baseDir: string;
  /**
   * `check-config --no-secrets`: check that references are well formed but not that they resolve; each one
   * left unresolved is noted in `skipped` (`env:NAME`, `file:/abs/path`) and gets no value.
   */
  skipSecrets?: boolean;
  skipped?: string[];
}

export type SecretResult = { ok: true; secret: Secret } | { ok: false; message: string };

/** Largest secret file read; anything larger is surely the wrong file (and is never echoed). */
const MAX_SECRET_FILE_BYTES = 64 * 1024;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SERVICE_ENV_HINT = 'set it in the service environment (systemd: Environment= or EnvironmentFile=)';

/**
 * Reads one secret. The messages name the variable or the file, never the value; a reference that is not a
 * valid variable name is not echoed either, since it may be the secret pasted in by mistake.
 */
export async function resolveSecret(ref: SecretRef, ctx: ResolveContext): Promise<SecretResult> {
  if (ref.kind === 'env') {
    if (!ENV_NAME_RE.test(ref.name)) {
      return {
        ok: false,
        message:
          'expected the name of an environment variable (letters, digits and "_", e.g. CENTRAL_TOKEN), not the secret itself',
      };
    }
    if (ctx.skipSecrets) {
      ctx.skipped?.push(`env:${ref.name}`);
      return { ok: true, secret: new Secret('', `env:${ref.name} (not checked)`) };
    }
    const v = ctx.env[ref.name];
    if (v === undefined)
      return { ok: false, message: `environment variable ${ref.name} is not set; ${SERVICE_ENV_HINT}` };
    if (v === '')
      return { ok: false, message: `environment variable ${ref.name} is empty; ${SERVICE_ENV_HINT}` };
    return { ok: true, secret: new Secret(v, `env:${ref.name}`) };
  }
  const file = absolutePath(ref.name, ctx.baseDir);
  if (ctx.skipSecrets) {
    ctx.skipped?.push(`file:${file}`);
    return { ok: true, secret: new Secret('', `file:${file} (not checked)`) };
  }
  const problem = await fileProblem(file, 'secret file');
  if (problem) return { ok: false, message: problem };
  let text: string;
  try {
    const st = await stat(file);
    if (st.size > MAX_SECRET_FILE_BYTES) {
      return {
        ok: false,
        message: `secret file "${file}" is ${st.size} bytes; a secret file holds only the secret`,
      };
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, message: `cannot read secret file "${file}": ${errorCode(err)}` };
  }
  // Editors and `echo` add a final newline; it is never part of a token or password.
  const value = text.replace(/[\r\n]+$/, '');
  if (value === '') return { ok: false, message: `secret file "${file}" is empty` };
  return { ok: true, secret: new Secret(value, `file:${file}`) };
}

/** The Secret the loader put next to a reference (`secretOf(cfg.auth, 'bearer')`), if any. */
export function secretOf(obj: unknown, name: string): Secret | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const v = (obj as Record<string, unknown>)[name];
  return v instanceof Secret ? v : undefined;
}

export function absolutePath(p: string, baseDir: string): string {
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err instanceof Error ? err.message : String(err));
}

/** Undefined when `file` is a readable regular file, else a sentence naming the file and what to do. */
async function fileProblem(file: string, what: string): Promise<string | undefined> {
  try {
    const st = await stat(file);
    if (st.isDirectory()) return `${what} "${file}" is a directory; give the path of a file`;
    await access(file, constants.R_OK);
    return undefined;
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT') return `${what} "${file}" does not exist; create it or fix the path`;
    if (code === 'EACCES' || code === 'EPERM') {
      return `${what} "${file}" is not readable by this user (permission denied); make it readable by the service user (e.g. chown plantgate, chmod 0640)`;
    }
    return `cannot read ${what} "${file}": ${code}`;
  }
}

const AUTH_KEY_RE = /^(auth|.+_auth|credentials)$/;
const SECRET_BASE_RE = /(password|passphrase|token|bearer|secret)/;
const REF_RE = /^(.+)_(env|file)$/;
/**
 * The keys whose values are file-system paths, made absolute against the config folder. An explicit list, never
 * a suffix rule: `browse_path` (an OPC UA browse path) and other `*_path` values are not files. A component that
 * adds a file key adds it here.
 */
const PATH_KEYS: ReadonlySet<string> = new Set([
  'dir',
  'socket',
  'pki_dir',
  'ca_file',
  'cert_file',
  'key_file',
  'approvers_file',
]);
/** Certificate and key files: read by the component (TLS, OPC UA), checked here so a typo fails at load. */
const PEM_FILE_RE = /^(ca|cert|key)_file$/;

export interface ReferenceIssue {
  path: Array<string | number>;
  message: string;
}

/**
 * Walks a parsed configuration (or a part of it, with `prefix` its path), resolving secrets in place,
 * making paths absolute and checking TLS files. Returns one issue per reference that cannot be resolved.
 */
export async function resolveReferences(
  root: unknown,
  ctx: ResolveContext,
  prefix: Array<string | number> = [],
): Promise<ReferenceIssue[]> {
  const issues: ReferenceIssue[] = [];
  const visit = async (
    node: unknown,
    path: Array<string | number>,
    parentKey: string | undefined,
  ): Promise<void> => {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) await visit(node[i], [...path, i], parentKey);
      return;
    }
    if (typeof node !== 'object' || node === null || node instanceof Secret) return;
    const obj = node as Record<string, unknown>;
    const inAuth = parentKey !== undefined && AUTH_KEY_RE.test(parentKey);
    const inTls = parentKey === 'tls';
    const resolved = new Map<string, string>();
    for (const key of Object.keys(obj)) {
      const value = obj[key];
      if (typeof value !== 'string') {
        await visit(value, [...path, key], key);
        continue;
      }
      const ref = REF_RE.exec(key);
      const base = ref?.[1];
      const kind = ref?.[2] as 'env' | 'file' | undefined;
      const pem = PEM_FILE_RE.test(key);
      if (base !== undefined && kind !== undefined && !pem && (inAuth || SECRET_BASE_RE.test(base))) {
        if (kind === 'file') obj[key] = absolutePath(value, ctx.baseDir);
        const other = resolved.get(base);
        if (other !== undefined) {
          issues.push({ path: [...path, key], message: `give either ${other} or ${key}, not both` });
          continue;
        }
        resolved.set(base, key);
        const res = await resolveSecret({ kind, name: value }, ctx);
        if (res.ok) obj[base] = res.secret;
        else issues.push({ path: [...path, key], message: res.message });
        continue;
      }
      if (PATH_KEYS.has(key) && !value.includes('://') && value !== '') {
        obj[key] = absolutePath(value, ctx.baseDir);
        if (pem) {
          const problem = await fileProblem(obj[key] as string, inTls ? 'TLS file' : 'certificate file');
          if (problem) issues.push({ path: [...path, key], message: problem });
        }
        // Without it no configuration can be approved, so the daemon could not start: a load error, not a surprise.
        if (key === 'approvers_file') {
          const problem = await fileProblem(obj[key] as string, 'approvers file');
          if (problem) issues.push({ path: [...path, key], message: problem });
        }
      }
    }
  };
  await visit(root, prefix, prefix.length > 0 ? String(prefix[prefix.length - 1]) : undefined);
  return issues;
}
