// The approval gate (`gateway.require_approval`): a configuration is applied only if a detached OpenSSH signature
// (`<config>.sig`, made with `ssh-keygen -Y sign -n plantgate-config -f KEY <config>`) verifies against an
// allowed-signers file. Verified by ssh-keygen itself, the tool engineers sign with, so there is no second
// implementation of the format to trust. The exact bytes the loader parsed are verified (piped to ssh-keygen),
// never the file read a second time.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { JsonValue } from './fingerprint.js';
import type { ApprovalRecord } from './history.js';

export const SIGNATURE_NAMESPACE = 'plantgate-config';
const SSH_KEYGEN = 'ssh-keygen';
const TIMEOUT_MS = 15_000;

export type ApprovalResult = { ok: true; approval: ApprovalRecord } | { ok: false; message: string };

/** The approvers file a configuration names, if its gate is on (works on a parsed or an effective config). */
export function approversFileOf(config: unknown): string | undefined {
  const gw = (config as { gateway?: { require_approval?: { approvers_file?: unknown } } } | null)?.gateway;
  const f = gw?.require_approval?.approvers_file;
  return typeof f === 'string' ? f : undefined;
}

/**
 * The approvers files a new configuration must satisfy: its own, and the one of the configuration it replaces, so
 * the gate cannot be switched off (or its approvers replaced) by an unapproved file.
 */
export function approversFor(next: unknown, previous: JsonValue | unknown | undefined): string[] {
  return [...new Set([approversFileOf(previous), approversFileOf(next)].filter((f) => f !== undefined))];
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: NodeJS.ErrnoException;
}

function runSshKeygen(args: string[], input?: Buffer): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(SSH_KEYGEN, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    let error: NodeJS.ErrnoException | undefined;
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < 64 * 1024) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += d.toString();
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      error = err;
    });
    // ssh-keygen may exit before reading all of stdin (find-principals does not read it).
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? Buffer.alloc(0));
    child.on('close', (code) => resolve({ code, stdout, stderr, ...(error ? { error } : {}) }));
  });
}

const lastLine = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .pop() ?? '';

/** Verifies `data` (the configuration as parsed) against `<configFile>.sig` for every approvers file given. */
export async function verifyApproval(
  configFile: string,
  data: Buffer,
  approversFiles: readonly string[],
): Promise<ApprovalResult> {
  const sig = `${configFile}.sig`;
  const signHint = `sign it with: ssh-keygen -Y sign -n ${SIGNATURE_NAMESPACE} -f YOUR_KEY ${configFile}`;
  try {
    await readFile(sig);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      ok: false,
      message:
        code === 'ENOENT'
          ? `approval required (gateway.require_approval) but ${sig} does not exist; ${signHint}`
          : `approval required but the signature ${sig} cannot be read (${code})`,
    };
  }
  let approval: ApprovalRecord | undefined;
  for (const approvers of approversFiles) {
    try {
      await readFile(approvers);
    } catch (err) {
      return {
        ok: false,
        message: `the approvers file ${approvers} cannot be read (${(err as NodeJS.ErrnoException).code}); no configuration can be approved without it`,
      };
    }
    const found = await runSshKeygen(['-Y', 'find-principals', '-s', sig, '-f', approvers]);
    if (found.error) return { ok: false, message: sshKeygenProblem(found.error) };
    const identity = found.stdout.split('\n').find((l) => l.trim() !== '');
    if (found.code !== 0 || identity === undefined) {
      return {
        ok: false,
        message: `${sig} is not signed by a key in ${approvers} (an unknown or removed key): ${lastLine(found.stderr) || 'no matching principal'}`,
      };
    }
    const verified = await runSshKeygen(
      ['-Y', 'verify', '-f', approvers, '-I', identity.trim(), '-n', SIGNATURE_NAMESPACE, '-s', sig],
      data,
    );
    if (verified.error) return { ok: false, message: sshKeygenProblem(verified.error) };
    // `Good "plantgate-config" signature for alice@plant with ED25519 key SHA256:...`
    const good = /^Good "[^"]*" signature for (.+) with \S+ key (\S+)/m.exec(verified.stdout);
    if (verified.code !== 0 || !good) {
      return {
        ok: false,
        message: `${sig} does not verify for ${identity.trim()} against ${approvers} (the file changed after signing, or the signature is for another file or namespace): ${lastLine(verified.stderr) || lastLine(verified.stdout)}`,
      };
    }
    approval ??= { identity: good[1] as string, key: good[2] as string };
  }
  if (!approval) return { ok: false, message: 'no approvers file to verify against' };
  return { ok: true, approval };
}

function sshKeygenProblem(err: NodeJS.ErrnoException): string {
  return err.code === 'ENOENT'
    ? `ssh-keygen is not installed (it verifies approval signatures); install openssh-client`
    : `running ssh-keygen failed: ${err.message}`;
}
