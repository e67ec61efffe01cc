// `plantgate opcua browse` against the simulator: the open62541-style corner (nested folders, numeric and string
// NodeIds), depth and path, each variable's DataType, access level and value, and YAML lines that, pasted into a
// configuration and loaded by the real loader, make a source whose every signal resolves and reads. With a
// source id, browse uses the source's security and trust list.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type OpcuaSim, startOpcuaSim } from '../../simulators/opcua/server.js';
import { opcuaBrowseCommand } from '../../src/cli/opcua-browse.js';
import { loadConfig } from '../../src/config/load.js';
import { OpcuaAdapter } from './adapter.js';
import type { OpcuaSourceConfig } from './config.js';
import { trustServerCertificate } from './pki.js';
import { collector, waitFor } from './test-harness.js';

let sim: OpcuaSim;
let secureSim: OpcuaSim;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'plantgate-browse-test-'));
  [sim, secureSim] = await Promise.all([
    startOpcuaSim({ tickMs: 0 }),
    startOpcuaSim({
      tickMs: 0,
      securityModes: ['SignAndEncrypt'],
      allowAnonymous: false,
      users: [{ username: 'edge', password: 's3cret' }],
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([sim?.stop(), secureSim?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

async function browse(target: string, opts: { path?: string; depth: number; config?: string }) {
  let out = '';
  let err = '';
  const code = await opcuaBrowseCommand(opts.config ?? join(dir, 'none.yaml'), target, {
    ...opts,
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

function plant(sources: unknown[]): Record<string, unknown> {
  return {
    gateway: { id: 'lab-gw', site: 'lab', timezone: 'UTC' },
    storage: { dir: join(dir, 'state') },
    sources,
    sinks: [{ id: 'central', type: 'http', url: 'http://127.0.0.1:9/ingest' }],
  };
}

describe('plantgate opcua browse', () => {
  it('lists nested folders with numeric and string NodeIds, types, access, values and YAML lines', async () => {
    const r = await browse(sim.endpoint, { path: 'Objects/1:Line', depth: 3 });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines).toContain('Objects/1:Line/1:Press  ns=1;i=1001  (object)');
    expect(lines).toContain(
      '  Objects/1:Line/1:Press/1:Pressure  ns=1;i=1011  Double scalar  CurrentRead | CurrentWrite  value 151.5',
    );
    expect(lines).toContain(
      '      - { name: line.press.pressure, browse_path: Objects/1:Line/1:Press/1:Pressure }',
    );
    // 2^53 + 7: printed exactly, not rounded through a double.
    expect(r.out).toMatch(
      /Objects\/1:Line\/1:Press\/1:Strokes {2}ns=1;i=1012 {2}UInt64 scalar .* value 9007199254740999\n/,
    );
    expect(r.out).toMatch(
      /Objects\/1:Line\/1:Press\/1:Recipe {2}ns=1;s=Line\.Press\.Recipe {2}String scalar .* value "R-17"/,
    );
    expect(r.out).toMatch(
      / {4}Objects\/1:Line\/1:Press\/1:Hydraulics\/1:OilTemp {2}ns=1;i=1014 {2}Float scalar/,
    );
    expect(r.out).toContain('Objects/1:Line/1:Speed  ns=1;i=1010  Double scalar');
  });

  it('stops at --depth, skips the server object, and offers index: 0 for arrays', async () => {
    const top = await browse(sim.endpoint, { depth: 1 });
    expect(top.code).toBe(0);
    for (const f of ['Press1', 'Packer3', 'Types', 'Line'])
      expect(top.out).toMatch(new RegExp(`^Objects/1:${f} `, 'm'));
    expect(top.out).not.toContain('Objects/1:Line/1:Press');
    expect(top.out).not.toContain('0:Server');
    const types = await browse(sim.endpoint, { path: 'Objects/1:Types', depth: 1 });
    expect(types.out).toContain('Objects/1:Types/1:DoubleArray  ns=1;s=Types.DoubleArray  Double array[3]');
    expect(types.out).toContain(
      '- { name: types.double_array_0, browse_path: Objects/1:Types/1:DoubleArray, index: 0 }',
    );
    const bad = await browse(sim.endpoint, { path: 'Objects/1:Nope', depth: 1 });
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/the browse path "Objects\/1:Nope" does not resolve/);
  });

  it('prints signal lines that load as written and read from the server', async () => {
    const r = await browse(sim.endpoint, { path: 'Objects/1:Line', depth: 3 });
    const signals = r.out
      .split('\n')
      .filter((l) => l.trim().startsWith('- { name:'))
      .map((l) => l.trim().slice(2));
    expect(signals).toHaveLength(6);
    const yaml = `${stringify(plant([]))
      .replace('sources: []\n', '')
      .trimEnd()}\nsources:\n  - id: line-1\n    type: opcua\n    endpoint: ${sim.endpoint}\n    publishing_interval: 100ms\n    signals:\n${signals.map((s) => `      - ${s}`).join('\n')}\n`;
    const file = join(dir, 'pasted.yaml');
    writeFileSync(file, yaml);
    const loaded = await loadConfig(file);
    expect(loaded.ok ? [] : loaded.issues).toEqual([]);
    if (!loaded.ok) return;
    const cfg = loaded.config.sources[0] as unknown as OpcuaSourceConfig;
    // The loader left every browse path as written (it once made them file paths).
    expect(cfg.signals.map((s) => s.browse_path).every((p) => p?.startsWith('Objects/1:Line'))).toBe(true);
    const c = collector(cfg.id);
    const adapter = new OpcuaAdapter(cfg, {
      gatewayId: 'lab-gw',
      site: 'lab',
      timezone: 'UTC',
      stateDir: join(dir, 'st1'),
    });
    await adapter.start(c.ctx);
    try {
      await waitFor(() => c.latest.size === 6, 'a value from every pasted signal');
      expect(adapter.health().problems).toBeUndefined();
    } finally {
      await adapter.stop();
    }
  });

  it("uses the source's security and trust list: refuses an untrusted server, then browses once trusted", async () => {
    process.env.PG_BROWSE_TEST_PW = 's3cret';
    const file = join(dir, 'secure.yaml');
    writeFileSync(
      file,
      stringify(
        plant([
          {
            id: 'press-1',
            type: 'opcua',
            endpoint: secureSim.endpoint,
            security: { mode: 'SignAndEncrypt', policy: 'Basic256Sha256' },
            auth: { username: 'edge', password_env: 'PG_BROWSE_TEST_PW' },
            signals: [{ name: 'lyon.press1.pressure', node: 'ns=1;s=Press1.Hydraulic.Pressure' }],
          },
        ]),
      ),
    );
    try {
      const refused = await browse('press-1', { config: file, depth: 1 });
      expect(refused.code).toBe(1);
      expect(refused.err).toMatch(/server certificate [0-9a-f]{40} of .* is not trusted; move it from/);
      expect(trustServerCertificate(join(dir, 'state', 'opcua', 'press-1'))).toHaveLength(1);
      const ok = await browse('press-1', { config: file, path: 'Objects/1:Press1', depth: 2 });
      expect(ok.err).toBe('');
      expect(ok.code).toBe(0);
      expect(ok.out).toContain(
        'Objects/1:Press1/1:Hydraulic/1:Pressure  ns=1;s=Press1.Hydraulic.Pressure  Double',
      );
      const unknown = await browse('press-9', { config: file, depth: 1 });
      expect(unknown.code).toBe(2);
      expect(unknown.err).toMatch(/no opcua source "press-9" .* opcua sources: press-1/);
    } finally {
      delete process.env.PG_BROWSE_TEST_PW;
    }
  });
});
