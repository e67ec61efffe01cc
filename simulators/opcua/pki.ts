// The OPC UA simulator's PKI: its server and user certificate managers in one folder (a temporary one unless
// given), kept across restarts, trusting a client certificate as an administrator would, and clean-up.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua';

export interface SimPki {
  readonly dir: string;
  readonly serverCm: OPCUACertificateManager;
  readonly userCm: OPCUACertificateManager;
  /** PEM file of the server's own certificate. */
  readonly certificateFile: string;
  /**
   * Takes a reference on both managers for a server about to use them, so that server's shutdown does not
   * dispose them (they outlive restarts).
   */
  reference(): void;
  /** Trusts a client certificate (PEM or DER file). */
  trustClient(certificateFile: string): Promise<void>;
  /** Disposes both managers and removes the folder if it was a temporary one. */
  dispose(): Promise<void>;
}

/** Opens the PKI in `dir`, or in a fresh temporary folder when `dir` is undefined. */
export async function openSimPki(dir: string | undefined, rejectUnknownClients: boolean): Promise<SimPki> {
  const own = dir === undefined;
  const pkiDir = dir ?? mkdtempSync(join(tmpdir(), 'plantgate-opcua-sim-'));
  const serverCm = new OPCUACertificateManager({
    rootFolder: join(pkiDir, 'server'),
    automaticallyAcceptUnknownCertificate: !rejectUnknownClients,
  });
  const userCm = new OPCUACertificateManager({
    rootFolder: join(pkiDir, 'users'),
    automaticallyAcceptUnknownCertificate: true,
  });
  await serverCm.initialize();
  await userCm.initialize();
  return {
    dir: pkiDir,
    serverCm,
    userCm,
    certificateFile: join(pkiDir, 'server', 'own', 'certs', 'certificate.pem'),
    reference() {
      serverCm.referenceCounter++;
      userCm.referenceCounter++;
    },
    async trustClient(file) {
      const raw = readFileSync(file);
      const der = raw.includes('-----BEGIN') ? Buffer.from(new X509Certificate(raw).raw) : raw;
      await serverCm.trustCertificate(der);
    },
    async dispose() {
      await serverCm.dispose();
      await userCm.dispose();
      if (own) rmSync(pkiDir, { recursive: true, force: true });
    },
  };
}
