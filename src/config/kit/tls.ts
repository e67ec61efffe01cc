// TLS and certificate files, one home for every component: the fields and check shared by every TLS section
// (HTTP sinks, MQTT sources: a client certificate needs its key) and `readPem`, the one function that reads a
// certificate or key file (TLS CA and client pair, OPC UA user certificate). The loader has already made the
// path absolute and checked that the file is readable; reading happens in the component, when it connects.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../../kit/errors.js';

/**
 * Largest certificate or key file read. A big CA bundle (every public root) is about 250 KiB; anything past
 * 1 MiB is surely the wrong file, and reading it whole would only cost memory.
 */
export const MAX_PEM_FILE_BYTES = 1024 * 1024;

/**
 * Reads a certificate or key file (PEM, or DER where the component accepts it) whole. `what` names its role in
 * the message (`CA`, `client key`, ...). Errors name the file and the reason, never a byte of the content: a key
 * file pasted in the wrong place must not reach a log. Size is checked on the open file, so a file that grows
 * between the check and the read is still capped.
 */
export function readPem(file: string, what = 'certificate'): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (cause) {
    throw new ConfigError(`cannot read the ${what} file "${file}": ${codeOf(cause)}`, { cause });
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory())
      throw new ConfigError(`the ${what} file "${file}" is a directory; give the path of a file`);
    if (st.size > MAX_PEM_FILE_BYTES) {
      throw new ConfigError(
        `the ${what} file "${file}" is ${st.size} bytes, over the ${MAX_PEM_FILE_BYTES}-byte limit; is it the right file?`,
      );
    }
    // One byte past the cap tells a file that grew after fstat from one that is exactly at the limit.
    const buf = Buffer.allocUnsafe(MAX_PEM_FILE_BYTES + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > MAX_PEM_FILE_BYTES) {
      throw new ConfigError(
        `the ${what} file "${file}" is over the ${MAX_PEM_FILE_BYTES}-byte limit; is it the right file?`,
      );
    }
    if (n === 0) throw new ConfigError(`the ${what} file "${file}" is empty`);
    return Buffer.from(buf.subarray(0, n));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read the ${what} file "${file}": ${codeOf(err)}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}

function codeOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return 'it does not exist';
  if (code === 'EACCES' || code === 'EPERM')
    return 'permission denied (make it readable by the service user)';
  if (code === 'EISDIR') return 'it is a directory';
  return code ?? (err instanceof Error ? err.message : String(err));
}

export function requireCertKeyPair(
  t: { cert_file?: string | undefined; key_file?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if ((t.cert_file === undefined) !== (t.key_file === undefined)) {
    ctx.addIssue({
      code: 'custom',
      message: 'cert_file and key_file go together: give both for a client certificate, or neither',
      path: [t.cert_file === undefined ? 'cert_file' : 'key_file'],
    });
  }
}

/** The client certificate pair of mutual TLS, spread into every TLS section. */
export const clientCertFields = {
  cert_file: z
    .string()
    .min(1)
    .optional()
    .describe('PEM file of the client certificate (mutual TLS); needs key_file.'),
  key_file: z
    .string()
    .min(1)
    .optional()
    .describe('PEM file of the client private key (mutual TLS); needs cert_file.'),
};

/** `ca_file`: the private CA that signs the peer's certificate. */
function caFileField(peer: 'server' | 'broker') {
  return z
    .string()
    .min(1)
    .optional()
    .describe(
      `PEM file of the CA(s) that sign the ${peer} certificate, for private PKIs; the system CAs otherwise.`,
    );
}

/**
 * The `tls:` section of a client of an HTTPS or NATS server: a private CA, a client certificate, and the lab-only
 * switch that turns verification off. One schema, so every such sink says and checks the same.
 */
export const serverTlsSchema = z
  .object({
    ca_file: caFileField('server'),
    ...clientCertFields,
    insecure_skip_verify: z
      .boolean()
      .default(false)
      .describe(
        'Turns off server certificate verification. For lab use only; logged as a warning at every start.',
      ),
  })
  .strict()
  .superRefine(requireCertKeyPair);

/** The `tls:` section of an MQTT client (the source and the sink): a private CA, a client certificate, SNI. */
export const brokerTlsSchema = z
  .object({
    ca_file: caFileField('broker'),
    ...clientCertFields,
    servername: z
      .string()
      .min(1)
      .optional()
      .describe('Name checked against the broker certificate when it differs from the URL host.'),
  })
  .strict()
  .superRefine(requireCertKeyPair);
