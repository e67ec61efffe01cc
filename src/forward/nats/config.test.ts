// The nats sink schema and its subject template: defaults, the mistakes it must catch with the exact message
// (golden), sample.yaml loading through the real config loader with its secrets and files, and how the resolved
// secrets become client options (a .creds file read as a secret file).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { formatIssue, loadConfig } from '../../config/load.js';
import { type NatsSinkConfig, natsSinkSchema } from './config.js';
import { connectPlan, reconnectDelay } from './connect.js';
import { nats } from './index.js';
import { natsSubjectIssue, renderSubject, subjectTemplateProblem } from './subject.js';

const base = {
  id: 'central',
  type: 'nats',
  servers: ['nats://nats1:4222'],
  subject: 'plant.{gateway}',
} as const;

function issues(input: unknown): string[] {
  const r = natsSinkSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const temp = mkdtempSync(join(tmpdir(), 'plantgate-nats-config-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe('natsSinkSchema', () => {
  it('fills the documented defaults (the common sink settings included)', () => {
    expect(natsSinkSchema.parse(base)).toEqual({
      ...base,
      select: {},
      batch: { max_records: 1000, max_bytes: 1024 * 1024, max_wait: 1000 },
      max_in_flight: 2,
      timeout: 10_000,
      retry: { initial: 500, max: 60_000 },
      reconnect: { initial: 500, max: 30_000 },
    });
  });

  it('reports each mistake at its key with what to write instead', () => {
    const golden: Array<[unknown, string[]]> = [
      [{ ...base, servers: [] }, ['servers: Too small: expected array to have >=1 items']],
      [
        { ...base, servers: ['http://nats1:4222'] },
        [
          'servers.0: expected a nats:// or tls:// URL with a host, e.g. "nats://nats1.central.example.com:4222"',
        ],
      ],
      [
        { ...base, servers: ['nats://edge:s3cr3t@nats1:4222'] },
        [
          'servers.0: put no credentials in the URL: use auth (username with password_env/password_file, token_env/token_file, creds_file or nkey_seed_file)',
        ],
      ],
      [
        { ...base, subject: 'plant.{plant}' },
        ['subject: unknown placeholder {plant} in the subject; use {gateway}, {site}, {sink}, {kind}'],
      ],
      [
        { ...base, subject: 'plant.>' },
        [
          'subject: wildcards ("*", ">") cannot be published to; write a concrete subject, e.g. "plant.{gateway}.{kind}"',
        ],
      ],
      [
        { ...base, subject: 'plant..{gateway}' },
        ['subject: empty token in the subject (a leading, trailing or doubled "."), e.g. "plant.{gateway}"'],
      ],
      [
        { ...base, subject: 'plant.{kind}' },
        [
          'subject: a subject with {kind} needs select.kinds with exactly one kind (one message per batch has one subject); use one sink per kind, e.g. select: { kinds: [reading] }',
        ],
      ],
      [
        { ...base, auth: { username: 'edge' } },
        [
          'auth.username: username needs password_env or password_file (plain passwords are not allowed in the YAML)',
        ],
      ],
      [
        { ...base, auth: { password: 'x', username: 'u' } },
        [
          'auth: Unrecognized key: "password"',
          'auth.username: username needs password_env or password_file (plain passwords are not allowed in the YAML)',
        ],
      ],
      [
        { ...base, auth: { token_env: 'T', creds_file: '/c.creds' } },
        ['auth: use one way to authenticate, not token and creds_file'],
      ],
      [
        { ...base, auth: {} },
        [
          'auth: auth needs username with password_env/password_file, token_env/token_file, creds_file or nkey_seed_file',
        ],
      ],
      [
        { ...base, tls: { cert_file: '/c.pem' } },
        ['tls.key_file: cert_file and key_file go together: give both for a client certificate, or neither'],
      ],
      [
        { ...base, stream: { name: 'PLANT.ALL' } },
        ['stream.name: expected a stream name without spaces, ".", "*", ">" or slashes, e.g. "PLANT"'],
      ],
      [
        { ...base, reconnect: { initial: '1m', max: '10s' } },
        ['reconnect.initial: reconnect.initial must not exceed reconnect.max'],
      ],
      [{ ...base, subjet: 'x' }, [': Unrecognized key: "subjet"']],
    ];
    for (const [input, expected] of golden) expect(issues(input), JSON.stringify(input)).toEqual(expected);
  });

  it('accepts {kind} with one selected kind, and every way to authenticate by reference', () => {
    expect(
      issues({ ...base, subject: 'plant.{site}.{gateway}.{kind}', select: { kinds: ['event'] } }),
    ).toEqual([]);
    for (const auth of [
      { username: 'edge', password_file: '/p' },
      { token_env: 'NATS_TOKEN' },
      { creds_file: '/etc/plantgate/edge.creds' },
      { nkey_seed_file: '/etc/plantgate/edge.nk' },
    ]) {
      expect(issues({ ...base, auth }), JSON.stringify(auth)).toEqual([]);
    }
  });

  it('describes the target for /status with servers and subject, no secret', () => {
    const c = natsSinkSchema.parse({
      ...base,
      servers: ['nats://a:4222', 'nats://b:4222'],
      auth: { token_env: 'T' },
    });
    expect(nats.describe(c)).toBe('nats://a:4222,nats://b:4222 subject plant.{gateway}');
  });
});

describe('subject template', () => {
  const values = { gateway: 'lyon-edge-01', site: 'lyon', sink: 'central', kind: 'reading' };

  it('renders every placeholder', () => {
    expect(renderSubject('plant.{site}.{gateway}.{sink}.{kind}', values)).toBe(
      'plant.lyon.lyon-edge-01.central.reading',
    );
    expect(renderSubject('fixed.subject', values)).toBe('fixed.subject');
  });

  it('refuses a value that is not one subject token, naming it', () => {
    expect(() => renderSubject('plant.{site}', { ...values, site: 'Lyon Nord' })).toThrow(
      '{site} is "Lyon Nord", which is not one NATS subject token (no ".", space, "*" or ">"); write that part of the subject literally',
    );
    expect(() => renderSubject('plant.{site}', { ...values, site: 'fr.lyon' })).toThrow(
      /not one NATS subject token/,
    );
  });

  it('checks a subject against the gateway section, for check-config', () => {
    const sink = { id: 'central', type: 'nats', subject: 'plant.{site}.{gateway}' };
    expect(natsSubjectIssue(sink, { id: 'lyon-edge-01', site: 'lyon' })).toBeUndefined();
    expect(natsSubjectIssue(sink, { id: 'lyon-edge-01', site: 'Lyon Nord' })).toEqual({
      path: ['subject'],
      message:
        '{site} is "Lyon Nord", which is not one NATS subject token (no ".", space, "*" or ">"); write that part of the subject literally',
    });
    expect(natsSubjectIssue({ id: 'x', type: 'http' }, { id: 'g', site: 'a b' })).toBeUndefined();
  });

  it('checks templates', () => {
    expect(subjectTemplateProblem('plant.{gateway}.{kind}')).toBeUndefined();
    expect(subjectTemplateProblem('plant.{gateway')).toMatch(/unbalanced/);
    expect(subjectTemplateProblem('plant. x')).toMatch(/whitespace/);
    expect(subjectTemplateProblem('plant.*')).toMatch(/wildcards/);
  });
});

describe('connection options', () => {
  it('backs off with the outage age, between initial and max', () => {
    expect(reconnectDelay(0, 500, 30_000)).toBeGreaterThanOrEqual(450);
    expect(reconnectDelay(0, 500, 30_000)).toBeLessThanOrEqual(550);
    expect(reconnectDelay(20_000, 500, 30_000)).toBeGreaterThanOrEqual(9000);
    expect(reconnectDelay(3_600_000, 500, 30_000)).toBeLessThanOrEqual(33_000);
  });

  it('refuses a reference the loader did not resolve, naming the key and not a value', () => {
    const c = natsSinkSchema.parse({ ...base, auth: { token_env: 'NATS_TOKEN' } });
    expect(() => connectPlan(c, 'x', () => 0)).toThrow(
      'Sink central: the secret named by auth.token_env was not resolved; sink configurations must come through the config loader.',
    );
  });
});

describe('sample.yaml through the config loader', () => {
  // A .creds file as `nsc generate creds` writes it (the JWT and seed are placeholders of the right shape).
  const creds = [
    '-----BEGIN NATS USER JWT-----',
    'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln',
    '------END NATS USER JWT------',
    '',
    '-----BEGIN USER NKEY SEED-----',
    'SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4',
    '------END USER NKEY SEED------',
    '',
  ].join('\n');

  it('loads cleanly, resolves the .creds file as a secret, and builds client options with TLS verified', async () => {
    const sample = parse(readFileSync(new URL('./sample.yaml', import.meta.url), 'utf8')) as {
      sinks: Array<Record<string, unknown>>;
    };
    writeFileSync(join(temp, 'central-nats.creds'), creds);
    writeFileSync(
      join(temp, 'central-ca.pem'),
      '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    );
    const sinks = sample.sinks.map((s) =>
      JSON.parse(
        JSON.stringify(s)
          .replaceAll('/etc/plantgate/central-nats.creds', 'central-nats.creds')
          .replaceAll('/etc/plantgate/central-ca.pem', 'central-ca.pem'),
      ),
    );
    const file = join(temp, 'plant.yaml');
    writeFileSync(
      file,
      stringify({
        gateway: { id: 'lyon-edge-01', site: 'lyon', timezone: 'Europe/Paris' },
        storage: { dir: './data' },
        sources: [
          {
            id: 'gen-1',
            type: 'generator',
            interval: '1s',
            signals: [{ name: 'lyon.line1.temp', shape: 'sine' }],
          },
        ],
        sinks,
      }),
    );
    const res = await loadConfig(file, { env: { NATS_PASSWORD: 'pw' } });
    expect(res.ok ? [] : res.issues.map(formatIssue)).toEqual([]);
    if (!res.ok) return;
    expect((res.warnings ?? []).map(formatIssue)).toEqual([]);
    const central = (res.config as unknown as { sinks: NatsSinkConfig[] }).sinks.find(
      (s) => s.id === 'central-nats',
    ) as NatsSinkConfig;
    const plan = connectPlan(central, 'plantgate-lyon-edge-01-central-nats', () => 0);
    expect(plan.insecure).toBe(false);
    expect(plan.options.authenticator).toBeTypeOf('function');
    expect(plan.options.servers).toEqual([
      'nats://nats1.central.example.com:4222',
      'nats://nats2.central.example.com:4222',
      'nats://nats3.central.example.com:4222',
    ]);
    expect((plan.options.tls as { ca?: string }).ca).toContain('BEGIN CERTIFICATE');
    // The secret never prints.
    expect(JSON.stringify(central.auth)).not.toContain('SUAIBDP');
  });

  it("check-config reports a site that cannot fill {site} at the sink's subject, not the daemon at start", async () => {
    const file = join(temp, 'site.yaml');
    writeFileSync(
      file,
      stringify({
        gateway: { id: 'lyon-edge-01', site: 'Lyon Nord', timezone: 'Europe/Paris' },
        storage: { dir: './data' },
        sources: [],
        sinks: [
          {
            id: 'central',
            type: 'nats',
            servers: ['nats://127.0.0.1:4222'],
            subject: 'plant.{site}.{gateway}',
          },
        ],
      }),
    );
    const res = await loadConfig(file, { env: {} });
    expect(res.ok).toBe(false);
    const lines = res.ok ? [] : res.issues.map(formatIssue);
    expect(lines.join('\n')).toMatch(/sinks\.0\.subject/);
    expect(lines.join('\n')).toContain('Lyon Nord');
  });
});
