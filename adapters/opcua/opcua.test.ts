// The opcua adapter against the real OPC UA simulator: values, types, timestamps and status codes; browse paths;
// polled reads; SignAndEncrypt with a username; an untrusted server certificate refused with a clear message.
// Types come from the server (no value_type needed; 64-bit integers exact through the real pipeline); signals
// that never resolve degrade the source by name; a server that refuses plantgate's certificate is said so.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { DataType, OPCUACertificateManager } from 'node-opcua';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type OpcuaSim, startOpcuaSim } from '../../simulators/opcua/server.js';
import { Secret } from '../../src/config/kit/primitives.js';
import { resolveReferences } from '../../src/config/secrets.js';
import { judge } from '../../src/health/status.js';
import { Pipeline, SpecRegistry } from '../../src/pipeline/pipeline.js';
import { OpcuaAdapter } from './adapter.js';
import { type OpcuaSourceConfig, opcuaSourceSchema } from './config.js';
import { opcua } from './index.js';
import { trustServerCertificate } from './pki.js';
import { collector, tempEnv, waitFor } from './test-harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function parse(raw: Record<string, unknown>): OpcuaSourceConfig {
  return opcuaSourceSchema.parse({ id: 'press-1', type: 'opcua', ...raw });
}

async function run(cfg: OpcuaSourceConfig, env = tempEnv()) {
  const c = collector(cfg.id);
  const adapter = new OpcuaAdapter(cfg, env);
  await adapter.start(c.ctx);
  cleanups.push(async () => {
    await adapter.stop();
    env.cleanup();
  });
  return { c, adapter, env };
}

describe('opcua config', () => {
  it('accepts the sample shape and derives declarations', () => {
    const cfg = parse({
      endpoint: 'opc.tcp://10.0.1.20:4840',
      security: { mode: 'SignAndEncrypt', policy: 'Basic256Sha256' },
      auth: { username: 'edge', password_file: '/etc/plantgate/press-1.pass' },
      signals: [
        {
          name: 'lyon.press1.hydraulic_pressure',
          node: 'ns=3;s=Press1.Hydraulic.Pressure',
          unit: '[psi]',
          canonical_unit: 'bar',
        },
      ],
    });
    expect(cfg.publishing_interval).toBe(1000);
    const d = opcua.declarations(cfg);
    expect(d.exact).toEqual([
      { name: 'lyon.press1.hydraulic_pressure', unit: '[psi]', canonical_unit: 'bar' },
    ]);
    // Subscriptions report changes only: no sample-based stall interval (keep-alives judge liveness).
    expect(d.expected_interval_ms).toBeUndefined();
    const polled = parse({
      endpoint: 'opc.tcp://10.0.1.20:4840',
      mode: 'poll',
      poll_interval: '2s',
      signals: [{ name: 'lyon.press1.oil_temp', node: 'ns=3;s=Press1.Oil.Temperature' }],
    });
    expect(opcua.declarations(polled).expected_interval_ms).toBe(2000);
  });

  it('accepts every source of sample.yaml', () => {
    const doc = parseYaml(readFileSync(new URL('./sample.yaml', import.meta.url), 'utf8')) as {
      sources: unknown[];
    };
    expect(doc.sources).toHaveLength(2);
    for (const src of doc.sources) {
      const r = opcuaSourceSchema.safeParse(src);
      expect(r.error?.issues ?? []).toEqual([]);
      if (r.success) expect(opcua.check?.(r.data)).toEqual([]);
    }
  });

  it('rejects wrong shapes with sentences that say what to write', () => {
    const bad = opcuaSourceSchema.safeParse({
      id: 'p',
      type: 'opcua',
      endpoint: 'http://x',
      security: { mode: 'None', policy: 'Basic256Sha256' },
      auth: { username: 'edge' },
      signals: [{ name: 'a.b', node: 'Press1.Pressure' }, { name: 'a.c' }],
    });
    expect(bad.success).toBe(false);
    const text = bad.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n') ?? '';
    expect(text).toMatch(/endpoint: expected an endpoint URL/);
    expect(text).toMatch(/security.policy: policy Basic256Sha256 needs mode Sign or SignAndEncrypt/);
    expect(text).toMatch(/auth.username: username needs password_env or password_file/);
    expect(text).toMatch(/signals.0.node: expected a NodeId/);
    expect(text).toMatch(/signals.1.node: give the address of the variable/);
    const dup = parse({
      endpoint: 'opc.tcp://h:4840',
      signals: [
        { name: 'a.b', node: 'ns=1;s=X' },
        { name: 'a.c', node: 'ns=1;s=X' },
      ],
    });
    expect(opcua.check?.(dup)[0]?.message).toMatch(/reads the same variable as signals\[0\]/);
  });
});

describe('opcua adapter against the simulator', () => {
  let sim: OpcuaSim;
  beforeAll(async () => {
    sim = await startOpcuaSim({ tickMs: 0, users: [{ username: 'edge', password: 's3cret' }] });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('delivers every plant type with source timestamps and status codes', async () => {
    const t0 = new Date('2026-11-27T10:00:00.123Z');
    sim.setValue('Press1.Hydraulic.Pressure', 1523.25, { sourceTimestamp: t0 });
    sim.setValue('Press1.Oil.Temperature', 47.5, { sourceTimestamp: t0 });
    sim.setValue('Press1.PartCount', 4_000_000_000, { sourceTimestamp: t0 });
    sim.setValue('Press1.State', 2, {
      sourceTimestamp: t0,
      serverTimestamp: new Date('2026-11-27T10:00:01.456Z'),
    });
    sim.setValue('Press1.LotId', 'LOT-0042', { sourceTimestamp: t0 });
    sim.setValue('Press1.Running', false, { sourceTimestamp: t0 });
    sim.setValue('Press1.LastCycle', new Date('2026-11-27T09:59:58.5Z'), { sourceTimestamp: t0 });
    sim.setValue('Press1.Vibration', [1.5, 2.5, 3.5], { sourceTimestamp: t0 });
    const cfg = parse({
      endpoint: sim.endpoint,
      publishing_interval: '100ms',
      signals: [
        {
          name: 'lyon.press1.hydraulic_pressure',
          node: 'ns=1;s=Press1.Hydraulic.Pressure',
          deadband: { type: 'absolute', value: 0.5 },
        },
        { name: 'lyon.press1.oil_temp', browse_path: 'Objects/1:Press1/1:Oil/1:Temperature' },
        { name: 'lyon.press1.part_count', node: 'ns=1;s=Press1.PartCount', queue_size: 10 },
        { name: 'lyon.press1.state', node: 'ns=1;s=Press1.State' },
        { name: 'lyon.press1.lot_id', node: 'ns=1;s=Press1.LotId' },
        { name: 'lyon.press1.running', node: 'ns=1;s=Press1.Running' },
        { name: 'lyon.press1.last_cycle', node: 'ns=1;s=Press1.LastCycle' },
        { name: 'lyon.press1.vibration_y', node: 'ns=1;s=Press1.Vibration', index: 1 },
        { name: 'lyon.press1.state_server_ts', node: 'ns=1;s=Press1.State', timestamp: 'server' },
      ],
    });
    const { c, adapter } = await run(cfg);
    await waitFor(() => c.latest.size === 9, 'the first value of all nine signals');
    const v = (s: string) => c.latest.get(`lyon.press1.${s}`);
    expect(v('hydraulic_pressure')).toMatchObject({
      value: 1523.25,
      status: 'good',
      address: 'ns=1;s=Press1.Hydraulic.Pressure',
    });
    expect(v('oil_temp')).toMatchObject({ value: 47.5, address: 'ns=1;s=Press1.Oil.Temperature' });
    expect(v('part_count')?.value).toBe(4_000_000_000);
    expect(v('state')?.value).toBe(2);
    expect(v('lot_id')?.value).toBe('LOT-0042');
    expect(v('running')?.value).toBe(false);
    expect(v('last_cycle')?.value).toBe('2026-11-27T09:59:58.500Z');
    expect(v('vibration_y')?.value).toBe(2.5);
    for (const s of ['hydraulic_pressure', 'oil_temp', 'state', 'lot_id']) {
      expect((v(s)?.ts as Date | undefined)?.toISOString(), s).toBe('2026-11-27T10:00:00.123Z');
    }
    // timestamp: server takes the server's clock instead of the PLC's.
    expect((v('state_server_ts')?.ts as Date | undefined)?.toISOString()).toBe('2026-11-27T10:00:01.456Z');

    // A change below the absolute deadband is not reported; one above is, with its uncertain status.
    const before = c.samples.filter((s) => s.signal === 'lyon.press1.hydraulic_pressure').length;
    sim.setValue('Press1.Hydraulic.Pressure', 1523.5);
    sim.setValue('Press1.Oil.Temperature', 48, { status: 0x40900000 /* UncertainLastUsableValue */ });
    await waitFor(() => c.latest.get('lyon.press1.oil_temp')?.value === 48, 'the uncertain temperature');
    expect(c.samples.filter((s) => s.signal === 'lyon.press1.hydraulic_pressure').length).toBe(before);
    const unc = c.latest.get('lyon.press1.oil_temp');
    expect(unc?.status).toBe('uncertain');
    sim.setValue('Press1.Hydraulic.Pressure', 1600);
    await waitFor(
      () => c.latest.get('lyon.press1.hydraulic_pressure')?.value === 1600,
      'a change above the deadband',
    );

    const h = adapter.health();
    expect(h.state).toBe('connected');
    expect(h.counters?.monitored_items).toBe(9);
    expect(h.last_sample_at).toBeGreaterThan(Date.now() - 10_000);
    expect(h.detail).toMatch(/connected to opc\.tcp:\/\/127\.0\.0\.1:\d+ for \d+ s with 9 monitored items/);
  });

  it('reports an array variable without index and an unknown node as problems, in words', async () => {
    const cfg = parse({
      endpoint: sim.endpoint,
      publishing_interval: '100ms',
      signals: [
        { name: 'lyon.press1.vibration', node: 'ns=1;s=Press1.Vibration' },
        { name: 'lyon.press1.missing', node: 'ns=1;s=Press1.DoesNotExist' },
        { name: 'lyon.press1.running', node: 'ns=1;s=Press1.Running' },
      ],
    });
    const { c, adapter } = await run(cfg);
    await waitFor(
      () => c.latest.has('lyon.press1.vibration') && adapter.health().counters?.problems === 2,
      'two problems',
    );
    const h = adapter.health();
    expect(h.state).toBe('connected');
    expect(h.counters?.failed_items).toBe(1);
    expect(h.detail).toMatch(
      /Press1.Vibration of signal lyon.press1.vibration .* is an array of 3 elements; add "index: <n>"/,
    );
    expect(h.detail).toMatch(
      /signal lyon.press1.missing is never read: node ns=1;s=Press1.DoesNotExist cannot be monitored .*BadNodeIdUnknown/,
    );
    // The array still reaches the pipeline, which quarantines it with the raw value kept.
    expect(c.latest.get('lyon.press1.vibration')?.value).toEqual([1.5, 2.5, 3.5]);
  });

  it('polls when mode is poll', async () => {
    sim.setValue('Packer3.GoodCount', 17);
    const cfg = parse({
      endpoint: sim.endpoint,
      mode: 'poll',
      poll_interval: '100ms',
      signals: [
        { name: 'lyon.packer3.good_count', node: 'ns=1;s=Packer3.GoodCount' },
        { name: 'lyon.packer3.state', browse_path: 'Objects/1:Packer3/1:State' },
      ],
    });
    const { c, adapter } = await run(cfg);
    await waitFor(() => c.latest.get('lyon.packer3.good_count')?.value === 17, 'the polled count');
    sim.setValue('Packer3.GoodCount', 18);
    await waitFor(() => c.latest.get('lyon.packer3.good_count')?.value === 18, 'the next polled count');
    expect(c.latest.get('lyon.packer3.state')?.address).toBe('ns=1;s=Packer3.State');
    expect(adapter.health().counters?.reads).toBeGreaterThanOrEqual(2);
  });
});

describe('opcua security', () => {
  let sim: OpcuaSim;
  beforeAll(async () => {
    sim = await startOpcuaSim({
      tickMs: 100,
      securityModes: ['SignAndEncrypt', 'Sign'],
      allowAnonymous: false,
      users: [{ username: 'edge', password: 's3cret' }],
    });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('connects with SignAndEncrypt and a username, keeping its own certificate across restarts', async () => {
    const env = tempEnv();
    const trusted = join(env.stateDir, 'pki', 'trusted', 'certs');
    mkdirSync(trusted, { recursive: true });
    copyFileSync(sim.certificateFile, join(trusted, 'sim.pem'));
    for (const policy of ['Aes256_Sha256_RsaPss', 'Basic256Sha256'] as const) {
      const cfg = parse({
        endpoint: sim.endpoint,
        publishing_interval: '100ms',
        security: { mode: 'SignAndEncrypt', policy },
        auth: { username: 'edge', password_env: 'UNUSED_BECAUSE_RESOLVED' },
        signals: [{ name: 'lyon.press1.hydraulic_pressure', node: 'ns=1;s=Press1.Hydraulic.Pressure' }],
      });
      // What the config loader hands over after resolving password_env.
      (cfg.auth as { password?: Secret }).password = new Secret('s3cret', 'env:PRESS1_PASSWORD');
      const c = collector();
      const adapter = new OpcuaAdapter(cfg, env);
      await adapter.start(c.ctx);
      try {
        await waitFor(() => c.samples.length >= 3, `data over SignAndEncrypt ${policy}`);
        expect(adapter.health().state).toBe('connected');
      } finally {
        await adapter.stop();
      }
    }
    const own = join(env.stateDir, 'pki', 'own', 'certs', 'client_certificate.pem');
    expect(existsSync(own)).toBe(true);
    const first = readFileSync(own, 'utf8');
    // A third start (same state dir) reuses the certificate instead of making a new one.
    const c = collector();
    const cfg = parse({
      endpoint: sim.endpoint,
      security: { mode: 'Sign', policy: 'Aes128_Sha256_RsaOaep' },
      auth: { username: 'edge', password_env: 'PG_OPCUA_TEST_PW' },
      publishing_interval: '100ms',
      signals: [{ name: 'lyon.press1.part_count', node: 'ns=1;s=Press1.PartCount' }],
    });
    // The config loader resolves password_env (the one place secrets are read); the adapter gets the value.
    const secrets = { PG_OPCUA_TEST_PW: 's3cret' };
    expect(await resolveReferences(cfg, { env: secrets, baseDir: process.cwd() })).toEqual([]);
    const adapter = new OpcuaAdapter(cfg, env);
    await adapter.start(c.ctx);
    cleanups.push(async () => {
      await adapter.stop();
      env.cleanup();
    });
    await waitFor(() => c.samples.length >= 1, 'data over Sign with the password from the environment');
    expect(readFileSync(own, 'utf8')).toBe(first);
  });

  it('authenticates with an X.509 user certificate', async () => {
    const env = tempEnv();
    mkdirSync(join(env.stateDir, 'pki', 'trusted', 'certs'), { recursive: true });
    copyFileSync(sim.certificateFile, join(env.stateDir, 'pki', 'trusted', 'certs', 'sim.pem'));
    const userPki = join(env.stateDir, 'user-pki');
    const ucm = new OPCUACertificateManager({ rootFolder: userPki });
    await ucm.initialize();
    const certFile = join(userPki, 'own', 'certs', 'edge-user.pem');
    await ucm.createSelfSignedCertificate({
      applicationUri: 'urn:plantgate:test:edge-user',
      subject: '/CN=edge-user',
      dns: [],
      outputFile: certFile,
      startDate: new Date(),
      validity: 30,
    });
    await ucm.dispose();
    const cfg = parse({
      endpoint: sim.endpoint,
      publishing_interval: '100ms',
      security: { mode: 'SignAndEncrypt', policy: 'Aes128_Sha256_RsaOaep' },
      auth: { cert_file: certFile, key_file: join(userPki, 'own', 'private', 'private_key.pem') },
      signals: [{ name: 'lyon.press1.part_count', node: 'ns=1;s=Press1.PartCount' }],
    });
    const { c, adapter } = await run(cfg, env);
    await waitFor(() => c.samples.length > 0, 'data with the X.509 user', 20_000);
    expect(adapter.health().state).toBe('connected');
  });

  it('refuses a wrong password with a sentence naming the user', async () => {
    const env = tempEnv();
    mkdirSync(join(env.stateDir, 'pki', 'trusted', 'certs'), { recursive: true });
    copyFileSync(sim.certificateFile, join(env.stateDir, 'pki', 'trusted', 'certs', 'sim.pem'));
    const cfg = parse({
      endpoint: sim.endpoint,
      security: { mode: 'SignAndEncrypt' },
      auth: { username: 'edge', password_env: 'X' },
      reconnect: { initial: '100ms', max: '200ms' },
      signals: [{ name: 'lyon.press1.part_count', node: 'ns=1;s=Press1.PartCount' }],
    });
    (cfg.auth as { password?: string }).password = 'wrong';
    const { adapter } = await run(cfg, env);
    await waitFor(() => adapter.health().last_error, 'the refusal');
    expect(adapter.health().last_error).toMatch(/refused the user identity \(user "edge"\)/);
    expect(adapter.health().state).not.toBe('connected');
  });

  it('refuses an unknown server certificate, says how to trust it, and connects once trusted', async () => {
    const cfg = parse({
      id: 'press-9',
      endpoint: sim.endpoint,
      publishing_interval: '100ms',
      security: { mode: 'SignAndEncrypt', policy: 'Basic256Sha256' },
      auth: { username: 'edge', password_env: 'X' },
      reconnect: { initial: '100ms', max: '300ms' },
      signals: [{ name: 'lyon.press1.hydraulic_pressure', node: 'ns=1;s=Press1.Hydraulic.Pressure' }],
    });
    (cfg.auth as { password?: string }).password = 's3cret';
    const { c, adapter, env } = await run(cfg);
    await waitFor(() => adapter.health().state === 'down', 'the source to be down');
    const h = adapter.health();
    const pki = join(env.stateDir, 'pki');
    const m =
      /server certificate ([0-9a-f]{40}) of (\S+) is not trusted; move it from (\S+) to (\S+) \(or run `plantgate opcua trust press-9`\)/.exec(
        h.last_error ?? '',
      );
    expect(m, h.last_error).not.toBeNull();
    expect(m?.[2]).toBe(sim.endpoint);
    expect(m?.[3]).toBe(join(pki, 'rejected'));
    expect(m?.[4]).toBe(join(pki, 'trusted', 'certs'));
    expect(readdirSync(join(pki, 'rejected')).some((f) => f.includes(m?.[1] as string))).toBe(true);
    expect(c.samples).toHaveLength(0);

    expect(trustServerCertificate(env.stateDir)).toEqual([m?.[1]]);
    await waitFor(() => c.samples.length > 0, 'data after trusting the certificate');
    expect(adapter.health().state).toBe('connected');
  });
});

/** Runs collected samples through the real pipeline with the source's own declarations. */
function pipelineOf(cfg: OpcuaSourceConfig): Pipeline {
  const specs = new SpecRegistry([
    { source: { id: cfg.id, type: 'opcua' }, declarations: opcua.declarations(cfg) },
  ]);
  return new Pipeline({ gatewayId: 'test-gw', timezone: 'UTC', maxFutureSkewMs: 3_600_000, specs });
}

describe('opcua types from the server', () => {
  let sim: OpcuaSim;
  beforeAll(async () => {
    sim = await startOpcuaSim({ tickMs: 0 });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('reads every built-in type with no value_type in the YAML, 64-bit integers exact on both sides of 2^53', async () => {
    const names = [
      'Boolean',
      'SByte',
      'Byte',
      'Int16',
      'UInt16',
      'Int32',
      'UInt32',
      'Int64',
      'Int64Big',
      'UInt64',
      'UInt64Big',
      'Float',
      'Double',
      'String',
      'DateTime',
      'LocalizedText',
    ];
    const cfg = parse({
      endpoint: sim.endpoint,
      publishing_interval: '100ms',
      signals: [
        ...names.map((n) => ({ name: `lab.types.${n.toLowerCase()}`, node: `ns=1;s=Types.${n}` })),
        { name: 'lab.types.double_1', node: 'ns=1;s=Types.DoubleArray', index: 1 },
        { name: 'lab.types.int32_3', browse_path: 'Objects/1:Types/1:Int32Array', index: 3 },
      ],
    });
    const { c, adapter } = await run(cfg);
    await waitFor(() => c.latest.size === names.length + 2, 'a value of every type');
    const { records, rejects } = pipelineOf(cfg).process(
      { id: cfg.id, type: 'opcua' },
      [...c.latest.values()],
      Date.now(),
    );
    expect(rejects.map((r) => `${r.sample.signal}: ${r.reason} ${r.detail}`)).toEqual([]);
    const got = Object.fromEntries(records.map((r) => [r.signal.slice('lab.types.'.length), r.value]));
    expect(got).toEqual({
      boolean: true,
      sbyte: -100,
      byte: 200,
      int16: -30000,
      uint16: 60000,
      int32: -2000000000,
      uint32: 4000000000,
      int64: -9007199254740991,
      int64big: '-9007199254740993',
      uint64: 9007199254740991,
      uint64big: '18446744073709551615',
      // Float is the exact 32-bit value.
      float: 47.29999923706055,
      double: 1523.25,
      string: 'LOT-0042',
      datetime: '2026-11-27T09:59:58.500Z',
      localizedtext: 'Betrieb',
      double_1: 2.5,
      int32_3: 40,
    });
    const big = records.filter((r) => r.value_type === 'integer').map((r) => r.signal);
    expect(big.sort()).toEqual(['lab.types.int64big', 'lab.types.uint64big']);
    // Both sides of 2^53 on the same variable.
    sim.setValue('Types.UInt64', 2n ** 53n);
    await waitFor(() => c.latest.get('lab.types.uint64')?.value === 2n ** 53n, 'UInt64 2^53');
    const after = pipelineOf(cfg).process(
      { id: cfg.id, type: 'opcua' },
      [c.latest.get('lab.types.uint64')!],
      Date.now(),
    );
    expect(after.records[0]).toMatchObject({ value: '9007199254740992', value_type: 'integer' });
    expect(adapter.health().problems).toBeUndefined();
  });

  it('says so on /status when a value_type or a numeric rule contradicts the server type, naming the signal', async () => {
    const cfg = parse({
      endpoint: sim.endpoint,
      publishing_interval: '100ms',
      signals: [
        { name: 'lab.types.string_as_int', node: 'ns=1;s=Types.String', value_type: 'integer' },
        { name: 'lab.types.bool_ranged', node: 'ns=1;s=Types.Boolean', range: [0, 1] },
        { name: 'lab.types.double_ok', node: 'ns=1;s=Types.Double', value_type: 'number' },
        { name: 'lab.types.int_scalar_index', node: 'ns=1;s=Types.Int32', index: 0 },
      ],
    });
    const { c, adapter } = await run(cfg);
    await waitFor(() => adapter.health().problems?.length === 3, 'three type problems');
    const h = adapter.health();
    expect(h.state).toBe('connected');
    expect(h.problems?.join('\n')).toMatch(
      /signal lab\.types\.string_as_int declares value_type: integer but node ns=1;s=Types\.String .* has DataType String \(string\)/,
    );
    expect(h.problems?.join('\n')).toMatch(
      /signal lab\.types\.bool_ranged has range, which apply to numbers, but node ns=1;s=Types\.Boolean .* has DataType Boolean/,
    );
    expect(h.problems?.join('\n')).toMatch(
      /signal lab\.types\.int_scalar_index has index: 0 but .* is not an array/,
    );
    const verdict = judge(
      Date.now(),
      RULES,
      [{ id: cfg.id, type: 'opcua', health: h, startedAt: Date.now() }],
      [],
      EMPTY_JOURNAL,
      { ready: true },
    );
    expect(verdict.status).toBe('degraded');
    expect(verdict.reasons.filter((r) => r.startsWith('source press-1: signal lab.types.'))).toHaveLength(3);
    // The explicit value_type still wins: the String is quarantined as unparseable, not read as a string.
    await waitFor(() => c.latest.has('lab.types.string_as_int'), 'the string value');
    const { rejects } = pipelineOf(cfg).process(
      { id: cfg.id, type: 'opcua' },
      [c.latest.get('lab.types.string_as_int')!],
      Date.now(),
    );
    expect(rejects[0]?.reason).toBe('unparseable');
  });
});

const RULES = { stallAfterIntervals: 5, backlogDegradedAfterMs: 60_000, backlogFailingAfterMs: 600_000 };
const EMPTY_JOURNAL = {
  records: 0,
  bytes: 0,
  first_seq: 0,
  last_seq: 0,
  blocked: false,
  sinks: {},
  quarantine: { total: 0, by_reason: {} },
  dead_letters: { batches: 0, records: 0 },
} as unknown as Parameters<typeof judge>[4];

describe('opcua signals that never resolve', () => {
  let sim: OpcuaSim;
  beforeAll(async () => {
    sim = await startOpcuaSim({ tickMs: 0 });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  for (const mode of ['subscribe', 'poll'] as const) {
    it(`degrades the source with the signals named (${mode}), and says ok when every signal resolves`, async () => {
      const raw = {
        endpoint: sim.endpoint,
        mode,
        ...(mode === 'poll' ? { poll_interval: '100ms' } : { publishing_interval: '100ms' }),
        reconnect: { initial: '100ms', max: '200ms' },
      };
      const cfg = parse({
        ...raw,
        signals: [
          { name: 'lab.line.press_pressure', browse_path: 'Objects/1:Line/1:Press/1:Pressure' },
          { name: 'lab.line.typo', browse_path: 'Objects/1:Line/1:Pres/1:Pressure' },
          { name: 'lab.line.gone', node: 'ns=1;i=4242' },
        ],
      });
      const { c, adapter } = await run(cfg);
      await waitFor(
        () => adapter.health().unresolved_signals?.length === 2 && c.latest.has('lab.line.press_pressure'),
        'two unresolved signals and the good one flowing',
      );
      const h = adapter.health();
      expect(h.state).toBe('connected');
      expect(h.unresolved_signals).toEqual(['lab.line.gone', 'lab.line.typo']);
      expect(h.counters?.unresolved_signals).toBe(2);
      const verdict = judge(
        Date.now(),
        RULES,
        [{ id: cfg.id, type: 'opcua', health: h, startedAt: Date.now() }],
        [],
        EMPTY_JOURNAL,
        { ready: true },
      );
      expect(verdict.status).toBe('degraded');
      expect(verdict.reasons.join('\n')).toMatch(
        /source press-1: signal lab\.line\.typo is never read: browse_path "Objects\/1:Line\/1:Pres\/1:Pressure" does not resolve/,
      );
      expect(verdict.reasons.join('\n')).toMatch(
        /source press-1: signal lab\.line\.gone is never read: node ns=1;i=4242/,
      );

      // After a lost session the problems are found again, not forgotten.
      const connects = adapter.health().counters?.connects ?? 0;
      sim.dropSessions();
      await waitFor(() => (adapter.health().counters?.connects ?? 0) > connects, 'a new connection');
      expect(adapter.health().unresolved_signals).toEqual(['lab.line.gone', 'lab.line.typo']);

      // The same source with only resolvable signals is ok.
      const good = parse({
        ...raw,
        id: 'press-2',
        signals: [{ name: 'lab.line.press_pressure', browse_path: 'Objects/1:Line/1:Press/1:Pressure' }],
      });
      const r2 = await run(good);
      await waitFor(() => r2.c.latest.has('lab.line.press_pressure'), 'the good signal');
      const okVerdict = judge(
        Date.now(),
        RULES,
        [{ id: good.id, type: 'opcua', health: r2.adapter.health(), startedAt: Date.now() }],
        [],
        EMPTY_JOURNAL,
        { ready: true },
      );
      expect(okVerdict).toEqual({ status: 'ok', reasons: [] });
    });
  }
});

describe('opcua signals that resolve later', () => {
  let sim: OpcuaSim;
  beforeAll(async () => {
    sim = await startOpcuaSim({ tickMs: 0 });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  for (const mode of ['subscribe', 'poll'] as const) {
    it(`finds nodes a PLC download added and is ok again (${mode})`, async () => {
      const cfg = parse({
        id: `later-${mode}`,
        endpoint: sim.endpoint,
        mode,
        ...(mode === 'poll' ? { poll_interval: '100ms' } : { publishing_interval: '100ms' }),
        reconnect: { initial: '100ms', max: '300ms' },
        signals: [
          { name: 'lab.later.speed', node: 'ns=1;s=Press1.Hydraulic.Pressure' },
          { name: 'lab.later.by_path', browse_path: `Objects/1:Later${mode}/1:Value` },
          { name: 'lab.later.by_node', node: `ns=1;s=Later${mode}2.Value` },
        ],
      });
      const { c, adapter } = await run(cfg);
      await waitFor(() => adapter.health().unresolved_signals?.length === 2, 'two unresolved signals');
      sim.addVariable(`Later${mode}.Value`, DataType.Double, 7.5);
      sim.addVariable(`Later${mode}2.Value`, DataType.Int32, 42);
      await waitFor(
        () =>
          adapter.health().unresolved_signals === undefined &&
          c.latest.get('lab.later.by_path')?.value === 7.5 &&
          c.latest.get('lab.later.by_node')?.value === 42,
        'both signals read after the download',
      );
      expect(adapter.health().problems).toBeUndefined();
      expect(adapter.health().state).toBe('connected');
    });
  }
});

describe('opcua server refusing the gateway certificate', () => {
  let sim: OpcuaSim;
  beforeAll(async () => {
    sim = await startOpcuaSim({ tickMs: 100, rejectUnknownClients: true, securityModes: ['SignAndEncrypt'] });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  function secured(endpoint: string): OpcuaSourceConfig {
    return parse({
      endpoint,
      publishing_interval: '100ms',
      security: { mode: 'SignAndEncrypt', policy: 'Basic256Sha256' },
      reconnect: { initial: '100ms', max: '300ms' },
      signals: [{ name: 'lyon.press1.hydraulic_pressure', node: 'ns=1;s=Press1.Hydraulic.Pressure' }],
    });
  }

  function trustSim(env: { stateDir: string }): void {
    mkdirSync(join(env.stateDir, 'pki', 'trusted', 'certs'), { recursive: true });
    copyFileSync(sim.certificateFile, join(env.stateDir, 'pki', 'trusted', 'certs', 'sim.pem'));
  }

  it('says the server refused plantgate certificate and where the certificate is; connects once trusted', async () => {
    const env = tempEnv();
    trustSim(env);
    const { c, adapter } = await run(secured(sim.endpoint), env);
    const own = join(env.stateDir, 'pki', 'own', 'certs', 'client_certificate.pem');
    await waitFor(() => adapter.health().last_error, 'the refusal');
    expect(adapter.health().last_error).toContain(
      `refused plantgate's certificate; add ${own} to the server's trusted certificates`,
    );
    expect(adapter.health().last_error).not.toMatch(/disconnected by third party/);
    await sim.trustClient(own);
    await waitFor(() => c.samples.length > 0, 'data once the server trusts the gateway');
    expect(adapter.health().state).toBe('connected');
  });

  it('says the same when the server just closes the socket during OpenSecureChannel', async () => {
    const proxy = await closingProxy(sim.port);
    cleanups.push(() => proxy.close());
    const env = tempEnv();
    trustSim(env);
    const { adapter } = await run(secured(`opc.tcp://127.0.0.1:${proxy.port}`), env);
    await waitFor(() => proxy.closed > 0 && adapter.health().last_error, 'the refusal');
    const own = join(env.stateDir, 'pki', 'own', 'certs', 'client_certificate.pem');
    expect(adapter.health().last_error).toContain(
      `refused plantgate's certificate; add ${own} to the server's trusted certificates (the server closed the connection while opening the secure channel`,
    );
  });
});

/**
 * A peer that behaves like servers which drop a client they do not trust without a word: a TCP proxy to the
 * simulator that closes both sockets as soon as the client sends a secured OpenSecureChannel (an OPN message
 * naming a security policy other than None, which carries the client certificate).
 */
async function closingProxy(
  target: number,
): Promise<{ port: number; closed: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const state = { closed: 0 };
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => {
      if (d.subarray(0, 3).toString('latin1') === 'OPN' && !d.includes('SecurityPolicy#None')) {
        state.closed += 1;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => client.write(d));
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get closed() {
      return state.closed;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
