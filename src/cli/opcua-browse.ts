// `plantgate opcua browse <source id | endpoint> [--path "Objects/1:Line"] [--depth N]`: lists what an OPC UA
// server offers, with a ready-to-paste `signals:` line per variable, so commissioning needs no UaExpert and no
// script. With a source id it connects exactly as the daemon would (security mode and policy, the source's PKI
// and trust list, its user); with an endpoint URL it connects without security through a throw-away PKI.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { OpcuaSourceConfig } from '../../adapters/opcua/config.js';
import { formatIssue, loadConfig } from '../config/load.js';

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
const EXIT_CONFIG = 78;

export interface BrowseCommandOptions {
  path?: string;
  depth: number;
  out?: (text: string) => void;
  err?: (text: string) => void;
}

export async function opcuaBrowseCommand(
  configFile: string,
  target: string,
  opts: BrowseCommandOptions,
): Promise<number> {
  const out = opts.out ?? ((t: string) => process.stdout.write(t));
  const err = opts.err ?? ((t: string) => process.stderr.write(t));
  if (!Number.isInteger(opts.depth) || opts.depth < 1 || opts.depth > 20) {
    err(`plantgate opcua browse: --depth must be a whole number from 1 to 20, not ${opts.depth}\n`);
    return EXIT_USAGE;
  }
  const { opcuaSourceSchema } = await import('../../adapters/opcua/config.js');
  let cfg: OpcuaSourceConfig;
  let stateDir: string;
  let gatewayId = 'browse';
  let scratch: string | undefined;
  if (/^opc\.tcp:\/\//.test(target)) {
    const parsed = opcuaSourceSchema.safeParse({
      id: 'browse',
      type: 'opcua',
      endpoint: target,
      signals: [{ name: 'browse.none', node: 'i=2258' }],
    });
    if (!parsed.success) {
      err(`plantgate opcua browse: ${parsed.error.issues[0]?.message ?? 'invalid endpoint'}\n`);
      return EXIT_USAGE;
    }
    cfg = parsed.data;
    // No source: security None and a certificate that is thrown away afterwards (never the home folder).
    scratch = mkdtempSync(join(tmpdir(), 'plantgate-browse-'));
    stateDir = scratch;
  } else {
    const loaded = await loadConfig(configFile);
    if (!loaded.ok) {
      for (const i of loaded.issues) err(`${formatIssue(i)}\n`);
      return EXIT_CONFIG;
    }
    const src = loaded.config.sources.find((s) => s.id === target);
    if (src?.type !== 'opcua') {
      const ids = loaded.config.sources.filter((s) => s.type === 'opcua').map((s) => s.id);
      err(
        `plantgate opcua browse: no opcua source "${target}" in ${configFile}; opcua sources: ${ids.join(', ') || 'none'} (or give an endpoint such as opc.tcp://10.0.1.20:4840)\n`,
      );
      return EXIT_USAGE;
    }
    cfg = src as unknown as OpcuaSourceConfig;
    stateDir = join(loaded.config.storage.dir, 'opcua', cfg.id);
    gatewayId = loaded.config.gateway.id;
  }
  const env = { gatewayId, site: '', timezone: 'UTC', stateDir };
  const conn = await import('../../adapters/opcua/connection.js');
  const { browseAddressSpace, formatBrowse } = await import('../../adapters/opcua/browse.js');
  const { pkiDirOf } = await import('../../adapters/opcua/pki.js');
  // node-opcua's console chatter stays out of the listing.
  conn.routeLibraryLogs(pino({ level: 'silent' }));
  const cm = await conn.createCertificateManager(pkiDirOf(stateDir, cfg.pki_dir));
  try {
    await conn.ensureOwnCertificate(cm, env, cfg);
    let opened: Awaited<ReturnType<typeof conn.openSession>>;
    try {
      opened = await conn.openSession({ cfg, env, cm });
    } catch (e) {
      err(`plantgate opcua browse: ${e instanceof Error ? e.message : String(e)}\n`);
      return EXIT_FAILURE;
    }
    try {
      const browseOpts: { path?: string; depth: number } = { depth: opts.depth };
      if (opts.path !== undefined) browseOpts.path = opts.path;
      const { nodes, truncated } = await browseAddressSpace(opened.session, browseOpts);
      out(formatBrowse(nodes, truncated));
      return EXIT_OK;
    } catch (e) {
      err(`plantgate opcua browse: ${e instanceof Error ? e.message : String(e)}\n`);
      return EXIT_FAILURE;
    } finally {
      await opened.close();
    }
  } finally {
    cm.referenceCounter = 0;
    await cm.dispose();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}
