// The journal's files on disk around LevelDB: private modes (directory 0700, files 0600, the umask held while a
// journal is open), damage detection and moving a damaged store aside, the owner file that names who holds the
// lock, and the lock error. LevelDB's own errors are classified here too (their code and text).
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import type { Logger } from 'pino';
import { PlantgateError } from '../kit/errors.js';

const OWNER_FILE = 'plantgate-owner.json';
const DAMAGE_MARKER = 'plantgate-damaged.json';
const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;

/**
 * The store's LevelDB lock is held by another process (or this one opened it twice): not damage, nothing is moved.
 * Its code is `JOURNAL_LOCKED` (retryable); `instanceof` works as well.
 */
export class JournalInUseError extends PlantgateError {
  constructor(message: string, cause: unknown) {
    super('JOURNAL_LOCKED', message, { cause, retryable: true });
  }
}

export function levelCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const inner = e?.cause?.code;
  if (typeof inner === 'string' && e?.code === 'LEVEL_DATABASE_NOT_OPEN') return inner;
  return typeof e?.code === 'string' ? e.code : undefined;
}
export function errText(err: unknown): string {
  const e = err as { message?: unknown; cause?: { message?: unknown } } | undefined;
  const inner = e?.cause?.message;
  const outer = typeof e?.message === 'string' ? e.message : String(err);
  return typeof inner === 'string' ? `${outer}: ${inner}` : outer;
}
function utcStamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('.', '');
}

let umaskHolders = 0;
let savedUmask = 0;
/**
 * While any journal is open the process umask also masks group and other bits (077 added to what it was):
 * LevelDB creates its table and log files from its own threads all along, so a chmod after open would miss them.
 * Restored when the last journal closes. Worker threads cannot change the umask; there the open-time pass alone
 * applies.
 */
export function holdPrivateUmask(): void {
  if (!isMainThread) return;
  if (umaskHolders++ === 0) {
    savedUmask = process.umask(0o077);
    process.umask(savedUmask | 0o077);
  }
}
export function releasePrivateUmask(): void {
  if (!isMainThread || umaskHolders === 0) return;
  if (--umaskHolders === 0) process.umask(savedUmask);
}

/**
 * The store's directory (and any parent it creates, such as a missing storage.dir) is 0700 and every file in it
 * 0600, whatever the umask: records and quarantined payloads are plant data. Files LevelDB creates later are
 * private through the umask held while the journal is open; this pass also fixes a store an older version left
 * readable.
 */
export function makePrivate(dir: string, log: Logger): void {
  try {
    const created = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
    if (created !== undefined) {
      // Every directory mkdir created, from the first one down to the store's own.
      for (let d = dir; d.length >= created.length; d = dirname(d)) {
        chmodSync(d, PRIVATE_DIR);
        if (d === created) break;
      }
    }
    if ((statSync(dir).mode & 0o777) !== PRIVATE_DIR) chmodSync(dir, PRIVATE_DIR);
    for (const f of readdirSync(dir, { withFileTypes: true })) {
      if (!f.isFile()) continue;
      const path = join(dir, f.name);
      if ((statSync(path).mode & 0o777) !== PRIVATE_FILE) chmodSync(path, PRIVATE_FILE);
    }
  } catch (err) {
    // Not fatal: the journal works, but the operator must know its files may be readable by others.
    log.warn(
      { err, dir },
      `The journal directory ${dir} could not be made private (0700, files 0600): ${errText(err)}.`,
    );
  }
}

/** Damage known before LevelDB opens the store (a marker a previous run left, a missing CURRENT), if any. */
export function precheckDamage(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  if (existsSync(`${dir}/${DAMAGE_MARKER}`)) {
    try {
      const m = JSON.parse(readFileSync(`${dir}/${DAMAGE_MARKER}`, 'utf8')) as { error?: string };
      return `damage found during a previous run: ${m.error ?? 'unknown'}`;
    } catch {
      return 'damage found during a previous run';
    }
  }
  const files = readdirSync(dir);
  // Without CURRENT, LevelDB would silently start an empty store next to the old tables.
  if (!files.includes('CURRENT') && files.some((f) => f.startsWith('MANIFEST-') || f.endsWith('.ldb'))) {
    return 'the CURRENT file is missing';
  }
  return undefined;
}

/** Renames a damaged store to `<dir>.damaged-<UTC stamp>` (never deletes it); returns the new path. */
export function moveAside(dir: string, reason: string, log: Logger): string {
  const at = new Date();
  let target = `${dir}.damaged-${utcStamp(at)}`;
  for (let i = 1; existsSync(target); i++) target = `${dir}.damaged-${utcStamp(at)}-${i}`;
  try {
    renameSync(dir, target);
  } catch (err) {
    throw new PlantgateError(
      'JOURNAL_DAMAGED',
      `The journal at ${dir} is damaged (${reason}) and could not be moved aside to ${target}: ${errText(err)}.`,
      { cause: err },
    );
  }
  log.error(
    { dir, moved_to: target, reason },
    `The journal at ${dir} is damaged (${reason}); it was moved to ${target} and a fresh journal was started. Records still in the old store were not forwarded.`,
  );
  return target;
}

/** Leaves a marker so the next open moves the store aside instead of tripping over the same damage forever. */
export function noteCorruption(dir: string, err: unknown, log: Logger): void {
  const path = `${dir}/${DAMAGE_MARKER}`;
  if (existsSync(path)) return;
  try {
    writeFileSync(path, JSON.stringify({ at: new Date().toISOString(), error: errText(err) }), {
      mode: PRIVATE_FILE,
    });
  } catch {
    // The log line below still says it.
  }
  log.error(
    { err },
    'The journal store is damaged; it will be moved aside and replaced by a fresh one at the next start.',
  );
}

/** The lock error for `dir`, naming the holder from its owner file when there is one. */
export function inUseError(dir: string, err: unknown): JournalInUseError {
  let who = 'another process';
  try {
    const o = JSON.parse(readFileSync(`${dir}/${OWNER_FILE}`, 'utf8')) as {
      pid?: number;
      host?: string;
      since?: string;
    };
    if (o.pid === process.pid) who = 'this process (opened twice)';
    else if (typeof o.pid === 'number')
      who = `another process (pid ${o.pid} on ${o.host ?? '?'}, since ${o.since ?? '?'})`;
  } catch {
    // No owner file: the holder is not a plantgate journal or predates it.
  }
  return new JournalInUseError(
    `The journal at ${dir} is in use by ${who}: its LevelDB lock is held. Stop the other plantgate instance or give this one its own storage.dir.`,
    err,
  );
}

export function writeOwner(dir: string, log: Logger): void {
  try {
    const owner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
    writeFileSync(`${dir}/${OWNER_FILE}`, JSON.stringify(owner), { mode: PRIVATE_FILE });
  } catch (err) {
    log.warn(
      { err },
      'The journal owner file could not be written; an in-use error will not name the owner.',
    );
  }
}

export function removeOwner(dir: string): void {
  try {
    rmSync(`${dir}/${OWNER_FILE}`, { force: true });
  } catch {
    // Only informative; a stale owner file is overwritten on the next open.
  }
}
