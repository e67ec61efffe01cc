// The `plantgate config history|show|diff` commands and `check-config --diff`: read the history of applied
// configurations from the state directory (plain files, no daemon needed) and print semantic diffs.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { effectiveConfig, type JsonValue } from './fingerprint.js';
import { findEntry, type HistoryEntry, readHistory } from './history.js';
import { formatIssue, loadConfig } from './load.js';
import { formatDiff } from './semantic-diff.js';

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
const EXIT_CONFIG = 78;

export interface HistoryTarget {
  /** The plant configuration whose storage.dir holds the history. */
  config?: string | undefined;
  /** The state directory itself (instead of reading storage.dir from the configuration). */
  stateDir?: string | undefined;
}

/** storage.dir as the configuration names it (only that key is read: no secrets needed). */
function stateDirOf(t: HistoryTarget): string {
  if (t.stateDir !== undefined) return resolve(t.stateDir);
  const file = t.config ?? '/etc/plantgate/plant.yaml';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code}) to find storage.dir; give the file with -c FILE or the directory with --state-dir DIR`,
    );
  }
  const doc = (parse(text) ?? {}) as { storage?: { dir?: unknown } };
  const dir = typeof doc.storage?.dir === 'string' ? doc.storage.dir : '/var/lib/plantgate';
  return isAbsolute(dir) ? dir : join(dirname(resolve(file)), dir);
}

async function history(t: HistoryTarget): Promise<HistoryEntry[]> {
  const dir = stateDirOf(t);
  const { entries, skipped } = await readHistory(dir);
  for (const s of skipped) process.stderr.write(`warning: unreadable history entry ${s}\n`);
  return entries;
}

const short = (hash: string) => hash.slice(0, 19);

export async function historyCommand(t: HistoryTarget, json: boolean): Promise<number> {
  const entries = (await history(t)).reverse();
  if (json) {
    const rows = entries.map(({ config: _c, ...rest }) => rest);
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return EXIT_OK;
  }
  if (entries.length === 0) {
    process.stdout.write(`No configuration history in ${join(stateDirOf(t), 'config-history')}.\n`);
    return EXIT_OK;
  }
  for (const e of entries) {
    const owner = e.owner.user ?? `uid ${e.owner.uid}`;
    const approved = e.approval ? `  approved by ${e.approval.identity} (${e.approval.key})` : '';
    process.stdout.write(
      `${short(e.hash)}  ${e.applied_at}  ${e.how.padEnd(6)}  ${e.file}  owner ${owner}, modified ${e.mtime}${approved}\n`,
    );
  }
  return EXIT_OK;
}

export async function showCommand(t: HistoryTarget, prefix: string, json: boolean): Promise<number> {
  const found = findEntry(await history(t), prefix);
  if (!found.ok) {
    process.stderr.write(`plantgate config show: ${found.message}\n`);
    return EXIT_FAILURE;
  }
  const e = found.entry;
  if (json) {
    process.stdout.write(`${JSON.stringify(e, null, 2)}\n`);
    return EXIT_OK;
  }
  const head = [
    `# ${e.hash}`,
    `# applied ${e.applied_at} (${e.how}) from ${e.file}`,
    `# file owner ${e.owner.user ?? `uid ${e.owner.uid}`}, modified ${e.mtime}`,
    ...(e.approval ? [`# approved by ${e.approval.identity} (${e.approval.key})`] : []),
    '# The effective configuration: defaults filled in, durations in ms, sizes in bytes, secrets as references.',
  ];
  process.stdout.write(`${head.join('\n')}\n${stringify(e.config)}`);
  return EXIT_OK;
}

type Side = { ok: true; label: string; config: JsonValue; text?: string } | { ok: false; code: number };

/** A file path (an existing file) or a hash prefix from the history. */
async function side(t: HistoryTarget, ref: string, allowHistory: boolean): Promise<Side> {
  if (existsSync(ref) && statSync(ref).isFile()) {
    // Secrets are not needed to compare: their references are what the fingerprint holds.
    const res = await loadConfig(ref, { skipSecrets: true });
    if (!res.ok) {
      for (const i of res.issues) process.stderr.write(`${formatIssue(i)}\n`);
      process.stderr.write(`${ref}: invalid; nothing compared.\n`);
      return { ok: false, code: EXIT_CONFIG };
    }
    return { ok: true, label: ref, config: effectiveConfig(res.config), text: readFileSync(ref, 'utf8') };
  }
  if (!allowHistory) {
    process.stderr.write(`plantgate check-config --diff: ${ref} is not a file\n`);
    return { ok: false, code: EXIT_USAGE };
  }
  const found = findEntry(await history(t), ref);
  if (!found.ok) {
    process.stderr.write(
      `plantgate config diff: ${ref} is neither a file nor in the history: ${found.message}\n`,
    );
    return { ok: false, code: EXIT_USAGE };
  }
  return {
    ok: true,
    label: `the ${found.entry.how} of ${found.entry.applied_at}`,
    config: found.entry.config,
  };
}

/** `check-config --diff OLD NEW` (files only) and `config diff A B` (files or hash prefixes). */
export async function diffCommand(
  t: HistoryTarget,
  a: string,
  b: string,
  allowHistory: boolean,
): Promise<number> {
  const old = await side(t, a, allowHistory);
  if (!old.ok) return old.code;
  const now = await side(t, b, allowHistory);
  if (!now.ok) return now.code;
  const textsDiffer = old.text === undefined || now.text === undefined || old.text !== now.text;
  process.stdout.write(formatDiff(old, now, textsDiffer));
  return EXIT_OK;
}
