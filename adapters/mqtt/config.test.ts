// The `mqtt` source schema, its declarations (exact specs + one pattern per template) and its cross-field checks.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mqttSourceSchema } from './config.js';
import { mqtt } from './index.js';

const base = {
  id: 'line-2',
  type: 'mqtt',
  url: 'mqtts://broker.plant.local:8883',
  subscriptions: [
    {
      topic: 'lyon/line2/+/telemetry',
      signal: 'lyon.line2.{topic[2]}.{key}',
      timestamp: { field: 'ts', local_time: true },
    },
  ],
};

function issues(input: unknown): string[] {
  const r = mqttSourceSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('mqtt source config', () => {
  it('applies defaults for a persistent MQTT 5 session', () => {
    const c = mqttSourceSchema.parse(base);
    expect(c).toMatchObject({
      protocol_version: 5,
      clean_start: false,
      session_expiry: 86_400_000,
      keepalive: 30_000,
      max_payload: 256 * 1024,
      max_in_flight: 1000,
      reconnect: { initial: 1000, max: 30_000 },
    });
    expect(c.subscriptions[0]).toMatchObject({
      qos: 1,
      payload: 'json',
      ignore_fields: [],
      timestamp: { field: 'ts', unit: 'auto', local_time: true },
    });
  });

  it('rejects bad URLs, unknown keys, bad templates and impossible combinations with a sentence', () => {
    expect(issues({ ...base, url: 'http://x' })[0]).toMatch(/mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\//);
    expect(issues({ ...base, url: 'mqtt://edge:pw@broker:1883' })[0]).toMatch(/no credentials in the URL/);
    expect(issues({ ...base, colour: 'red' })).toHaveLength(1);
    const sub = (s: Record<string, unknown>) =>
      issues({ ...base, subscriptions: [{ ...base.subscriptions[0], ...s }] });
    expect(sub({ signal: 'lyon.{machine}.{key}' })[0]).toMatch(/only the placeholders/);
    expect(sub({ signal: 'lyon.{topic[2]}_{key}' })[0]).toMatch(/whole dotted segment/);
    expect(sub({ signal: 'lyon.line2.{topic[7]}.{key}' })[0]).toMatch(/beyond the 4 levels/);
    expect(sub({ signal: 'lyon.line2.{topic[2]}.speed', timestamp: {} })[0]).toMatch(
      /put \{key\} in the signal template/,
    );
    expect(sub({ payload: 'number', signal: 'lyon.line2.{topic[2]}.t' })[0]).toMatch(
      /number payload has no fields/,
    );
    expect(sub({ topic: 'lyon/#/x' })[0]).toMatch(/topic filter/);
    expect(issues({ ...base, password_env: 'X' })[0]).toMatch(/need a username/);
    expect(issues({ ...base, url: 'mqtt://x', tls: { ca_file: '/ca.pem' } })[0]).toMatch(
      /tls settings need an mqtts/,
    );
    expect(issues({ ...base, tls: { cert_file: '/c.pem' } })[0]).toMatch(
      /cert_file and key_file go together/,
    );
  });

  it('declares exact signals with the subscription defaults and one pattern per template', () => {
    const c = mqttSourceSchema.parse({
      ...base,
      subscriptions: [
        {
          ...base.subscriptions[0],
          unit: 'Cel',
          range: [0, 200],
          signals: [{ name: 'lyon.line2.press1.speed', unit: 'm/min', canonical_unit: 'm/s' }],
        },
      ],
    });
    expect(mqtt.declarations(c)).toEqual({
      exact: [{ name: 'lyon.line2.press1.speed', unit: 'm/min', canonical_unit: 'm/s', range: [0, 200] }],
      patterns: [{ pattern: 'lyon.line2.*.*', spec: { unit: 'Cel', range: [0, 200] } }],
    });
    expect(mqtt.check?.(c)).toEqual([]);
  });

  it('flags exact signals the template can never produce', () => {
    const c = mqttSourceSchema.parse({
      ...base,
      subscriptions: [{ ...base.subscriptions[0], signals: [{ name: 'lyon.line3.press1.speed' }] }],
    });
    expect(mqtt.check?.(c)).toEqual([
      {
        path: ['subscriptions', 0, 'signals', 0, 'name'],
        message: expect.stringMatching(/can never come from the template/),
      },
    ]);
  });

  it('sparkplug_b: the Sparkplug topic, its own placeholders, QoS 2, and what to write instead', () => {
    const sp = {
      topic: 'spBv1.0/lyon/+/#',
      payload: 'sparkplug_b',
      signal: '{group}.{node}.{device}.{metric}',
    };
    const c = mqttSourceSchema.parse({ ...base, subscriptions: [{ ...sp, qos: 2, unit: 'Cel' }] });
    expect(c.subscriptions[0]).toMatchObject({ qos: 2, rebirth_interval: 5000 });
    expect(mqtt.declarations(c).patterns).toEqual([{ pattern: '*.*.*.*', spec: { unit: 'Cel' } }]);
    expect(issues({ ...base, subscriptions: [{ ...sp, topic: 'spBv1.0/+/+/#' }] })).toEqual([]);
    expect(issues({ ...base, subscriptions: [{ ...sp, topic: 'spBv1.0/lyon/#' }] })).toEqual([]);
    const bad = (s: Record<string, unknown>) => issues({ ...base, subscriptions: [{ ...sp, ...s }] });
    expect(bad({ topic: 'plant/lyon/#' })).toEqual([
      expect.stringMatching(
        /^subscriptions\.0\.topic: a sparkplug_b subscription takes the topic "spBv1\.0\/<group>\/\+\/#"/,
      ),
    ]);
    expect(bad({ signal: 'lyon.{node}.{device}' })[0]).toMatch(/needs \{metric\}/);
    expect(bad({ signal: 'lyon.{topic[3]}.{metric}' })[0]).toMatch(/not \{topic\[N\]\} or \{key\}/);
    expect(bad({ timestamp: { field: 'ts' } })[0]).toMatch(
      /^subscriptions\.0\.timestamp: .*remove timestamp/,
    );
    expect(bad({ qos: 3 })[0]).toMatch(/^subscriptions\.0\.qos/);
    expect(
      issues({ ...base, subscriptions: [{ ...base.subscriptions[0], signal: 'lyon.{node}.{key}' }] })[0],
    ).toMatch(/need payload: sparkplug_b/);
  });

  it('accepts every source of sample.yaml', () => {
    const doc = parse(readFileSync(new URL('./sample.yaml', import.meta.url), 'utf8')) as {
      sources: unknown[];
    };
    expect(doc.sources.length).toBeGreaterThan(0);
    for (const src of doc.sources) {
      const c = mqttSourceSchema.parse(src);
      expect(mqtt.check?.(c)).toEqual([]);
    }
  });
});
