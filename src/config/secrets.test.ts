// Secrets and paths: resolved at load from the environment or files, reported at their key when missing, and
// never visible: not in messages, not in JSON or util.inspect of the loaded config, not in command output.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfigCommand } from './commands.js';
import { Secret } from './kit/primitives.js';
import { formatIssue, loadConfig } from './load.js';
import { resolveReferences, resolveSecret, secretOf } from './secrets.js';
import { captureOutput, loadText, Scratch } from './test-support.js';

const SECRET = 'S3cr3t-V4lue-that-must-never-leak';

const CONFIG = (auth: string) => `gateway:
  id: test-gw
  site: test
  timezone: UTC
storage:
  dir: state
sources:
  - id: gen-1
    type: generator
    signals:
      - name: test.line1.temp
sinks:
  - id: central
    type: http
    url: https://127.0.0.1:9/batches
    auth: ${auth}
`;

const scratch = new Scratch();
beforeAll(() => scratch.open());
afterAll(() => scratch.close());

describe('resolveSecret', () => {
  it('reads an environment variable and a file (final newline dropped), relative to the base directory', async () => {
    await writeFile(`${scratch.dir}/pw`, `${SECRET}\r\n`);
    const env = await resolveSecret(
      { kind: 'env', name: 'TOK' },
      { env: { TOK: SECRET }, baseDir: scratch.dir },
    );
    const file = await resolveSecret({ kind: 'file', name: 'pw' }, { env: {}, baseDir: scratch.dir });
    expect(env.ok && env.secret.reveal()).toBe(SECRET);
    expect(file.ok && file.secret.reveal()).toBe(SECRET);
    expect(file.ok && file.secret.origin).toBe(`file:${scratch.dir}/pw`);
  });

  it('says what is wrong without the value', async () => {
    const ctx = { env: { EMPTY: '' }, baseDir: scratch.dir };
    await writeFile(`${scratch.dir}/empty`, '\n');
    const cases = await Promise.all([
      resolveSecret({ kind: 'env', name: 'EMPTY' }, ctx),
      resolveSecret({ kind: 'env', name: SECRET }, ctx),
      resolveSecret({ kind: 'file', name: 'empty' }, ctx),
    ]);
    expect(cases.map((c) => (c.ok ? 'ok' : c.message))).toEqual([
      'environment variable EMPTY is empty; set it in the service environment (systemd: Environment= or EnvironmentFile=)',
      'expected the name of an environment variable (letters, digits and "_", e.g. CENTRAL_TOKEN), not the secret itself',
      `secret file "${scratch.dir}/empty" is empty`,
    ]);
  });

  // Root reads any file whatever its mode, so a permission test means nothing there.
  it.skipIf(process.getuid?.() === 0)('reports a file the service user cannot read', async () => {
    await writeFile(`${scratch.dir}/locked`, SECRET);
    await chmod(`${scratch.dir}/locked`, 0o000);
    const res = await resolveSecret({ kind: 'file', name: 'locked' }, { env: {}, baseDir: scratch.dir });
    expect(res.ok ? 'ok' : res.message).toBe(
      `secret file "${scratch.dir}/locked" is not readable by this user (permission denied); make it readable by the service user (e.g. chown plantgate, chmod 0640)`,
    );
  });
});

describe('resolveReferences (the generic rule)', () => {
  it('resolves *_env/*_file in auth mappings and secret-like names elsewhere, next to the reference', async () => {
    await writeFile(`${scratch.dir}/api.key`, SECRET);
    const cfg = {
      auth: { api_key_file: 'api.key', username: 'edge' },
      password_env: 'MQTT_PW',
      tls: {},
      description_file: 'notes.txt',
    };
    const issues = await resolveReferences(cfg, { env: { MQTT_PW: SECRET }, baseDir: scratch.dir });
    expect(issues).toEqual([]);
    expect(secretOf(cfg.auth, 'api_key')?.reveal()).toBe(SECRET);
    expect(cfg.auth.api_key_file).toBe(`${scratch.dir}/api.key`);
    expect(secretOf(cfg, 'password')?.reveal()).toBe(SECRET);
    // Not a secret and not a listed file key: left as written (paths are an explicit list, not a suffix rule).
    expect(cfg.description_file).toBe('notes.txt');
    expect(secretOf(cfg, 'description')).toBeUndefined();
  });

  it('checks certificate files, makes paths absolute and leaves URLs alone', async () => {
    const cfg = {
      url: 'https://x/',
      pki_dir: 'pki',
      // An OPC UA browse path ends in _path but is no file: it must reach the adapter as written.
      signals: [{ browse_path: 'Objects/1:Line/1:Press' }],
      tls: { ca_file: 'ca.pem' },
      auth: { cert_file: '/nonexistent/user.pem', key_file: '/nonexistent/user.key' },
    };
    const issues = await resolveReferences(cfg, { env: {}, baseDir: scratch.dir }, ['sources', 2]);
    expect(cfg.url).toBe('https://x/');
    expect(cfg.pki_dir).toBe(`${scratch.dir}/pki`);
    expect(cfg.signals[0]?.browse_path).toBe('Objects/1:Line/1:Press');
    expect(issues).toEqual([
      {
        path: ['sources', 2, 'tls', 'ca_file'],
        message: `TLS file "${scratch.dir}/ca.pem" does not exist; create it or fix the path`,
      },
      {
        path: ['sources', 2, 'auth', 'cert_file'],
        message: 'certificate file "/nonexistent/user.pem" does not exist; create it or fix the path',
      },
      {
        path: ['sources', 2, 'auth', 'key_file'],
        message: 'certificate file "/nonexistent/user.key" does not exist; create it or fix the path',
      },
    ]);
    expect(secretOf(cfg.auth, 'cert')).toBeUndefined();
  });

  it('refuses two references to the same secret', async () => {
    const cfg = { auth: { token_env: 'A', token_file: 'b' } };
    const issues = await resolveReferences(cfg, { env: { A: SECRET }, baseDir: scratch.dir });
    expect(issues).toEqual([
      { path: ['auth', 'token_file'], message: 'give either token_env or token_file, not both' },
    ]);
  });
});

describe('secrets in a loaded config', () => {
  it('are resolved from a file next to the config', async () => {
    await mkdir(`${scratch.dir}/secrets`, { recursive: true });
    await writeFile(`${scratch.dir}/secrets/central.token`, `${SECRET}\n`);
    const { result } = await loadText(scratch, 'file.yaml', CONFIG('{ bearer_file: secrets/central.token }'));
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    expect(secretOf(result.config.sinks[0]?.auth, 'bearer')?.reveal()).toBe(SECRET);
  });

  it('never appear in JSON, util.inspect, messages or command output', async () => {
    const file = await scratch.write('env.yaml', CONFIG('{ bearer_env: PLANTGATE_TEST_SECRET }'));
    const res = await loadConfig(file, { env: { PLANTGATE_TEST_SECRET: SECRET } });
    if (!res.ok) throw new Error(res.issues.map(formatIssue).join('\n'));
    const bearer = secretOf(res.config.sinks[0]?.auth, 'bearer');
    expect(bearer).toBeInstanceOf(Secret);
    expect(bearer?.reveal()).toBe(SECRET);
    expect(JSON.stringify(res.config)).not.toContain(SECRET);
    expect(JSON.stringify(res.config)).toContain('"bearer":"[redacted]"');
    expect(inspect(res.config, { depth: 20 })).not.toContain(SECRET);
    expect(`${bearer}`).toBe('[redacted]');

    // A broken config with the secret set: issues of other keys must not carry it either.
    const broken = await scratch.write(
      'broken.yaml',
      CONFIG('{ bearer_env: PLANTGATE_TEST_SECRET }').replace('timezone: UTC', 'timezone: Mars/Olympus'),
    );
    const bad = await loadConfig(broken, { env: { PLANTGATE_TEST_SECRET: SECRET } });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(JSON.stringify(bad.issues)).not.toContain(SECRET);

    // The secret pasted where the variable name belongs is not echoed back.
    const pasted = await scratch.write('pasted.yaml', CONFIG(`{ bearer_env: "${SECRET}" }`));
    const previous = process.env.PLANTGATE_TEST_SECRET;
    process.env.PLANTGATE_TEST_SECRET = SECRET;
    try {
      for (const f of [file, broken, pasted]) {
        const out = await captureOutput(() => checkConfigCommand(f, {}));
        expect(out.stdout + out.stderr).not.toContain(SECRET);
      }
      const pastedOut = await captureOutput(() => checkConfigCommand(pasted, {}));
      expect(pastedOut.value).toBe(78);
      expect(pastedOut.stderr).toContain(
        'sinks.0.auth.bearer_env: expected the name of an environment variable (letters, digits and "_", e.g. CENTRAL_TOKEN), not the secret itself',
      );
    } finally {
      if (previous === undefined) delete process.env.PLANTGATE_TEST_SECRET;
      else process.env.PLANTGATE_TEST_SECRET = previous;
    }
  });
});

/**
 * The same secret rules for every component that takes a password or token: the loader is the one place they
 * are read, and the adapters and sinks only ever get its result.
 */
describe('one secret rule for every component, through loadConfig', () => {
  const HEAD = `gateway:
  id: test-gw
  site: test
  timezone: UTC
storage:
  dir: state
`;
  const GEN = `  - id: gen-1
    type: generator
    signals:
      - name: test.line1.temp
`;
  const SINK = (auth = '{ bearer_env: UNUSED_TOKEN }') => `sinks:
  - id: central
    type: http
    url: https://127.0.0.1:9/batches
    auth: ${auth}
`;
  // For each component: the YAML with REF standing for `password_env: X` or `password_file: X`, the key path of
  // the reference, and where the resolved secret lands in the loaded config.
  const components = [
    {
      name: 'opcua source',
      yaml: (ref: string) => `${HEAD}sources:
  - id: press-1
    type: opcua
    endpoint: opc.tcp://127.0.0.1:4840
    auth: { username: edge, ${ref} }
    signals:
      - name: test.press1.pressure
        node: ns=1;s=Press1.Pressure
${SINK()}`,
      key: 'sources.0.auth',
      secret: (c: PlantConfigLike) => secretOf(c.sources[0]?.auth, 'password'),
      kind: 'password',
    },
    {
      name: 'mqtt source',
      yaml: (ref: string) => `${HEAD}sources:
  - id: line-2
    type: mqtt
    url: mqtt://127.0.0.1:1883
    auth: { username: edge, ${ref} }
    subscriptions:
      - topic: lyon/line2/+/telemetry
        payload: json
        signal: "lyon.line2.{topic[2]}.{key}"
${SINK()}`,
      key: 'sources.0.auth',
      secret: (c: PlantConfigLike) => secretOf(c.sources[0]?.auth, 'password'),
      kind: 'password',
    },
    {
      name: 'http sink',
      yaml: (ref: string) => `${HEAD}sources:
${GEN}${SINK(`{ ${ref.replace('password', 'bearer')} }`)}`,
      key: 'sinks.0.auth',
      secret: (c: PlantConfigLike) => secretOf(c.sinks[0]?.auth, 'bearer'),
      kind: 'bearer',
    },
  ];
  type PlantConfigLike = { sources: Array<Record<string, unknown>>; sinks: Array<Record<string, unknown>> };

  const load = async (name: string, text: string, env: NodeJS.ProcessEnv = { UNUSED_TOKEN: 't' }) => {
    const { result, lines } = await loadText(scratch, name, text, env);
    return { result, lines, all: JSON.stringify(result) + lines.join('\n') };
  };

  it.each(components)('$name: an empty environment variable is refused, at its key', async (c) => {
    const { result, lines } = await load(`${c.kind}-empty.yaml`, c.yaml(`password_env: PG_EMPTY`), {
      PG_EMPTY: '',
      UNUSED_TOKEN: 't',
    });
    expect(result.ok).toBe(false);
    expect(lines.join('\n')).toContain(
      `${c.key}.${c.kind}_env: environment variable PG_EMPTY is empty; set it in the service environment`,
    );
  });

  it.each(components)('$name: the final newline of a file is dropped, and only that', async (c) => {
    await writeFile(`${scratch.dir}/${c.kind}.crlf`, `${SECRET}\r\n`);
    await writeFile(`${scratch.dir}/${c.kind}.lflf`, ` ${SECRET}\n\n`);
    for (const [file, want] of [
      [`${c.kind}.crlf`, SECRET],
      [`${c.kind}.lflf`, ` ${SECRET}`],
    ] as const) {
      const { result, lines } = await load(`${c.kind}-nl.yaml`, c.yaml(`password_file: ${file}`));
      if (!result.ok) throw new Error(lines.join('\n'));
      expect(c.secret(result.config as unknown as PlantConfigLike)?.reveal()).toBe(want);
    }
  });

  it.each(components)('$name: a secret file over 64 KiB is refused without being echoed', async (c) => {
    await writeFile(
      `${scratch.dir}/${c.kind}.big`,
      SECRET.repeat(Math.ceil((64 * 1024) / SECRET.length) + 1),
    );
    const { result, lines, all } = await load(`${c.kind}-big.yaml`, c.yaml(`password_file: ${c.kind}.big`));
    expect(result.ok).toBe(false);
    expect(lines.join('\n')).toMatch(
      new RegExp(
        `${c.key.replaceAll('.', '\\.')}\\.${c.kind}_file: secret file ".*/${c.kind}\\.big" is \\d+ bytes; a secret file holds only the secret`,
      ),
    );
    expect(all).not.toContain(SECRET);
  });

  it.each(components)(
    '$name: the secret is never echoed, resolved or pasted in place of a name',
    async (c) => {
      const ok = await load(`${c.kind}-ok.yaml`, c.yaml(`password_env: PG_SECRET`), {
        PG_SECRET: SECRET,
        UNUSED_TOKEN: 't',
      });
      if (!ok.result.ok) throw new Error(ok.lines.join('\n'));
      expect(c.secret(ok.result.config as unknown as PlantConfigLike)?.reveal()).toBe(SECRET);
      expect(ok.all).not.toContain(SECRET);
      expect(inspect(ok.result, { depth: 20 })).not.toContain(SECRET);

      const pasted = await load(`${c.kind}-pasted.yaml`, c.yaml(`password_env: "${SECRET}"`));
      expect(pasted.result.ok).toBe(false);
      expect(pasted.lines.join('\n')).toContain(
        `${c.key}.${c.kind}_env: expected the name of an environment variable`,
      );
      expect(pasted.all).not.toContain(SECRET);
    },
  );
});
