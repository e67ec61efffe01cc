// Every browse_path the documentation shows (the root README, this adapter's README and sample.yaml) is loaded
// through the real config loader, which must leave it as written (it once turned `*_path` values into file
// paths: /etc/plantgate/Objects/...), and resolved against the simulator by the adapter: each documented path
// names a variable that reads. The documented paths are the simulator's, so an engineer can try them.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { type OpcuaSim, startOpcuaSim } from '../../simulators/opcua/server.js';
import { loadConfig } from '../../src/config/load.js';
import { OpcuaAdapter } from './adapter.js';
import type { OpcuaSourceConfig } from './config.js';
import { collector, waitFor } from './test-harness.js';

const ROOT = new URL('../../', import.meta.url);
const BROWSE_PATH_IN_TEXT = /browse_path:\s*["']?(Objects\/[^\s`"',}]+)/g;

/** Every browse path written in a Markdown file (YAML blocks and inline examples alike). */
function pathsInMarkdown(file: string): string[] {
  const text = readFileSync(new URL(file, ROOT), 'utf8');
  return [...text.matchAll(BROWSE_PATH_IN_TEXT)].map((m) => m[1] as string);
}

interface DocSignal {
  from: string;
  signal: Record<string, unknown>;
}

function documented(): DocSignal[] {
  const out: DocSignal[] = [];
  const sample = parse(readFileSync(new URL('adapters/opcua/sample.yaml', ROOT), 'utf8')) as {
    sources: Array<{ id: string; signals: Array<Record<string, unknown>> }>;
  };
  for (const src of sample.sources) {
    for (const s of src.signals) {
      if (s.browse_path !== undefined) out.push({ from: `sample.yaml ${src.id}`, signal: s });
    }
  }
  for (const md of ['README.md', 'adapters/opcua/README.md']) {
    pathsInMarkdown(md).forEach((p, i) => {
      out.push({
        from: md,
        signal: { name: `docs.${md.includes('/') ? 'adapter' : 'root'}.path_${i}`, browse_path: p },
      });
    });
  }
  return out;
}

describe('browse_path as documented', () => {
  let sim: OpcuaSim;
  let dir: string;
  beforeAll(async () => {
    sim = await startOpcuaSim({ tickMs: 0 });
    dir = mkdtempSync(join(tmpdir(), 'plantgate-opcua-docs-'));
  });
  afterAll(async () => {
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads as written and resolves on the simulator, for every snippet of the README, adapter README and sample.yaml', async () => {
    const docs = documented();
    expect(docs.filter((d) => d.from === 'adapters/opcua/README.md').length).toBeGreaterThan(0);
    expect(docs.filter((d) => d.from.startsWith('sample.yaml')).length).toBeGreaterThan(0);
    // Array elements read with index; a documented array path without one is read as element 0.
    const seen = new Set<string>();
    const signals: Array<{ name: string; browse_path: string; index?: number }> = [];
    for (const d of docs) {
      const { index, browse_path } = d.signal as { index?: number; browse_path: string };
      // One signal per variable (a check-config rule): the same path documented twice is tried once.
      if (seen.has(`${browse_path}#${index ?? ''}`)) continue;
      seen.add(`${browse_path}#${index ?? ''}`);
      signals.push({
        name: `docs.signal_${signals.length}`,
        browse_path,
        ...(index === undefined ? {} : { index }),
      });
    }
    const file = join(dir, 'plant.yaml');
    writeFileSync(
      file,
      stringify({
        gateway: { id: 'docs-gw', site: 'lab', timezone: 'UTC' },
        storage: { dir: join(dir, 'state') },
        sources: [
          { id: 'docs', type: 'opcua', endpoint: sim.endpoint, publishing_interval: '100ms', signals },
        ],
        sinks: [{ id: 'central', type: 'http', url: 'http://127.0.0.1:9/ingest' }],
      }),
    );
    const loaded = await loadConfig(file);
    expect(loaded.ok ? [] : loaded.issues).toEqual([]);
    if (!loaded.ok) return;
    const cfg = loaded.config.sources[0] as unknown as OpcuaSourceConfig;
    expect(cfg.signals.map((s) => s.browse_path)).toEqual(signals.map((s) => s.browse_path));

    const c = collector(cfg.id);
    const adapter = new OpcuaAdapter(cfg, {
      gatewayId: 'docs-gw',
      site: 'lab',
      timezone: 'UTC',
      stateDir: join(dir, 'state', 'opcua', 'docs'),
    });
    await adapter.start(c.ctx);
    try {
      await waitFor(
        () => adapter.health().state === 'connected' && c.latest.size === signals.length,
        'a value for every documented browse path',
      ).catch((e: Error) => {
        throw new Error(`${e.message}; problems: ${adapter.health().problems?.join('; ')}`);
      });
      expect(adapter.health().unresolved_signals).toBeUndefined();
    } finally {
      await adapter.stop();
    }
  });
});
