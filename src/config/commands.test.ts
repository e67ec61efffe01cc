// `check-config` and `schema` as the CLI runs them: exit codes, the one-line summary on stdout, every problem
// on its own line on stderr, the optional plan, and the JSON Schema text.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adapters } from '../../adapters/index.js';
import { buildJsonSchema, checkConfigCommand, schemaCommand } from './commands.js';
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
    expect(out.stdout).toBe(`${file}: OK: 2 sources (generator 2), 3 signals, 1 event, 2 sinks\n`);
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
      expect(out.stdout.split('\n').slice(1)).toEqual(['plan of gen-2: 1 signals', '']);
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
