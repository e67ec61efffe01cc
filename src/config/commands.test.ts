// `check-config` and `schema` as the CLI runs them: exit codes, the one-line summary on stdout, every problem
// on its own line on stderr, the optional plan, and the JSON Schema text.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adapters } from '../../adapters/index.js';
import { buildJsonSchema, checkConfigCommand, schemaCommand } from './commands.js';
import { parseEnvFile } from './env-file.js';
import { captureOutput, Scratch } from './test-support.js';

const VALID = `gateway:
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
      - name: test.line1.count
        shape: counter
  - id: gen-2
    type: generator
    signals:
      - name: test.line2.temp
events:
  - type: production.count
    counter: test.line1.count
sinks:
  - id: central
    type: http
    url: http://127.0.0.1:9/batches
  - id: erp
    type: http
    url: http://127.0.0.1:9/erp
    select: { kinds: [event] }
`;

const scratch = new Scratch();
beforeAll(() => scratch.open());
afterAll(() => scratch.close());

describe('checkConfigCommand', () => {
  it('prints one summary line and returns 0 for a valid file', async () => {
    const file = await scratch.write('plant.yaml', VALID);
    const out = await captureOutput(() => checkConfigCommand(file, {}));
    expect(out.value).toBe(0);
    expect(out.stderr).toBe('');
    const [summary, fingerprint] = out.stdout.split('\n');
    expect(summary).toBe(`${file}: OK: 2 sources (generator 2), 3 signals, 1 event, 2 sinks`);
    // The fingerprint of the effective configuration: the one /status shows and every batch carries.
    expect(fingerprint).toMatch(/^fingerprint: sha256:[0-9a-f]{64}$/);
    expect(out.stdout.split('\n')).toHaveLength(3);
  });

  it('prints every problem on its own line on stderr and returns 78', async () => {
    const file = await scratch.write(
      'bad.yaml',
      VALID.replace('  timezone: UTC', '  timezone: Europe/Pari').replace(
        '      - name: test.line2.temp',
        '      - name: test.line1.temp',
      ),
    );
    const out = await captureOutput(() => checkConfigCommand(file, {}));
    expect(out.value).toBe(78);
    expect(out.stdout).toBe('');
    expect(out.stderr.split('\n')).toEqual([
      `${file}:4:13 gateway.timezone: unknown time zone "Europe/Pari"; did you mean "Europe/Paris"?`,
      `${file}:17:15 sources.1.signals.0.name: signal "test.line1.temp" is already declared by source "gen-1" (sources.0.signals.0, line 11); signal names must be unique across all sources`,
      `${file}: invalid: 2 problems; nothing was started.`,
      '',
    ]);
  });

  it('returns 78 for a file that does not exist', async () => {
    const out = await captureOutput(() => checkConfigCommand(`${scratch.dir}/missing.yaml`, {}));
    expect(out.value).toBe(78);
    expect(out.stderr).toContain(
      `${scratch.dir}/missing.yaml:1:1: cannot read the configuration file: the file does not exist`,
    );
  });

  describe('--plan', () => {
    const generator = adapters.find((a) => a.type === 'generator');
    afterEach(() => {
      if (generator) delete generator.describePlan;
    });

    it('prints the plan of a source whose adapter has one', async () => {
      if (!generator) throw new Error('the generator adapter must be registered');
      generator.describePlan = (cfg) =>
        `plan of ${cfg.id}: ${(cfg as { signals?: unknown[] }).signals?.length} signals`;
      const file = await scratch.write('plan.yaml', VALID);
      const out = await captureOutput(() => checkConfigCommand(file, { plan: 'gen-2' }));
      expect(out.value).toBe(0);
      expect(out.stdout.split('\n').slice(2)).toEqual(['plan of gen-2: 1 signals', '']);
    });

    it('is a usage error (2) for an unknown source or a source type without a plan', async () => {
      const file = await scratch.write('plan.yaml', VALID);
      const unknown = await captureOutput(() => checkConfigCommand(file, { plan: 'gen-9' }));
      expect(unknown.value).toBe(2);
      expect(unknown.stderr).toBe(`${file}: no source has the id "gen-9"; sources: gen-1, gen-2.\n`);
      const none = await captureOutput(() => checkConfigCommand(file, { plan: 'gen-1' }));
      expect(none.value).toBe(2);
      expect(none.stderr).toBe(
        `${file}: source "gen-1" is a generator source, which has no plan to print.\n`,
      );
    });
  });
});

describe('check-config on a workstation and as the service (issues 11.25, 18.8, 18.4)', () => {
  const WITH_SECRET = VALID.replace(
    '    url: http://127.0.0.1:9/batches\n',
    '    url: http://127.0.0.1:9/batches\n    auth: { bearer_env: PG_TEST_CENTRAL_TOKEN }\n',
  );

  it('--no-secrets checks everything else and says in the summary which secrets it did not check', async () => {
    const file = await scratch.write('secrets.yaml', WITH_SECRET);
    const strict = await captureOutput(() => checkConfigCommand(file, {}));
    expect(strict.value).toBe(78);
    expect(strict.stderr).toContain('environment variable PG_TEST_CENTRAL_TOKEN is not set');
    const out = await captureOutput(() => checkConfigCommand(file, { noSecrets: true }));
    expect(out.value).toBe(0);
    expect(out.stdout).toBe(
      `${file}: OK: 2 sources (generator 2), 3 signals, 1 event, 2 sinks; secrets not checked (--no-secrets): 1 reference (env:PG_TEST_CENTRAL_TOKEN)\n${out.stdout.split('\n')[1]}\n`,
    );
    // Secrets enter the fingerprint as references: the same with or without --no-secrets.
    const envFile = await scratch.write('fp.env', 'PG_TEST_CENTRAL_TOKEN=s3cr3t-value\n');
    const resolved = await captureOutput(() => checkConfigCommand(file, { envFile }));
    expect(resolved.value).toBe(0);
    expect(resolved.stdout.split('\n')[1]).toBe(out.stdout.split('\n')[1]);
    expect(resolved.stdout).not.toContain('s3cr3t');
    const broken = await scratch.write(
      'broken.yaml',
      WITH_SECRET.replace('  timezone: UTC', '  timezone: Mars'),
    );
    expect((await captureOutput(() => checkConfigCommand(broken, { noSecrets: true }))).value).toBe(78);
  });

  it('--env-file reads the service environment file as systemd does', async () => {
    const file = await scratch.write('secrets.yaml', WITH_SECRET);
    const env = await scratch.write(
      'plantgate.env',
      '# secrets\n; also a comment\n\nPG_TEST_CENTRAL_TOKEN="value with spaces"\n',
    );
    const out = await captureOutput(() => checkConfigCommand(file, { envFile: env }));
    expect(out.stderr).toBe('');
    expect(out.value).toBe(0);
    const missing = await captureOutput(() => checkConfigCommand(file, { envFile: `${env}.nope` }));
    expect(missing.value).toBe(78);
    expect(missing.stderr).toBe(`${env}.nope: cannot read the environment file: it does not exist\n`);
    const bad = await scratch.write('bad.env', 'export PG_TEST_CENTRAL_TOKEN=x\n');
    const badOut = await captureOutput(() => checkConfigCommand(file, { envFile: bad }));
    expect(badOut.value).toBe(78);
    expect(badOut.stderr).toContain(`${bad}:1: expected NAME=VALUE`);
    expect(badOut.stderr).not.toContain('=x');
  });

  it('prints warnings with their position, counts them in the summary, and still returns 0', async () => {
    const file = await scratch.write(
      'warn.yaml',
      VALID.replace('      - name: test.line2.temp', '      - name: test.line2.temp\n        unit: F'),
    );
    const out = await captureOutput(() => checkConfigCommand(file, {}));
    expect(out.value).toBe(0);
    expect(out.stderr).toBe(
      `${file}:18:15 sources.1.signals.0.unit: warning: "F" is the farad (capacitance) in UCUM; for degrees Fahrenheit write "[degF]"\n`,
    );
    expect(out.stdout).toMatch(
      new RegExp(
        `^${file}: OK: 2 sources \\(generator 2\\), 3 signals, 1 event, 2 sinks, 1 warning\nfingerprint: sha256:[0-9a-f]{64}\n$`,
      ),
    );
  });
});

describe('parseEnvFile', () => {
  it('reads KEY=VALUE lines, quotes, comments and continuations; names the line of a bad one', () => {
    expect(parseEnvFile('A=1\n# c\nB = "two words"\nC=\'x\'\nD=a\\\nb\n', 'f')).toEqual({
      ok: true,
      vars: { A: '1', B: 'two words', C: 'x', D: 'ab' },
    });
    expect(parseEnvFile('A=1\nnot a line\n', 'f')).toEqual({
      ok: false,
      message:
        'f:2: expected NAME=VALUE (a variable name of letters, digits and "_"); systemd would ignore this line',
    });
  });
});

describe('schemaCommand', () => {
  it('prints the JSON Schema with its id and title', async () => {
    const out = await captureOutput(() => schemaCommand());
    expect(out.value).toBe(0);
    const schema = JSON.parse(out.stdout) as Record<string, unknown>;
    expect(schema).toEqual(buildJsonSchema());
    expect(schema.$id).toBe('urn:plantgate:plant-config:v1');
    expect(schema.title).toBe('plantgate plant configuration');
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties as object)).toEqual([
      'gateway',
      'storage',
      'health',
      'admin',
      'sources',
      'events',
      'sinks',
    ]);
  });
});
