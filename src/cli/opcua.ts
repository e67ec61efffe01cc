// `plantgate opcua trust|rejected <source>`: moves a rejected OPC UA server certificate into the source's
// trusted folder (after an engineer has checked its thumbprint). Works on files only; the running adapter
// picks the certificate up at its next reconnect.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { listRejected, pkiDirOf, trustServerCertificate } from '../../adapters/opcua/index.js';

export async function opcuaCommand(
  configFile: string,
  action: 'trust' | 'rejected',
  sourceId: string,
  thumbprint?: string,
): Promise<number> {
  let doc: { storage?: { dir?: string }; sources?: Array<{ id?: string; type?: string; pki_dir?: string }> };
  try {
    doc = (parse(readFileSync(configFile, 'utf8')) ?? {}) as typeof doc;
  } catch (err) {
    process.stderr.write(`plantgate: cannot read ${configFile}: ${(err as Error).message}\n`);
    return 2;
  }
  const base = dirname(resolve(configFile));
  const abs = (p: string) => (isAbsolute(p) ? p : join(base, p));
  const src = (doc.sources ?? []).find((s) => s.id === sourceId);
  if (src?.type !== 'opcua') {
    const ids = (doc.sources ?? []).filter((s) => s.type === 'opcua').map((s) => s.id);
    process.stderr.write(
      `plantgate: no opcua source "${sourceId}" in ${configFile}; opcua sources: ${ids.join(', ') || 'none'}\n`,
    );
    return 2;
  }
  const stateDir = join(abs(doc.storage?.dir ?? '/var/lib/plantgate'), 'opcua', sourceId);
  const pkiDir = src.pki_dir ? abs(src.pki_dir) : undefined;
  if (action === 'rejected') {
    const list = listRejected(pkiDirOf(stateDir, pkiDir));
    if (list.length === 0) process.stdout.write('no rejected server certificates\n');
    for (const c of list) process.stdout.write(`${JSON.stringify(c)}\n`);
    return 0;
  }
  const trusted = trustServerCertificate(stateDir, { thumbprint, pkiDir });
  if (trusted.length === 0) {
    process.stderr.write(
      `plantgate: no rejected certificate${thumbprint ? ` with thumbprint ${thumbprint}` : ''} for ${sourceId}; has the source tried to connect?\n`,
    );
    return 1;
  }
  for (const t of trusted) process.stdout.write(`trusted server certificate ${t} for source ${sourceId}\n`);
  return 0;
}
