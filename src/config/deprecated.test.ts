// The old key names of issue 12's one vocabulary (OPC UA max_pending, Modbus backoff_initial/backoff_max, MQTT
// reconnect.min and top-level credentials) as an engineer meets them: each still loads to the same config as its
// new name, check-config warns once per use at the key with the name to write and exits 0, both names at once
// is a located error (78), the JSON Schema marks them deprecated, and no shipped example or sample uses them.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { adapters } from '../../adapters/index.js';
import { sinkKinds } from '../forward/registry.js';
import { checkConfigCommand } from './commands.js';
import { buildJsonSchema } from './json-schema.js';
import { deprecatedKeysOf, deprecatedKeyUses } from './kit/deprecated-keys.js';
import { formatIssue, type LoadResult, loadConfig } from './load.js';
import { sourceConfigSchema } from './schema.js';
import { captureOutput, loadText, Scratch } from './test-support.js';

const HEAD = `gateway:
  id: test-gw
  site: test
  timezone: UTC
storage:
  dir: state
sources:
`;

// Each source's extra lines start on line 11, column 5 (HEAD is 7 lines, then id, type and address).
const SOURCES: Record<string, (extra: string) => string> = {
  opcua: (extra) => `  - id: press-1
    type: opcua
    endpoint: opc.tcp://127.0.0.1:4840
    ${extra}
    signals:
      - name: test.press1.pressure
        node: ns=1;s=Press1.Pressure
`,
  modbus: (extra) => `  - id: packer-3
    type: modbus
    tcp: 127.0.0.1:502
    ${extra}
    unit_id: 1
    signals:
      - { name: test.packer3.count, register: holding:100, type: uint32 }
`,
  mqtt: (extra) => `  - id: line-2
    type: mqtt
    url: mqtt://127.0.0.1:1883
    ${extra}
    subscriptions:
      - topic: lyon/line2/+/telemetry
        signal: "lyon.line2.{topic[2]}.{key}"
`,
};

const ENV = { MQTT_PW: 'mqtt-secret-for-tests' };

interface AliasCase {
  name: string;
  type: keyof typeof SOURCES;
  /** Lines with the old names (joined with the source's indentation). */
  old: string[];
  /** The same settings with the new names. */
  new: string[];
  /** Exact warnings for `old` (file name `old.yaml`). */
  warnings: string[];
  /** Paths that must be absent from the parsed source: components see only the new names. */
  gone: string[][];
}

const W = 'the old name is accepted until the next release';
const cases: AliasCase[] = [
  {
    name: 'opcua max_pending',
    type: 'opcua',
    old: ['max_pending: 500'],
    new: ['max_in_flight: 500'],
    warnings: [`old.yaml:11:5 sources.0.max_pending: warning: deprecated, write max_in_flight (${W})`],
    gone: [['max_pending']],
  },
  {
    name: 'modbus backoff_initial and backoff_max',
    type: 'modbus',
    old: ['backoff_initial: 2s', 'backoff_max: 1m'],
    new: ['reconnect: { initial: 2s, max: 1m }'],
    warnings: [
      `old.yaml:11:5 sources.0.backoff_initial: warning: deprecated, write reconnect.initial (${W})`,
      `old.yaml:12:5 sources.0.backoff_max: warning: deprecated, write reconnect.max (${W})`,
    ],
    gone: [['backoff_initial'], ['backoff_max']],
  },
  {
    name: 'modbus backoff_max next to a reconnect mapping that lacks max',
    type: 'modbus',
    old: ['reconnect: { initial: 2s }', 'backoff_max: 1m'],
    new: ['reconnect: { initial: 2s, max: 1m }'],
    warnings: [`old.yaml:12:5 sources.0.backoff_max: warning: deprecated, write reconnect.max (${W})`],
    gone: [['backoff_max']],
  },
  {
    name: 'mqtt reconnect.min',
    type: 'mqtt',
    old: ['reconnect: { min: 2s, max: 1m }'],
    new: ['reconnect: { initial: 2s, max: 1m }'],
    warnings: [`old.yaml:11:18 sources.0.reconnect.min: warning: deprecated, write reconnect.initial (${W})`],
    gone: [['reconnect', 'min']],
  },
  {
    name: 'mqtt top-level username and password_env',
    type: 'mqtt',
    old: ['username: edge', 'password_env: MQTT_PW'],
    new: ['auth: { username: edge, password_env: MQTT_PW }'],
    warnings: [
      `old.yaml:11:5 sources.0.username: warning: deprecated, write auth.username (${W})`,
      `old.yaml:12:5 sources.0.password_env: warning: deprecated, write auth.password_env (${W})`,
    ],
    gone: [['username'], ['password_env']],
  },
  {
    name: 'mqtt top-level password_file',
    type: 'mqtt',
    old: ['username: edge', 'password_file: mqtt.pass'],
    new: ['auth: { username: edge, password_file: mqtt.pass }'],
    warnings: [
      `old.yaml:11:5 sources.0.username: warning: deprecated, write auth.username (${W})`,
      `old.yaml:12:5 sources.0.password_file: warning: deprecated, write auth.password_file (${W})`,
    ],
    gone: [['username'], ['password_file']],
  },
];

const fileOf = (c: { type: keyof typeof SOURCES }, lines: string[]) =>
  `${HEAD}${(SOURCES[c.type] as (extra: string) => string)(lines.join('\n    '))}`;

const scratch = new Scratch();
beforeAll(async () => {
  await scratch.open();
  await scratch.write('mqtt.pass', 'file-secret-for-tests\n');
});
afterAll(() => scratch.close());

function loaded(r: LoadResult) {
  if (!r.ok) throw new Error(r.issues.map(formatIssue).join('\n'));
  return r;
}

const warningLines = (r: LoadResult, name: string) =>
  (r.warnings ?? []).map((w) => formatIssue({ ...w, file: name, message: `warning: ${w.message}` }));

function at(v: unknown, path: string[]): unknown {
  return path.reduce<unknown>(
    (node, k) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[k] : undefined),
    v,
  );
}

describe('deprecated key names', () => {
  it.each(cases)('$name: loads to the same config as the new names, with one warning per use', async (c) => {
    const old = loaded((await loadText(scratch, 'old.yaml', fileOf(c, c.old), ENV)).result);
    const now = loaded((await loadText(scratch, 'new.yaml', fileOf(c, c.new), ENV)).result);
    expect(old.config.sources[0]).toEqual(now.config.sources[0]);
    for (const p of c.gone) expect(at(old.config.sources[0], p), p.join('.')).toBeUndefined();
    expect(warningLines(old, 'old.yaml')).toEqual(c.warnings);
    expect(warningLines(now, 'new.yaml')).toEqual([]);
  });

  it('resolves an MQTT password written at the top level into auth, where the adapter reads it', async () => {
    const c = cases.find((x) => x.name === 'mqtt top-level username and password_env') as AliasCase;
    const old = loaded((await loadText(scratch, 'old.yaml', fileOf(c, c.old), ENV)).result);
    const auth = old.config.sources[0]?.auth as { password?: { reveal(): string } } | undefined;
    expect(auth?.password?.reveal()).toBe(ENV.MQTT_PW);
  });

  it('reports a bad value under an old name where it is written, and a missing secret at its old key', async () => {
    const low = await loadText(scratch, 'low.yaml', fileOf({ type: 'opcua' }, ['max_pending: 5']), ENV);
    expect(low.lines).toEqual([
      'low.yaml:11:18 sources.0.max_pending: must be at least 100, got the number 5',
    ]);
    const unset = await loadText(
      scratch,
      'unset.yaml',
      fileOf({ type: 'mqtt' }, ['username: edge', 'password_env: MQTT_UNSET']),
      ENV,
    );
    expect(unset.lines).toEqual([
      'unset.yaml:12:19 sources.0.password_env: environment variable MQTT_UNSET is not set; set it in the service environment (systemd: Environment= or EnvironmentFile=)',
    ]);
  });

  const both: Array<{ name: string; type: keyof typeof SOURCES; lines: string[]; issues: string[] }> = [
    {
      name: 'max_pending with max_in_flight',
      type: 'opcua',
      lines: ['max_pending: 500', 'max_in_flight: 500'],
      issues: [
        'both.yaml:11:18 sources.0.max_pending: max_pending is the deprecated name of max_in_flight, which is given too; remove max_pending',
      ],
    },
    {
      name: 'backoff_initial with reconnect.initial',
      type: 'modbus',
      lines: ['backoff_initial: 2s', 'reconnect: { initial: 2s }'],
      issues: [
        'both.yaml:11:22 sources.0.backoff_initial: backoff_initial is the deprecated name of reconnect.initial, which is given too; remove backoff_initial',
      ],
    },
    {
      name: 'reconnect.min with reconnect.initial',
      type: 'mqtt',
      lines: ['reconnect: { min: 2s, initial: 2s }'],
      issues: [
        'both.yaml:11:23 sources.0.reconnect.min: reconnect.min is the deprecated name of reconnect.initial, which is given too; remove reconnect.min',
      ],
    },
    {
      name: 'a top-level username with auth',
      type: 'mqtt',
      lines: ['username: edge', 'auth: { username: edge }'],
      issues: [
        'both.yaml:11:15 sources.0.username: username is deprecated and cannot be combined with auth; write it as auth.username',
      ],
    },
  ];

  it.each(both)('$name at once is an error at the old key, not a warning', async (c) => {
    const { result, lines } = await loadText(scratch, 'both.yaml', fileOf(c, c.lines), ENV);
    expect(result.ok).toBe(false);
    expect(lines).toEqual(c.issues);
    expect(result.warnings ?? []).toEqual([]);
  });

  it('check-config prints each use as a warning and exits 0; both names at once exit 78', async () => {
    const text = `${HEAD}${SOURCES.opcua?.('max_pending: 500')}${SOURCES.modbus?.('backoff_max: 1m')}${SOURCES.mqtt?.('reconnect: { min: 2s }')}`;
    const file = await scratch.write('plant.yaml', text);
    const out = await captureOutput(() => checkConfigCommand(file, {}));
    expect(out.value).toBe(0);
    expect(out.stderr.split('\n')).toEqual([
      `${file}:11:5 sources.0.max_pending: warning: deprecated, write max_in_flight (${W})`,
      `${file}:18:5 sources.1.backoff_max: warning: deprecated, write reconnect.max (${W})`,
      `${file}:25:18 sources.2.reconnect.min: warning: deprecated, write reconnect.initial (${W})`,
      '',
    ]);
    expect(out.stdout.split('\n')[0]).toBe(
      `${file}: OK: 3 sources (opcua 1, modbus 1, mqtt 1), 2 signals (+1 pattern), 0 events, 0 sinks, 3 warnings`,
    );

    const bad = await scratch.write(
      'bad.yaml',
      fileOf({ type: 'opcua' }, ['max_pending: 500', 'max_in_flight: 9']),
    );
    const refused = await captureOutput(() => checkConfigCommand(bad, {}));
    expect(refused.value).toBe(78);
    expect(refused.stderr).toContain(
      `${bad}:11:18 sources.0.max_pending: max_pending is the deprecated name`,
    );
    expect(refused.stderr).toContain(`${bad}:12:20 sources.0.max_in_flight: must be at least 100`);
  });

  it('never suggests an old name for an unknown key: the hint teaches the new one', async () => {
    const typo = await loadText(scratch, 'typo.yaml', fileOf({ type: 'opcua' }, ['max_pendng: 500']), ENV);
    expect(typo.lines).toHaveLength(1);
    expect(typo.lines[0]).toMatch(
      /^typo\.yaml:11:5 sources\.0\.max_pendng: unknown key "max_pendng"; allowed keys/,
    );
    expect(typo.lines[0]).toContain('max_in_flight');
    expect(typo.lines[0]).not.toContain('max_pending');
  });

  it('does not change the mapping it was given (the loader reads it again for its other checks)', () => {
    const input = { id: 'line-2', type: 'mqtt', url: 'mqtt://x', username: 'edge', reconnect: { min: '2s' } };
    const copy = structuredClone(input);
    sourceConfigSchema.parse({ ...input, subscriptions: [{ topic: 'a/b', signal: 'a.{key}' }] });
    expect(input).toEqual(copy);
  });
});

describe('the JSON Schema', () => {
  type Json = { properties?: Record<string, Json>; oneOf?: Json[]; anyOf?: Json[] } & Record<string, unknown>;
  const schema = buildJsonSchema() as Json;
  const options = (section: 'sources' | 'sinks') => {
    const items = (schema.properties?.[section] as (Json & { items: Json }) | undefined)?.items ?? {};
    return (items.oneOf ?? items.anyOf ?? [items]) as Json[];
  };
  const optionOf = (section: 'sources' | 'sinks', type: string) =>
    options(section).find((o) => (o.properties?.type as { const?: string } | undefined)?.const === type);
  const prop = (node: Json | undefined, path: readonly string[]) =>
    path.reduce<Json | undefined>((n, k) => n?.properties?.[k], node);

  const tables = [
    ...adapters.map((a) => ({ section: 'sources' as const, type: a.type, keys: deprecatedKeysOf(a.schema) })),
    ...sinkKinds.map((k) => ({ section: 'sinks' as const, type: k.type, keys: deprecatedKeysOf(k.schema) })),
  ];

  it('keeps every old key, marked deprecated, with a description naming the new one', () => {
    const checked: string[] = [];
    for (const t of tables) {
      for (const k of t.keys ?? []) {
        const old = prop(optionOf(t.section, t.type), k.old);
        expect(old?.deprecated, `${t.type} ${k.old.join('.')}`).toBe(true);
        // Nested keys name their sibling (`initial` inside reconnect), top-level ones the whole path.
        expect(old?.description).toContain(`write ${k.new.slice(k.old.length - 1).join('.')} instead`);
        expect(prop(optionOf(t.section, t.type), k.new), `${t.type} ${k.new.join('.')}`).toBeDefined();
        checked.push(`${t.type} ${k.old.join('.')}`);
      }
    }
    expect(checked.sort()).toEqual([
      'modbus backoff_initial',
      'modbus backoff_max',
      'mqtt password_env',
      'mqtt password_file',
      'mqtt reconnect.min',
      'mqtt username',
      'opcua max_pending',
    ]);
  });

  it('writes the one vocabulary: reconnect {initial, max} for every networked source, retry for sinks', () => {
    for (const type of ['opcua', 'modbus', 'mqtt']) {
      const reconnect = prop(optionOf('sources', type), ['reconnect']);
      expect(
        Object.keys(reconnect?.properties ?? {}).filter((k) => k !== 'min'),
        type,
      ).toEqual(['initial', 'max']);
    }
    for (const k of sinkKinds) {
      const retry = prop(optionOf('sinks', k.type), ['retry']);
      expect(Object.keys(retry?.properties ?? {})).toEqual(expect.arrayContaining(['initial', 'max']));
    }
    for (const type of ['opcua', 'mqtt'])
      expect(prop(optionOf('sources', type), ['max_in_flight'])).toBeDefined();
    for (const type of ['opcua', 'mqtt'])
      expect(prop(optionOf('sources', type), ['auth', 'username']), type).toBeDefined();
  });
});

describe('shipped files use the new names only', () => {
  it.each(['opcua', 'modbus', 'mqtt'])('adapters/%s/sample.yaml has no deprecated key', (type) => {
    const doc = parse(
      readFileSync(new URL(`../../adapters/${type}/sample.yaml`, import.meta.url), 'utf8'),
    ) as { sources: unknown[] };
    expect(doc.sources.length).toBeGreaterThan(0);
    for (const src of doc.sources) expect(deprecatedKeyUses(sourceConfigSchema, src)).toEqual([]);
  });

  it.each(['config/starter.yaml', 'config/demo.yaml'])('%s loads without warnings', async (name) => {
    const res = await loadConfig(new URL(`../../${name}`, import.meta.url).pathname, { skipSecrets: true });
    expect(res.warnings?.map(formatIssue) ?? []).toEqual([]);
  });
});
