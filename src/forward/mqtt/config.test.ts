// The mqtt sink schema: its defaults, the samples it ships, and the mistakes it catches with a useful message.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mqttSinkSchema } from './config.js';
import { RecordTopics, templateProblems, topicNameProblem } from './topics.js';

const base = { id: 'central', type: 'mqtt', url: 'mqtts://broker.central.example:8883' } as const;

function issues(input: unknown): string[] {
  const r = mqttSinkSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('mqttSinkSchema', () => {
  it('fills the documented defaults', () => {
    expect(mqttSinkSchema.parse(base)).toEqual({
      ...base,
      protocol_version: 5,
      session_expiry: 86_400_000,
      keepalive: 30_000,
      connect_timeout: 30_000,
      reconnect: { initial: 1000, max: 30_000 },
      format: 'json',
      retain: false,
      max_inflight_messages: 100,
      timeout: 30_000,
      select: {},
      batch: { max_records: 1000, max_bytes: 1024 * 1024, max_wait: 1000 },
      max_in_flight: 2,
      retry: { initial: 500, max: 60_000 },
    });
  });

  it('accepts every sink of sample.yaml', () => {
    const doc = parse(readFileSync(new URL('./sample.yaml', import.meta.url), 'utf8')) as {
      sinks: unknown[];
    };
    expect(doc.sinks.length).toBe(2);
    for (const s of doc.sinks) expect(issues(s)).toEqual([]);
  });

  it('names the placeholders a template may hold, and refuses wildcards in it', () => {
    expect(issues({ ...base, topic: '{site}/{line}/{path}' })).toEqual([
      'topic: unknown placeholder {line}; the placeholders here are {site}, {gateway}, {sink}, {source}, {signal}, {path}',
    ]);
    expect(issues({ ...base, event_topic: '{site}/+/{type}' })).toEqual([
      'event_topic: a topic name cannot hold "+" or "#" (those are for subscriptions); remove them',
    ]);
    expect(issues({ ...base, topic: '$SYS/{path}' })).toEqual([
      'topic: topics starting with "$" are reserved for the broker',
    ]);
    expect(issues({ ...base, topic: '{site/{path}' })).toEqual([
      'topic: unbalanced "{" or "}": a placeholder is written "{name}"',
    ]);
    expect(templateProblems('{site}/events/{type}', ['site', 'type'])).toEqual([]);
  });

  it('keeps Sparkplug settings and JSON settings apart', () => {
    const spb = { ...base, format: 'sparkplug_b' };
    expect(issues(spb)).toEqual([
      'sparkplug: format sparkplug_b needs sparkplug: { group_id: ... } (edge_node_id defaults to the gateway id)',
    ]);
    expect(
      issues({ ...spb, sparkplug: { group_id: 'lyon' }, topic: 'x', retain: true, clean_start: false }),
    ).toEqual([
      'topic: topic applies to format json only: Sparkplug B fixes its topics (spBv1.0/<group>/...) and never retains data',
      'retain: retain applies to format json only: Sparkplug B fixes its topics (spBv1.0/<group>/...) and never retains data',
      'clean_start: Sparkplug B requires a clean session (its NDEATH and rebirth handle what a session would keep): remove clean_start or set it to true',
    ]);
    expect(issues({ ...spb, sparkplug: { group_id: 'lyon/a', edge_node_id: 'n#1' } })).toEqual([
      'sparkplug.group_id: a Sparkplug id is one topic level: no "/", "+" or "#"',
      'sparkplug.edge_node_id: a Sparkplug id is one topic level: no "/", "+" or "#"',
    ]);
    expect(issues({ ...base, sparkplug: { group_id: 'lyon' } })).toEqual([
      'sparkplug: sparkplug settings need format: sparkplug_b',
    ]);
  });

  it('refuses credentials in the URL, clear-text passwords, TLS on a plain URL and unknown keys', () => {
    expect(issues({ ...base, url: 'mqtts://edge:s3cret@broker:8883' })).toEqual([
      'url: put no credentials in the URL: use auth (username with password_env or password_file)',
    ]);
    expect(issues({ ...base, url: 'http://broker' })[0]).toMatch(
      /^url: expected a broker URL with mqtt:\/\//,
    );
    expect(issues({ ...base, auth: { username: 'u', password: 'x' } }).join()).toMatch(/password/);
    expect(issues({ ...base, auth: { username: 'u', password_env: 'A', password_file: '/p' } })).toEqual([
      'auth.password_file: give either password_env or password_file, not both',
    ]);
    expect(issues({ ...base, url: 'mqtt://broker', tls: { ca_file: '/ca.pem' } })).toEqual([
      'tls: tls settings need an mqtts:// or wss:// url',
    ]);
    expect(issues({ ...base, qos: 2 }).join()).toMatch(/qos/);
  });
});

describe('topics', () => {
  const topics = new RecordTopics('{site}/{path}', '{site}/events/{type}', {
    site: 'lyon',
    gateway: 'edge-01',
    sink: 'central',
  });
  const reading = (signal: string) =>
    ({
      id: 'r',
      kind: 'reading',
      signal,
      value: 1,
      ts: '2026-11-27T10:00:00.000Z',
      ingest_ts: '2026-11-27T10:00:00.000Z',
      quality: 'good',
      source: { id: 'press-1', type: 'generator', address: 'x' },
    }) as const;

  it('maps a dotted signal name onto topic levels, and says why an expansion cannot be a topic', () => {
    expect(topics.topicOf(reading('lyon.press1.pressure'))).toEqual({ topic: 'lyon/lyon/press1/pressure' });
    expect(topics.topicOf(reading('lyon.press#1.pressure'))).toEqual({
      problem: 'topic "lyon/lyon/press#1/pressure": a topic name cannot hold "+" or "#"',
    });
    expect(topicNameProblem('a'.repeat(70_000))).toBe('the topic is longer than 65535 bytes');
  });
});
