// The history of applied configurations: one JSON file per application (start or reload) in
// `<storage.dir>/config-history/`, holding the fingerprint, when and how it was applied, the file's path, owner and
// mtime, the approval (if the gate is on) and the effective configuration itself (secrets as references). Plain
// files rather than the journal, so `plantgate config history|show|diff` read them without the daemon (which holds
// the LevelDB lock). Written atomically (temporary file, fsync, rename, fsync of the directory) and pruned by count.
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonValue } from './fingerprint.js';

export const HISTORY_DIR = 'config-history';
export const DEFAULT_HISTORY_KEEP = 50;

export interface ApprovalRecord {
  /** The principal of the allowed-signers line that verified (e.g. `alice@plant`). */
  identity: string;
  /** The signing key's fingerprint as ssh-keygen prints it (`SHA256:...`). */
  key: string;
}

export interface HistoryEntry {
  /** `sha256:<hex>` of `config`. */
  hash: string;
  /** ISO time the configuration was applied. */
  applied_at: string;
  how: 'start' | 'reload';
  /** Absolute path of the configuration file. */
  file: string;
  owner: { uid: number; gid: number; user?: string };
  /** ISO modification time of the file when it was applied. */
  mtime: string;
  approval?: ApprovalRecord;
  config: JsonValue;
}

/** Facts about the configuration file for its history entry; the user name is looked up in /etc/passwd. */
export async function fileFacts(file: string): Promise<Pick<HistoryEntry, 'owner' | 'mtime'>> {
  const st = await stat(file);
  const user = await userName(st.uid);
  return {
    owner: { uid: st.uid, gid: st.gid, ...(user !== undefined ? { user } : {}) },
    mtime: st.mtime.toISOString(),
  };
}

async function userName(uid: number): Promise<string | undefined> {
  try {
    const passwd = await readFile('/etc/passwd', 'utf8');
    for (const line of passwd.split('\n')) {
      const f = line.split(':');
      if (f[2] === String(uid)) return f[0];
    }
  } catch {
    // No passwd file (a container): the uid alone is recorded.
  }
  return undefined;
}

/** Sorts by name = by application time: `<ms, 15 digits>-<n>-<first 12 hex of the hash>.json`. */
function entryName(entry: HistoryEntry, n: number): string {
  const ms = String(Date.parse(entry.applied_at)).padStart(15, '0');
  return `${ms}-${n}-${entry.hash.replace(/^sha256:/, '').slice(0, 12)}.json`;
}

async function fsyncPath(path: string, flags: 'r' | 'r+'): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Adds one entry and prunes the oldest beyond `keep`. The file appears whole or not at all: written to a temporary
 * name, synced, renamed, and the directory synced so the rename survives a power loss.
 */
export async function appendHistory(stateDir: string, entry: HistoryEntry, keep: number): Promise<string> {
  const dir = join(stateDir, HISTORY_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const names = await entryFiles(dir);
  let n = 0;
  while (names.includes(entryName(entry, n))) n += 1;
  const name = entryName(entry, n);
  const tmp = join(dir, `.tmp-${process.pid}-${name}`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(entry, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  await fsyncPath(dir, 'r');
  const all = [...names, name].sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) await rm(join(dir, old), { force: true });
  return join(dir, name);
}

async function entryFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => /^\d{15}-\d+-[0-9a-f]{12}\.json$/.test(f)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    if (code === 'EACCES' || code === 'EPERM')
      throw new Error(
        `cannot read ${dir}: permission denied; the state directory belongs to the service user, so run this as that user (sudo -u plantgate plantgate config ...)`,
      );
    throw err;
  }
}

/** Every kept entry, oldest first. An unreadable entry is skipped and named in `skipped`. */
export async function readHistory(stateDir: string): Promise<{ entries: HistoryEntry[]; skipped: string[] }> {
  const dir = join(stateDir, HISTORY_DIR);
  const entries: HistoryEntry[] = [];
  const skipped: string[] = [];
  for (const name of await entryFiles(dir)) {
    try {
      entries.push(JSON.parse(await readFile(join(dir, name), 'utf8')) as HistoryEntry);
    } catch (err) {
      skipped.push(`${name}: ${(err as Error).message}`);
    }
  }
  return { entries, skipped };
}

/**
 * The newest entry whose hash starts with `prefix` (`sha256:` optional); an error in words when none matches or
 * the prefix names two different configurations.
 */
export function findEntry(
  entries: readonly HistoryEntry[],
  prefix: string,
): { ok: true; entry: HistoryEntry } | { ok: false; message: string } {
  const want = prefix.replace(/^sha256:/, '').toLowerCase();
  if (!/^[0-9a-f]{4,64}$/.test(want))
    return { ok: false, message: `"${prefix}" is not a hash prefix (at least 4 hex digits)` };
  const matches = entries.filter((e) => e.hash.replace(/^sha256:/, '').startsWith(want));
  const distinct = new Set(matches.map((e) => e.hash));
  if (distinct.size === 0)
    return { ok: false, message: `no configuration in the history has a hash starting with ${want}` };
  if (distinct.size > 1)
    return {
      ok: false,
      message: `${want} matches ${distinct.size} configurations (${[...distinct].map((h) => h.slice(7, 19)).join(', ')}); give more digits`,
    };
  return { ok: true, entry: matches[matches.length - 1] as HistoryEntry };
}
