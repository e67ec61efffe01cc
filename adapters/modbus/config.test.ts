// The `modbus` source schema and registry entry: the sample file, the simple and multi-device forms, defaults,
// declarations handed to the pipeline, and the plan printer. Config mistakes are covered by golden cases.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli } from '../../edge-tests/lib/harness.js';
import { loadConfig } from '../../src/config/load.js';
import { adapters } from '../index.js';
import { isSerialized, modbusSourceSchema, resolveDevices, resolveTransport } from './config.js';
import { modbus } from './index.js';

describe('modbus source config', () => {
  it('accepts every source of sample.yaml, with no source-wide problem and a plan for each', () => {
    const doc = parseYaml(readFileSync(new URL('./sample.yaml', import.meta.url), 'utf8')) as {
      sources: unknown[];
    };
    expect(doc.sources).toHaveLength(4);
    for (const src of doc.sources) {
      const r = modbusSourceSchema.safeParse(src);
      expect(r.error?.issues ?? []).toEqual([]);
      if (r.success) {
        expect(modbus.check?.(r.data)).toEqual([]);
        expect(modbus.describePlan?.(r.data)).toMatch(/^Source /);
      }
    }
  });

  it('fills defaults and resolves devices in the simple form', () => {
    const cfg = modbusSourceSchema.parse({
      id: 'p',
      type: 'modbus',
      tcp: 'plc.local',
      unit_id: 3,
      signals: [{ name: 'a.b', register: 'holding:1' }],
    });
    expect(cfg.poll_interval).toBe(1000);
    expect(cfg.timeout).toBe(1000);
    expect(cfg.retries).toBe(1);
    expect(cfg.max_registers_per_request).toBe(125);
    expect(cfg.max_bits_per_request).toBe(2000);
    expect(resolveTransport(cfg)).toEqual({ kind: 'tcp', host: 'plc.local', port: 502 });
    expect(isSerialized(cfg)).toBe(false);
    const [d] = resolveDevices(cfg);
    expect(d?.unitId).toBe(3);
    expect(d?.signals[0]).toMatchObject({
      type: 'uint16',
      order: 'ABCD',
      count: 1,
      ref: { table: 'holding', address: 1 },
    });
  });

  it('lets devices override timeout, retries and request limits', () => {
    const cfg = modbusSourceSchema.parse({
      id: 'p',
      type: 'modbus',
      rtu_over_tcp: '[::1]:4001',
      timeout: '300ms',
      devices: [
        { unit_id: 1, signals: [{ name: 'a.b', register: 'coil:1' }] },
        {
          unit_id: 2,
          timeout: '2s',
          retries: 0,
          max_registers_per_request: 16,
          signals: [{ name: 'a.c', register: 'input:0', type: 'float64' }],
        },
      ],
    });
    expect(resolveTransport(cfg)).toEqual({ kind: 'rtu_over_tcp', host: '::1', port: 4001 });
    expect(isSerialized(cfg)).toBe(true);
    const [d1, d2] = resolveDevices(cfg);
    expect(d1).toMatchObject({ unitId: 1, timeoutMs: 300, retries: 1, maxRegisters: 125 });
    expect(d1?.signals[0]?.type).toBe('bool');
    expect(d2).toMatchObject({ unitId: 2, timeoutMs: 2000, retries: 0, maxRegisters: 16 });
    expect(d2?.signals[0]?.count).toBe(4);
  });

  it('refuses unknown keys and out-of-range limits with the key named', () => {
    const r = modbusSourceSchema.safeParse({
      id: 'p',
      type: 'modbus',
      tcp: 'plc:502',
      unit_id: 1,
      max_registers_per_request: 200,
      signals: [{ name: 'a.b', register: 'holding:1', wordorder: 'little' }],
    });
    expect(r.success).toBe(false);
    const paths = r.error?.issues.map((i) => i.path.join('.')) ?? [];
    expect(paths).toContain('max_registers_per_request');
    expect(paths).toContain('signals.0');
  });

  it('declares exact signals without addressing keys, with kinds for booleans and strings', () => {
    const cfg = modbusSourceSchema.parse({
      id: 'p',
      type: 'modbus',
      tcp: 'plc:502',
      poll_interval: '250ms',
      unit_id: 1,
      signals: [
        { name: 'a.temp', register: 'holding:0', type: 'float32', order: 'CDAB', unit: 'Cel' },
        { name: 'a.run', register: 'holding:6', bit: 0 },
        { name: 'a.lot', register: 'holding:20', type: 'string', length: 4 },
      ],
    });
    const d = modbus.declarations(cfg);
    expect(d.expected_interval_ms).toBe(250);
    expect(d.patterns).toEqual([]);
    expect(d.exact).toEqual([
      { name: 'a.temp', unit: 'Cel' },
      { name: 'a.run', value_type: 'boolean' },
      { name: 'a.lot', value_type: 'string' },
    ]);
  });

  it('is registered once in the adapter registry', () => {
    expect(adapters.filter((a) => a.type === 'modbus')).toHaveLength(1);
  });
});

describe('a Modicon number written as a protocol address (issue #18, item 3)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plantgate-modbus-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'plant.yaml');
  writeFileSync(
    file,
    [
      'gateway: { id: lab-edge-01, site: lab, timezone: Europe/Paris }',
      `storage: { dir: ${JSON.stringify(join(dir, 'state'))} }`,
      'sources:',
      '  - id: packer-3',
      '    type: modbus',
      '    tcp: 10.0.2.15:502',
      '    unit_id: 1',
      '    signals:',
      '      - { name: lab.packer3.count, register: "holding:40101", type: uint32 }',
      '      - { name: lab.packer3.state, register: "40106" }',
      'sinks:',
      '  - { id: central, type: http, url: "https://central.example/ingest", select: { signals: ["lab.*"] } }',
      '',
    ].join('\n'),
  );
  const message =
    'holding:40101 looks like the Modicon number 40101 written as a protocol address; Modicon 40101 is holding:100: write "holding:100" or "40101" (if the device\'s manual really lists protocol address 40101, keep it)';

  it('is accepted with a located warning that suggests both correct forms', async () => {
    const res = await loadConfig(file);
    expect(res.ok).toBe(true);
    expect(res.warnings).toEqual([{ file, line: 9, col: 46, path: 'sources.0.signals.0.register', message }]);
  });

  it('is printed by check-config, which still exits 0 and counts the warning', async () => {
    const r = await runCli(['check-config', '-c', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${file}:9:46 sources.0.signals.0.register: warning: ${message}`);
    expect(r.stdout).toMatch(/: OK: .*1 warning/);
  });
});
