// Checks shared by every TLS section (HTTP sinks, MQTT sources): a client certificate needs its key.
import { z } from 'zod';

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
