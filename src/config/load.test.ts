// Broken plant configurations and what check-config says about them: the exact FILE:LINE:COL key.path and
// the sentence. Each case changes one line of a valid generator config, so line numbers stay readable.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { valueDepthProblem } from './depth.js';
import { Secret } from './kit/primitives.js';
import { formatIssue, loadConfig, parseConfig } from './load.js';
import { sourceTypes } from './schema.js';
import { loadText, Scratch } from './test-support.js';

const BASE = `gateway:
  id: test-gw
  site: test
  timezone: Europe/Paris
storage:
  dir: ./data
sources:
  - id: gen-1
    type: generator
    interval: 100ms
    signals:
      - name: test.line1.temp
        unit: Cel
      - name: test.line1.count
        shape: counter
events:
  - type: production.count
    counter: test.line1.count
sinks:
  - id: central
    type: http
    url: http://127.0.0.1:9/batches
    auth: { bearer_env: TEST_TOKEN }
`;

const ENV = { TEST_TOKEN: 'token-value-for-tests' };

/** BASE with one exact line replaced (the line must exist, so a typo in a test fails loudly). */
function variant(line: string, replacement: string): string {
  const lines = BASE.split('\n');
  const i = lines.indexOf(line);
  if (i < 0) throw new Error(`BASE has no line ${JSON.stringify(line)}`);
  lines[i] = replacement;
  return lines.join('\n');
}

const scratch = new Scratch();
beforeAll(() => scratch.open());
afterAll(() => scratch.close());

async function problems(text: string, env: NodeJS.ProcessEnv = ENV): Promise<string[]> {
  const { result, lines } = await loadText(scratch, 'plant.yaml', text, env);
  expect(result.ok).toBe(false);
  return lines;
}

describe('a valid config', () => {
  it('loads with defaults filled in, paths made absolute and the secret resolved', async () => {
    const { result } = await loadText(scratch, 'plant.yaml', BASE, ENV);
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    const c = result.config;
    expect(result.file).toBe(`${scratch.dir}/plant.yaml`);
    expect(c.gateway).toEqual({
      id: 'test-gw',
      site: 'test',
      timezone: 'Europe/Paris',
      signal_naming: '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)+$',
      max_future_skew: 5000,
      owner: 'unassigned',
    });
    expect(c.storage).toEqual({
      dir: `${scratch.dir}/data`,
      max_bytes: 1024 ** 3,
      when_full: 'drop_oldest',
      commit_interval: 0,
      quarantine: { max_bytes: 64 * 1024 ** 2, max_age: 30 * 86_400_000, when_full: 'drop_oldest' },
      dead_letters: { max_bytes: 256 * 1024 ** 2, when_full: 'drop_oldest' },
      config_history: { keep: 50 },
    });
    expect(c.health).toEqual({
      listen: { host: '127.0.0.1', port: 9464 },
      stall_after_intervals: 10,
      backlog_degraded_after: 300_000,
      backlog_failing_after: 3_600_000,
    });
    expect(c.admin.socket).toBe(`${scratch.dir}/data/admin.sock`);
    expect(c.sources[0]).toMatchObject({ id: 'gen-1', type: 'generator', interval: 100 });
    expect(c.events[0]).toMatchObject({
      type: 'production.count',
      id: 'production.count:test.line1.count',
      subject: 'test.line1.count',
      counter_max: 4294967295,
      window: 3_600_000,
    });
    const auth = c.sinks[0]?.auth as Record<string, unknown>;
    expect(auth.bearer_env).toBe('TEST_TOKEN');
    expect(auth.bearer).toBeInstanceOf(Secret);
    expect((auth.bearer as Secret).reveal()).toBe('token-value-for-tests');
    expect(result.signals[0]?.declarations.exact.map((s) => s.name)).toEqual([
      'test.line1.temp',
      'test.line1.count',
    ]);
  });

  it('canonicalises the time zone and parses health.listen', async () => {
    const text = variant('  timezone: Europe/Paris', '  timezone: europe/paris').replace(
      'sources:',
      'health:\n  listen: "[::1]:0"\nsources:',
    );
    const { result } = await loadText(scratch, 'plant.yaml', text, ENV);
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    expect(result.config.gateway.timezone).toBe('Europe/Paris');
    expect(result.config.health.listen).toEqual({ host: '::1', port: 0 });
  });

  it('accepts YAML anchors and merge keys', async () => {
    const text = BASE.replace('    interval: 100ms\n', '    interval: &fast 100ms\n').replace(
      '      - name: test.line1.count\n        shape: counter\n',
      '      - &counter\n        name: test.line1.count\n        shape: counter\n  - id: gen-2\n    type: generator\n    interval: *fast\n    signals:\n      - <<: *counter\n        name: test.line2.count\n',
    );
    const { result } = await loadText(scratch, 'plant.yaml', text, ENV);
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    expect(result.config.sources[1]).toMatchObject({ id: 'gen-2', interval: 100 });
    const signals = result.config.sources[1]?.signals as Array<{ shape: string }> | undefined;
    expect(signals?.[0]?.shape).toBe('counter');
  });
});

describe('broken configs: every problem at FILE:LINE:COL key.path with a sentence', () => {
  it('YAML syntax error', async () => {
    expect(await problems(variant('    interval: 100ms', '    interval: "100ms'))).toEqual([
      'plant.yaml:24:1: YAML syntax error: Missing closing "quote',
    ]);
    expect(await problems(variant('    interval: 100ms', '\tinterval: 100ms'))).toEqual([
      'plant.yaml:10:1: YAML syntax error: tabs are not allowed for indentation; indent with spaces (and 2 more YAML errors after it, often caused by this one)',
    ]);
    // An unclosed bracket: the first error points at its line; the ones that follow from it are counted.
    expect(await problems(variant('    signals:', '    signals: [oops'))).toEqual([
      'plant.yaml:11:15: YAML syntax error: Implicit keys of flow sequence pairs need to be on a single line (and 7 more YAML errors after it, often caused by this one)',
    ]);
  });

  it('a key that appears twice', async () => {
    expect(await problems(variant('    interval: 100ms', '    type: generator'))).toEqual([
      'plant.yaml:10:5: key "type" appears twice in the same mapping; keep one of them',
    ]);
  });

  it('unknown key with did-you-mean, at the key itself', async () => {
    expect(await problems(variant('    interval: 100ms', '    intervall: 100ms'))).toEqual([
      'plant.yaml:10:5 sources.0.intervall: unknown key "intervall"; did you mean "interval"?',
    ]);
  });

  it('unknown keys: each at its own position; the allowed keys when nothing is close', async () => {
    const text = variant('  timezone: Europe/Paris', '  time_zone: Europe/Paris').replace(
      'storage:\n',
      'storage:\n  polling: 5\n',
    );
    expect(await problems(text)).toEqual(
      [
        'plant.yaml:4:3 gateway.time_zone: unknown key "time_zone"; did you mean "timezone"?',
        'plant.yaml:6:3 storage.polling: unknown key "polling"; allowed keys here: dir, max_bytes, max_age, when_full, commit_interval, quarantine, dead_letters, config_history',
        // The missing timezone is reported at the gateway mapping, its nearest existing parent.
        'plant.yaml:2:3 gateway.timezone: missing required key (IANA time zone of the site, e.g. "Europe/Paris"; sources that send local time are read in it)',
      ].sort(byPosition),
    );
  });

  it('unknown key in an adapter section: polling_interval', async () => {
    const text = BASE.replace(
      'events:',
      '  - id: packer-3\n    type: modbus\n    tcp: 10.0.2.15:502\n    polling_interval: 500ms\n    signals:\n      - name: test.packer3.temp\n        register: holding:0\nevents:',
    );
    expect(await problems(text)).toEqual([
      'plant.yaml:19:5 sources.1.polling_interval: unknown key "polling_interval"; did you mean "poll_interval"?',
    ]);
  });

  it('wrong type', async () => {
    expect(await problems(variant('    interval: 100ms', '    batch: lots'))).toEqual([
      'plant.yaml:10:12 sources.0.batch: expected a number, got text "lots"',
    ]);
  });

  it('bad duration', async () => {
    expect(await problems(variant('    interval: 100ms', '    interval: 5'))).toEqual([
      'plant.yaml:10:15 sources.0.interval: expected a duration such as "500ms", "1s", "1m" or "2h" (a number followed by ms, s, m, h or d), got 5',
    ]);
    expect(await problems(variant('    interval: 100ms', '    interval: 5 sec'))).toEqual([
      'plant.yaml:10:15 sources.0.interval: expected a duration such as "500ms", "1s", "1m" or "2h" (a number followed by ms, s, m, h or d), got "5 sec"',
    ]);
  });

  it('bad size', async () => {
    expect(await problems(variant('  dir: ./data', '  dir: ./data\n  max_bytes: 2 gigs'))).toEqual([
      'plant.yaml:7:14 storage.max_bytes: expected a size such as "2GiB", "512MiB", "100MB" or a number of bytes, got "2 gigs"',
    ]);
  });

  it('bad enum value with did-you-mean', async () => {
    expect(await problems(variant('  dir: ./data', '  dir: ./data\n  when_full: drop-oldest'))).toEqual([
      'plant.yaml:7:14 storage.when_full: expected "drop_oldest" or "block", got text "drop-oldest"; did you mean "drop_oldest"?',
    ]);
  });

  it('bad unit with did-you-mean', async () => {
    expect(await problems(variant('        unit: Cel', '        unit: degF'))).toEqual([
      'plant.yaml:13:15 sources.0.signals.0.unit: unknown unit "degF"; did you mean "[degF]"?',
    ]);
  });

  it('bad time zone with did-you-mean', async () => {
    expect(await problems(variant('  timezone: Europe/Paris', '  timezone: Europe/Pari'))).toEqual([
      'plant.yaml:4:13 gateway.timezone: unknown time zone "Europe/Pari"; did you mean "Europe/Paris"?',
    ]);
    expect(await problems(variant('  timezone: Europe/Paris', '  timezone: Middle/Earth'))).toEqual([
      'plant.yaml:4:13 gateway.timezone: unknown time zone "Middle/Earth"; expected an IANA name such as "Europe/Paris", "America/Chicago" or "UTC"',
    ]);
  });

  it('duplicate signal across sources names the other source', async () => {
    const text = variant(
      'events:',
      '  - id: gen-2\n    type: generator\n    signals:\n      - name: test.line1.temp\nevents:',
    );
    expect(await problems(text)).toEqual([
      'plant.yaml:19:15 sources.1.signals.0.name: signal "test.line1.temp" is already declared by source "gen-1" (sources.0.signals.0, line 12); signal names must be unique across all sources',
    ]);
  });

  it('duplicate source id', async () => {
    const text = variant(
      'events:',
      '  - id: gen-1\n    type: generator\n    signals:\n      - name: test.line2.temp\nevents:',
    );
    expect(await problems(text)).toEqual([
      'plant.yaml:16:9 sources.1.id: source id "gen-1" is already used by sources.0, line 8; every source needs its own id',
    ]);
  });

  it('duplicate sink id and duplicate event subject', async () => {
    const text = `${BASE}  - id: central\n    type: http\n    url: http://127.0.0.1:9/other\n`.replace(
      'sinks:',
      '  - type: production.count\n    counter: test.line1.count\n    window: 1m\nsinks:',
    );
    expect(await problems(text)).toEqual([
      'plant.yaml:19:5 events.1: this production.count event has the same subject "test.line1.count" as events.0, line 17, so both would produce records with the same ids; give one of them another subject',
      'plant.yaml:27:9 sinks.1.id: sink id "central" is already used by sinks.0, line 23; every sink needs its own id',
    ]);
  });

  it('dangling event reference suggests the closest declared signal', async () => {
    expect(await problems(variant('    counter: test.line1.count', '    counter: test.line1.cnt'))).toEqual([
      'plant.yaml:18:14 events.0.counter: signal "test.line1.cnt" is not declared by any source; did you mean "test.line1.count"?',
    ]);
    expect(await problems(variant('    counter: test.line1.count', '    counter: other.thing'))).toEqual([
      'plant.yaml:18:14 events.0.counter: signal "other.thing" is not declared by any source; declared signals: "test.line1.temp" and "test.line1.count"',
    ]);
  });

  it('bad signal naming says the rule and a fixed name', async () => {
    expect(
      await problems(variant('      - name: test.line1.temp', '      - name: Test.Line1.OilTemp')),
    ).toEqual([
      'plant.yaml:12:15 sources.0.signals.0.name: signal name "Test.Line1.OilTemp" does not follow gateway.signal_naming (lowercase letters, digits and "_" in at least two segments separated by dots, starting with a letter, e.g. "lyon.press1.hydraulic_pressure"); did you mean "test.line1.oil_temp"?',
    ]);
    expect(await problems(variant('      - name: test.line1.temp', '      - name: temp'))).toEqual([
      'plant.yaml:12:15 sources.0.signals.0.name: signal name "temp" does not follow gateway.signal_naming (lowercase letters, digits and "_" in at least two segments separated by dots, starting with a letter, e.g. "lyon.press1.hydraulic_pressure"); did you mean "test.temp"?',
    ]);
  });

  it('a custom naming rule is quoted as written', async () => {
    const text = variant('  site: test', '  site: test\n  signal_naming: "^plant\\\\.[a-z.]+$"');
    expect(await problems(text)).toEqual([
      'plant.yaml:13:15 sources.0.signals.0.name: signal name "test.line1.temp" does not follow gateway.signal_naming (the pattern ^plant\\.[a-z.]+$)',
      'plant.yaml:15:15 sources.0.signals.1.name: signal name "test.line1.count" does not follow gateway.signal_naming (the pattern ^plant\\.[a-z.]+$)',
    ]);
  });

  it('missing secret environment variable', async () => {
    expect(await problems(BASE, {})).toEqual([
      'plant.yaml:23:25 sinks.0.auth.bearer_env: environment variable TEST_TOKEN is not set; set it in the service environment (systemd: Environment= or EnvironmentFile=)',
    ]);
  });

  it('unreadable secret file, resolved against the config directory', async () => {
    const text = variant('    auth: { bearer_env: TEST_TOKEN }', '    auth: { bearer_file: secrets/token }');
    expect(await problems(text)).toEqual([
      `plant.yaml:23:26 sinks.0.auth.bearer_file: secret file "${scratch.dir}/secrets/token" does not exist; create it or fix the path`,
    ]);
    const dirAsFile = variant('    auth: { bearer_env: TEST_TOKEN }', '    auth: { bearer_file: . }');
    expect(await problems(dirAsFile)).toEqual([
      `plant.yaml:23:26 sinks.0.auth.bearer_file: secret file "${scratch.dir}" is a directory; give the path of a file`,
    ]);
  });

  it('unconvertible units', async () => {
    expect(
      await problems(variant('        unit: Cel', '        unit: bar\n        canonical_unit: Cel')),
    ).toEqual([
      'plant.yaml:14:25 sources.0.signals.0.canonical_unit: unit "bar" cannot be converted to "Cel" (different dimensions); canonical_unit must measure the same quantity as unit (e.g. "[psi]" to "bar", "[degF]" to "Cel")',
    ]);
  });

  it('unknown source type lists the known types', async () => {
    // The list grows as adapters register themselves in adapters/index.ts.
    const known = sourceTypes().join(', ');
    expect(known.split(', ')).toContain('generator');
    expect(await problems(variant('    type: generator', '    type: generatr'))).toEqual([
      `plant.yaml:9:11 sources.0.type: unknown source type "generatr" (known types: ${known}); did you mean "generator"?`,
    ]);
    expect(await problems(variant('    type: generator', '    kind: generator'))).toEqual([
      `plant.yaml:8:5 sources.0.type: missing key "type": every source needs one of ${sourceTypes()
        .map((t) => `"${t}"`)
        .join(', ')
        .replace(/, ([^,]*)$/, ' or $1')}`,
    ]);
  });

  it('missing required section and empty list', async () => {
    const text = BASE.replace('storage:\n  dir: ./data\n', '').replace(
      '    signals:\n      - name: test.line1.temp\n        unit: Cel\n      - name: test.line1.count\n        shape: counter\n',
      '    signals: []\n',
    );
    expect(await problems(text)).toEqual([
      'plant.yaml:1:1 storage: missing required key (The durable journal that keeps records while sinks are unreachable)',
      'plant.yaml:9:14 sources.0.signals: needs at least 1 entry',
    ]);
  });

  it('a source without its signals, described from the adapter schema', async () => {
    const text = BASE.replace(
      '    signals:\n      - name: test.line1.temp\n        unit: Cel\n      - name: test.line1.count\n        shape: counter\n',
      '',
    );
    expect(await problems(text)).toEqual([
      'plant.yaml:8:5 sources.0.signals: missing required key (Signals to generate)',
    ]);
  });

  it('unknown event type, quality limits the wrong way round, and an undeclared sink signal', async () => {
    const text = BASE.replace(
      'events:\n  - type: production.count\n    counter: test.line1.count\n',
      [
        'events:',
        '  - type: production.counts', // line 17
        '    counter: test.line1.count',
        '  - type: quality.exception',
        '    signal: test.line1.temp',
        '    lsl: 30',
        '    usl: 10', // line 22
        '',
      ].join('\n'),
    ).replace('    auth: { bearer_env: TEST_TOKEN }', '    select: { signals: [test.line1.tmp] }'); // line 27
    expect(await problems(text)).toEqual([
      'plant.yaml:17:11 events.0.type: unknown event type "production.counts" (known types: production.count, machine.state, quality.exception); did you mean "production.count"?',
      'plant.yaml:22:10 events.1.usl: usl (10) must be above lsl (30)',
      'plant.yaml:27:25 sinks.0.select.signals.0: signal "test.line1.tmp" is not declared by any source; did you mean "test.line1.temp"?',
    ]);
  });

  it('range the wrong way round and scale ranges that do not go together', async () => {
    const text = variant(
      '        unit: Cel',
      '        unit: Cel\n        range: [120, -20]\n        scale: { raw: [0, 27648] }',
    );
    expect(await problems(text)).toEqual([
      'plant.yaml:14:16 sources.0.signals.0.range: range [120, -20] has its minimum above its maximum; write [-20, 120]',
      'plant.yaml:15:16 sources.0.signals.0.scale: scale.raw and scale.eng go together: give both ranges, or use factor/offset',
    ]);
  });

  it('an admin socket path longer than a Unix socket allows', async () => {
    const long = `./${'d'.repeat(120)}`;
    expect(await problems(variant('  dir: ./data', `  dir: ${long}`))).toEqual([
      `plant.yaml:6:8 storage.dir: the admin socket path "${scratch.dir}/${'d'.repeat(120)}/admin.sock" is ${scratch.dir.length + 132} bytes long; Unix sockets allow at most 107, so set admin.socket to a shorter path`,
    ]);
  });

  it('health backlog thresholds in the wrong order', async () => {
    const text = variant('sources:', 'health:\n  backlog_degraded_after: 2h\nsources:');
    expect(await problems(text)).toEqual([
      // backlog_failing_after is not written (its default applies): reported where health starts.
      'plant.yaml:8:3 health.backlog_failing_after: must be longer than backlog_degraded_after: a backlog is first degraded, then failing',
    ]);
  });

  it('sink selects an unknown event type, and one no event produces', async () => {
    const text = variant(
      '    auth: { bearer_env: TEST_TOKEN }',
      '    select: { kinds: [event], types: [production.cnt, machine.downtime] }',
    );
    expect(await problems(text)).toEqual([
      'plant.yaml:23:39 sinks.0.select.types.0: unknown event type "production.cnt" (known types: production.count, machine.state, machine.downtime, quality.exception, data.exception); did you mean "production.count"?',
      'plant.yaml:23:55 sinks.0.select.types.1: no entry in events produces "machine.downtime", so this sink would never receive it; add a machine.state event or remove "machine.downtime"',
    ]);
  });

  it('event shapes: context values and state names', async () => {
    const text = variant(
      '    counter: test.line1.count',
      '    counter: test.line1.count\n    work_order: test.line1.wo\n  - type: machine.state\n    state: test.line1.count\n    states: { 0: stopped, 1: running }\n    running: [runing]',
    );
    expect(await problems(text)).toEqual([
      'plant.yaml:19:17 events.0.work_order: expected a mapping: { signal: test.line1.wo } to read it from that signal, or { value: test.line1.wo } for fixed text',
      'plant.yaml:23:15 events.1.running.0: "runing" is not one of the state names in states ("stopped" and "running"); did you mean "running"?',
    ]);
  });

  it('reports problems of several sections at once, sorted by position', async () => {
    const text = variant('  timezone: Europe/Paris', '  timezone: Europe/Pari')
      .replace('    interval: 100ms', '    interval: fast')
      .replace('    auth: { bearer_env: TEST_TOKEN }', '    auth: { bearer_env: MISSING_TOKEN }');
    const lines = await problems(text);
    expect(lines.map((l) => l.split(' ')[0])).toEqual([
      'plant.yaml:4:13',
      'plant.yaml:10:15',
      'plant.yaml:23:25',
    ]);
  });

  it('the empty file, a missing file and a file that is not a mapping', async () => {
    expect(await problems('# only a comment\n')).toEqual([
      'plant.yaml:1:1: the file is empty; a plant configuration needs at least gateway, storage and sources',
    ]);
    expect(await problems('- just\n- a list\n')).toEqual([
      'plant.yaml:1:1: expected a mapping (key: value), got a list',
    ]);
    const missing = await loadConfig('no/such/plant.yaml');
    expect(missing.ok).toBe(false);
    if (!missing.ok) {
      expect(missing.issues.map(formatIssue)).toEqual([
        'no/such/plant.yaml:1:1: cannot read the configuration file: the file does not exist',
      ]);
    }
  });

  it('turns any mangled version of a valid file into issues, never into an internal error', async () => {
    const lines = BASE.split('\n');
    const edit = fc.record({
      at: fc.nat({ max: lines.length - 1 }),
      op: fc.constantFrom('delete', 'duplicate', 'dedent', 'indent', 'truncate', 'null'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 4 }), async (edits) => {
        const out = [...lines];
        for (const { at, op } of edits) {
          const line = out[at] ?? '';
          if (op === 'delete') out.splice(at, 1);
          else if (op === 'duplicate') out.splice(at, 0, line);
          else if (op === 'dedent') out[at] = line.replace(/^ {2}/, '');
          else if (op === 'indent') out[at] = `  ${line}`;
          else if (op === 'truncate') out[at] = line.slice(0, Math.ceil(line.length / 2));
          else out[at] = line.replace(/:.*$/, ': ~');
        }
        const r = await parseConfig(out.join('\n'), { file: 'fuzz.yaml', baseDir: scratch.dir, env: ENV });
        if (!r.ok) {
          for (const i of r.issues) {
            expect(i.message).not.toMatch(/^internal error/);
            expect(i.line).toBeGreaterThanOrEqual(1);
            expect(i.col).toBeGreaterThanOrEqual(1);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('never throws, whatever the text', async () => {
    for (const text of [
      '\u0000\u0001',
      ':',
      '[',
      '{a: *b}',
      'a: !!binary zz',
      `${'['.repeat(500)}`,
      'x: &a [*a]',
    ]) {
      const r = await parseConfig(text, { file: 'fuzz.yaml', baseDir: scratch.dir, env: {} });
      expect(r.ok).toBe(false);
      if (!r.ok) for (const i of r.issues) expect(i.line).toBeGreaterThanOrEqual(1);
    }
  });
});

function byPosition(a: string, b: string): number {
  const pos = (s: string) => s.split(' ')[0]?.split(':').slice(1).map(Number) ?? [];
  const [la = 0, ca = 0] = pos(a);
  const [lb = 0, cb = 0] = pos(b);
  return la - lb || ca - cb;
}

describe('deep nesting (issue 11.20)', () => {
  it('unclosed flow brackets thousands deep: a located error, not a stack overflow', async () => {
    const lines = await problems(variant('  site: test', `  site: ${'['.repeat(5000)}1${']'.repeat(5000)}`));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^plant\.yaml:3:\d+: the configuration is nested more than 64 levels deep here/);
    expect(lines[0]).not.toMatch(/Maximum call stack|internal error/);
  });

  it('runaway block indentation: located at the first line indented too far', async () => {
    let text = `${BASE}extra:\n`;
    for (let i = 0; i < 1000; i++) text += `${' '.repeat(i + 1)}k${i}:\n`;
    const lines = await problems(text);
    expect(lines).toHaveLength(1);
    const at = BASE.split('\n').length + 1 + 256; // "extra:" then the line indented 257 columns
    expect(lines[0]).toMatch(
      new RegExp(`^plant\\.yaml:${at}:257: this line is indented more than 256 columns`),
    );
  });

  it('aliases cannot build deep values past the alias limit, and the value check locates what gets through', async () => {
    const anchors = Array.from({ length: 10 }, (_, i) => `    a${i + 1}: &a${i + 1} [[[[[[[*a${i}]]]]]]]`);
    const text = BASE.replace(
      '  site: test',
      ['  site: test', '  chain:', '    a0: &a0 [1]', ...anchors].join('\n'),
    );
    const lines = await problems(text);
    expect(lines).toEqual([
      'plant.yaml:1:1: cannot read the YAML: Excessive alias count indicates a resource exhaustion attack',
    ]);
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = { k: deep };
    expect(valueDepthProblem({ gateway: deep })?.path).toEqual(['gateway', ...Array(64).fill('k')]);
    expect(valueDepthProblem({ gateway: { a: [1, { b: 2 }] } })).toBeUndefined();
  });

  it('nesting within the limit is judged by the schema as usual', async () => {
    const lines = await problems(variant('  site: test', `  site: ${'['.repeat(60)}1${']'.repeat(60)}`));
    expect(lines).toEqual(['plant.yaml:3:9 gateway.site: expected text, got a list']);
  });
});

describe('unit hints (issue 18.4)', () => {
  it('degC and friends are errors that suggest Cel or [degF]', async () => {
    expect(await problems(variant('        unit: Cel', '        unit: degC'))).toEqual([
      'plant.yaml:13:15 sources.0.signals.0.unit: unknown unit "degC"; did you mean "Cel"?',
    ]);
    expect(await problems(variant('        unit: Cel', '        unit: "°F"'))).toEqual([
      'plant.yaml:13:15 sources.0.signals.0.unit: unknown unit "°F"; did you mean "[degF]"?',
    ]);
  });

  it('F (farad) and C (coulomb) load, with a located warning naming the temperature unit', async () => {
    for (const [unit, hint] of [
      ['F', '"F" is the farad (capacitance) in UCUM; for degrees Fahrenheit write "[degF]"'],
      ['C', '"C" is the coulomb (electric charge) in UCUM; for degrees Celsius write "Cel"'],
    ] as const) {
      const r = await parseConfig(variant('        unit: Cel', `        unit: ${unit}`), {
        file: 'plant.yaml',
        baseDir: scratch.dir,
        env: ENV,
      });
      expect(r.ok).toBe(true);
      expect((r.warnings ?? []).map(formatIssue)).toEqual([
        `plant.yaml:13:15 sources.0.signals.0.unit: ${hint}`,
      ]);
    }
  });
});

describe('skipSecrets (check-config --no-secrets, issue 11.25)', () => {
  it('checks everything but the secrets, and lists the references it did not resolve', async () => {
    const r = await parseConfig(BASE, {
      file: 'plant.yaml',
      baseDir: scratch.dir,
      env: {},
      skipSecrets: true,
    });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.secretsNotChecked).toEqual(['env:TEST_TOKEN']);
    const bad = await parseConfig(variant('    url: http://127.0.0.1:9/batches', '    url: nope'), {
      file: 'plant.yaml',
      baseDir: scratch.dir,
      env: {},
      skipSecrets: true,
    });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues.map((i) => i.path)).toEqual(['sinks.0.url']);
    // A reference that is not a variable name is still an error without secrets.
    const pasted = await parseConfig(
      variant('    auth: { bearer_env: TEST_TOKEN }', '    auth: { bearer_env: "abc def" }'),
      { file: 'plant.yaml', baseDir: scratch.dir, env: {}, skipSecrets: true },
    );
    expect(pasted.ok).toBe(false);
  });
});
