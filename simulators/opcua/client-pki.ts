// A throw-away PKI folder for bare node-opcua clients in tests and benchmarks. A client created without a
// certificate manager uses (and creates) the user's home PKI (~/.config/node-opcua-default-nodejs): tests then
// write outside their temp folder and race each other on the same private key. Every client gets its own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua';

export interface ClientPki {
  /** Pass as `clientCertificateManager` to OPCUAClient.create. */
  readonly cm: OPCUACertificateManager;
  readonly dir: string;
  /** Disposes the manager and removes the folder. */
  dispose(): Promise<void>;
}

/** A client certificate manager in a fresh temp folder that accepts any server certificate (tests only). */
export async function tempClientPki(prefix = 'plantgate-opcua-client-'): Promise<ClientPki> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const cm = new OPCUACertificateManager({
    rootFolder: join(dir, 'pki'),
    automaticallyAcceptUnknownCertificate: true,
  });
  await cm.initialize();
  return {
    cm,
    dir,
    async dispose() {
      cm.referenceCounter = 0;
      await cm.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
