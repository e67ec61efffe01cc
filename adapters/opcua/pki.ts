// The gateway's OPC UA PKI folder (own certificate, trusted/, rejected/) and the helper that trusts a rejected
// server certificate. Plain file operations on purpose: the CLI can call them without loading node-opcua.
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { PlantgateError } from '../../src/kit/errors.js';

/** PKI folder of a source: the `pki_dir` override or `<stateDir>/pki`. */
export function pkiDirOf(stateDir: string, override?: string): string {
  return override ?? join(stateDir, 'pki');
}

/** The server refused because its certificate is not in trusted/: needs a person, retried until then. */
export class UntrustedServerCertificateError extends PlantgateError {
  readonly thumbprint: string;
  constructor(message: string, thumbprint: string, cause?: unknown) {
    super('SOURCE_CONNECT', message, { retryable: true, cause });
    this.thumbprint = thumbprint;
  }
}

export function untrustedServerMessage(
  thumbprint: string,
  endpoint: string,
  pkiDir: string,
  sourceId: string,
): string {
  return (
    `server certificate ${thumbprint} of ${endpoint} is not trusted; move it from ${join(pkiDir, 'rejected')} ` +
    `to ${join(pkiDir, 'trusted', 'certs')} (or run \`plantgate opcua trust ${sourceId}\`)`
  );
}

/** SHA-1 thumbprint (lowercase hex), the way OPC UA names certificates. */
export function thumbprintOf(certificate: Buffer | string): string {
  return new X509Certificate(certificate).fingerprint.replaceAll(':', '').toLowerCase();
}

/** Thumbprint in a file name written by node-opcua's certificate store: `<common name>[<thumbprint>].pem`. */
function thumbprintInName(name: string): string | undefined {
  return /\[([0-9a-f]{40})\]\.(?:pem|der)$/i.exec(name)?.[1]?.toLowerCase();
}

export interface RejectedCertificate {
  file: string;
  thumbprint: string;
}

export function listRejected(pkiDir: string): RejectedCertificate[] {
  const dir = join(pkiDir, 'rejected');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: RejectedCertificate[] = [];
  for (const name of names) {
    if (!/\.(pem|der)$/i.test(name)) continue;
    let thumbprint = thumbprintInName(name);
    if (!thumbprint) {
      try {
        thumbprint = thumbprintOf(readFileSync(join(dir, name)));
      } catch {
        continue;
      }
    }
    out.push({ file: join(dir, name), thumbprint });
  }
  return out;
}

/**
 * Trusts the server certificates this source rejected: moves them from `pki/rejected` to `pki/trusted/certs`.
 * With `thumbprint`, only that certificate. Returns the thumbprints it trusted. The running adapter picks the
 * change up at its next connection attempt.
 */
export function trustServerCertificate(
  stateDir: string,
  opts: { thumbprint?: string; pkiDir?: string } = {},
): string[] {
  const pkiDir = pkiDirOf(stateDir, opts.pkiDir);
  const wanted = opts.thumbprint?.replaceAll(':', '').toLowerCase();
  const trustedDir = join(pkiDir, 'trusted', 'certs');
  mkdirSync(trustedDir, { recursive: true });
  const moved: string[] = [];
  for (const r of listRejected(pkiDir)) {
    if (wanted !== undefined && r.thumbprint !== wanted) continue;
    const name = r.file.slice(r.file.lastIndexOf('/') + 1);
    renameSync(r.file, join(trustedDir, name));
    moved.push(r.thumbprint);
  }
  return moved;
}
