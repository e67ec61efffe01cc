// The opcua adapter against the real OPC UA simulator: values, types, timestamps and status codes; browse paths;
// polled reads; SignAndEncrypt with a username; an untrusted server certificate refused with a clear message.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type OpcuaSim, startOpcuaSim } from '../../simulators/opcua/server.js';
import { Secret } from '../../src/config/primitives.js';
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

const SEVERITY_UNCERTAIN = 0x40000000;

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
      status: 0,
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
    expect(((unc?.status as number) & 0xc0000000) >>> 0).toBe(SEVERITY_UNCERTAIN);
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
      /Press1.DoesNotExist of signal lyon.press1.missing cannot be monitored .*BadNodeIdUnknown/,
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
    process.env.PG_OPCUA_TEST_PW = 's3cret';
    const adapter = new OpcuaAdapter(cfg, env);
    await adapter.start(c.ctx);
    cleanups.push(async () => {
      await adapter.stop();
      env.cleanup();
      delete process.env.PG_OPCUA_TEST_PW;
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
