// Configuration of the `mqtt` source: broker connection (TCP, TLS, WebSocket; MQTT 3.1.1 or 5), the persistent
// session that lets the broker hold QoS 1 messages during a gateway outage, and how topics and payloads map to
// signals. Secrets are given by reference only (env var or file).
import { z } from 'zod';
import { brokerUrl } from '../../src/config/kit/broker-url.js';
import { deprecatedField, withDeprecatedKeys } from '../../src/config/kit/deprecated-keys.js';
import { checkPasswordAuth, passwordRefFields } from '../../src/config/kit/password-auth.js';
import { componentId, duration, ownerName, type Secret, size } from '../../src/config/kit/primitives.js';
import { signalBaseShape } from '../../src/config/kit/signal.js';
import { brokerTlsSchema } from '../../src/config/kit/tls.js';

const mqttUrl = brokerUrl('"mqtts://broker.plant.local:8883" or "ws://broker:9001/mqtt"');

/** `{topic[2]}` and `{key}`: the placeholders of a json, number or text subscription's signal template. */
export const PLACEHOLDER_RE = /\{(topic\[(\d+)\]|key)\}/g;
/** `{group}`, `{node}`, `{device}`, `{metric}`: the placeholders of a sparkplug_b subscription's template. */
export const SPARKPLUG_PLACEHOLDER_RE = /\{(group|node|device|metric)\}/g;
const ANY_BRACE_RE = /[{}]/;
const WHOLE_PLACEHOLDER_RE = /^\{(topic\[\d+\]|key|group|node|device|metric)\}$/;

/** Sparkplug B topic namespace (the only version there is). */
export const SPARKPLUG_NAMESPACE = 'spBv1.0';

const signalTemplate = z.string().superRefine((t, ctx) => {
  const stripped = t.replace(PLACEHOLDER_RE, 'x').replace(SPARKPLUG_PLACEHOLDER_RE, 'x');
  if (ANY_BRACE_RE.test(stripped)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'only the placeholders {topic[N]} (N counts topic levels from 0) and {key} (a JSON object key), or for payload: sparkplug_b {group}, {node}, {device} and {metric}, are allowed',
    });
  }
  if (t.split('.').some((seg) => /[{}]/.test(seg) && !WHOLE_PLACEHOLDER_RE.test(seg))) {
    ctx.addIssue({
      code: 'custom',
      message:
        'a placeholder must be a whole dotted segment, e.g. "lyon.line2.{topic[2]}.{key}" (not "{topic[2]}_{key}")',
    });
  }
  if (stripped.split('.').some((seg) => seg === '')) {
    ctx.addIssue({
      code: 'custom',
      message:
        'a signal template is a dotted path without empty segments, e.g. "lyon.line2.{topic[2]}.{key}"',
    });
  }
});

/** A field of the payload or a topic level: `ts`, `meta.lot`, or `topic[3]`. */
const fieldRef = z.string().min(1);

function validTopicFilter(f: string): boolean {
  if (f.length === 0 || f.includes('\u0000')) return false;
  const levels = f.split('/');
  return levels.every((l, i) =>
    l.includes('#') ? l === '#' && i === levels.length - 1 : !l.includes('+') || l === '+',
  );
}

export const mqttTimestampSchema = z
  .object({
    field: fieldRef
      .optional()
      .describe(
        'Payload field holding the source time (dots reach into nested objects, e.g. "meta.ts"); receive time when absent.',
      ),
    unit: z
      .enum(['s', 'ms', 'auto'])
      .default('auto')
      .describe(
        'Unit of numeric timestamps: s, ms, or auto (below 1e11 read as seconds, else milliseconds).',
      ),
    local_time: z
      .boolean()
      .default(false)
      .describe(
        'ISO times without an offset are local time in gateway.timezone (DST handled); UTC when false.',
      ),
  })
  .strict();

const { name: _name, ...signalDefaultsShape } = signalBaseShape;

export const mqttSignalSchema = z.object({ ...signalBaseShape }).strict();

export const mqttSubscriptionSchema = z
  .object({
    topic: z
      .string()
      .refine(validTopicFilter, {
        message:
          'expected an MQTT topic filter such as "lyon/line2/+/telemetry" ("+" is one whole level, "#" only last)',
      })
      .describe('MQTT topic filter to subscribe to, e.g. "lyon/line2/+/telemetry".'),
    qos: z
      .union([z.literal(0), z.literal(1), z.literal(2)])
      .default(1)
      .describe(
        'Subscription QoS: 1 (default; PUBACK only after the journal synced the message), 2 (PUBREC only after the sync) or 0 (may be lost).',
      ),
    payload: z
      .enum(['json', 'number', 'text', 'sparkplug_b'])
      .default('json')
      .describe(
        'Payload format: json (one value, an object of values, or an array of either), number, text, or sparkplug_b (Sparkplug B protobuf; topic "spBv1.0/<group>/+/#").',
      ),
    signal: signalTemplate.describe(
      'Signal name template: {topic[N]} is topic level N (from 0), {key} a JSON object key; for sparkplug_b {group}, {node}, {device} ("_" for node metrics) and {metric}. Each is lowercased and non [a-z0-9_] characters ("/" and spaces included) become "_". E.g. "lyon.line2.{topic[2]}.{key}" or "{group}.{node}.{device}.{metric}".',
    ),
    rebirth_interval: duration
      .prefault('5s')
      .describe(
        'sparkplug_b: shortest time between two Rebirth requests (NCMD) to the same edge node, e.g. "5s".',
      ),
    value_field: fieldRef
      .optional()
      .describe(
        'For JSON objects: the one field that holds the value (e.g. "value"); without it every field is a value.',
      ),
    ignore_fields: z
      .array(fieldRef)
      .default([])
      .describe(
        'Top-level JSON fields that are not values (besides the timestamp and attrs_from fields), e.g. ["seq"].',
      ),
    timestamp: mqttTimestampSchema
      .prefault({})
      .describe('Where the source time is and how to read it; receive time when no field is given.'),
    attrs_from: z
      .record(
        z.string().regex(/^[a-z][a-z0-9_]*$/, { message: 'expected an attribute name like "work_order"' }),
        fieldRef,
      )
      .optional()
      .describe(
        'Attributes taken from a payload field or a topic level, e.g. { work_order: wo, machine: "topic[2]" }.',
      ),
    signals: z
      .array(mqttSignalSchema)
      .optional()
      .describe(
        'Per-signal specs (unit, range...) for exact names this subscription produces; they override the defaults here.',
      ),
    // Defaults (unit, canonical_unit, range...) for every signal this subscription produces.
    ...signalDefaultsShape,
  })
  .strict();

export const mqttTlsSchema = brokerTlsSchema;

export const mqttReconnectSchema = z
  .object({
    initial: duration.prefault('1s').describe('First reconnect delay; doubles after each failed attempt.'),
    max: duration.prefault('30s').describe('Longest reconnect delay.'),
    min: deprecatedField(duration, 'initial'),
  })
  .strict();

/** The same keys as OPC UA's and the HTTP sink's `auth:`; the loader resolves the password reference. */
export const mqttAuthSchema = z
  .object({
    username: z.string().min(1).describe('MQTT user name.').optional(),
    ...passwordRefFields('MQTT'),
  })
  .strict()
  .superRefine(checkPasswordAuth);

const mqttSourceObject = z
  .object({
    id: componentId.describe(
      'Unique source id, e.g. "line-2"; part of the default MQTT client id, so keep it stable.',
    ),
    owner: ownerName.optional(),
    type: z.literal('mqtt').describe('MQTT subscriber (MQTT 3.1.1 or 5 over TCP, TLS or WebSocket).'),
    url: mqttUrl.describe(
      'Broker URL: mqtt://host:1883, mqtts://host:8883, ws://host:9001/mqtt or wss://...',
    ),
    protocol_version: z
      .union([z.literal(4), z.literal(5)])
      .default(5)
      .describe('MQTT protocol: 5 (default) or 4 (= MQTT 3.1.1, for brokers without MQTT 5).'),
    client_id: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe(
        'MQTT client id; default "plantgate-<gateway id>-<source id>". Must stay the same across restarts so the session survives.',
      ),
    clean_start: z
      .boolean()
      .default(false)
      .describe(
        'Start a fresh session on every connect. Keep false so the broker holds QoS 1 messages while the gateway is down.',
      ),
    session_expiry: duration
      .prefault('1d')
      .describe(
        'MQTT 5: how long the broker keeps the session (and its queued messages) after a disconnect, e.g. "1d".',
      ),
    keepalive: duration
      .prefault('30s')
      .describe('Keep-alive interval; the connection is considered dead after 1.5 times it.'),
    connect_timeout: duration.prefault('30s').describe('Time allowed for the broker to answer CONNECT.'),
    reconnect: mqttReconnectSchema
      .prefault({})
      .describe('Reconnect backoff after a lost connection or a failed connect.'),
    auth: mqttAuthSchema
      .optional()
      .describe(
        'Credentials: absent for none, or username with password_env/password_file (by reference only, never the password itself).',
      ),
    username: deprecatedField(z.string().min(1), 'auth.username'),
    password_env: deprecatedField(z.string().min(1), 'auth.password_env'),
    password_file: deprecatedField(z.string().min(1), 'auth.password_file'),
    tls: mqttTlsSchema
      .optional()
      .describe('TLS settings for mqtts:// and wss:// URLs; the broker certificate is always verified.'),
    max_payload: size
      .prefault('256KiB')
      .describe('Largest payload accepted; larger ones are quarantined (cut) as too_large, e.g. "256KiB".'),
    max_in_flight: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(1000)
      .describe(
        'Messages processed concurrently before acknowledgement; beyond it the gateway stops reading and the broker holds the rest. Acknowledgements are sent in arrival order.',
      ),
    subscriptions: z
      .array(mqttSubscriptionSchema)
      .min(1)
      .describe('Topic filters and how their payloads become signals.'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.tls && !(c.url.startsWith('mqtts:') || c.url.startsWith('wss:'))) {
      ctx.addIssue({ code: 'custom', message: 'tls settings need an mqtts:// or wss:// url', path: ['tls'] });
    }
    if (c.reconnect.initial > c.reconnect.max) {
      ctx.addIssue({
        code: 'custom',
        message: 'reconnect.initial must not exceed reconnect.max',
        path: ['reconnect', 'initial'],
      });
    }
    c.subscriptions.forEach((s, i) => {
      const hasKey = s.signal.includes('{key}');
      if (s.payload === 'json' && s.value_field === undefined && !hasKey) {
        ctx.addIssue({
          code: 'custom',
          message:
            'a JSON payload without value_field may hold many values: put {key} in the signal template (e.g. "lyon.line2.{topic[2]}.{key}") or name the value_field',
          path: ['subscriptions', i, 'signal'],
        });
      }
      if (s.payload === 'sparkplug_b') {
        sparkplugChecks(s, i, ctx);
        return;
      }
      if (s.signal.match(SPARKPLUG_PLACEHOLDER_RE)) {
        ctx.addIssue({
          code: 'custom',
          message: `{group}, {node}, {device} and {metric} need payload: sparkplug_b; a ${s.payload} payload names signals with {topic[N]} and {key}`,
          path: ['subscriptions', i, 'signal'],
        });
      }
      if (
        s.payload !== 'json' &&
        (hasKey || s.value_field !== undefined || s.timestamp.field !== undefined)
      ) {
        ctx.addIssue({
          code: 'custom',
          message: `a ${s.payload} payload has no fields: {key}, value_field and timestamp.field need payload: json`,
          path: ['subscriptions', i, 'payload'],
        });
      }
      const levels = s.topic.split('/');
      const fixedLevels = levels.includes('#') ? Number.POSITIVE_INFINITY : levels.length;
      for (const m of s.signal.matchAll(PLACEHOLDER_RE)) {
        if (m[2] !== undefined && Number(m[2]) >= fixedLevels) {
          ctx.addIssue({
            code: 'custom',
            message: `{topic[${m[2]}]} is beyond the ${levels.length} levels of "${s.topic}" (levels count from 0)`,
            path: ['subscriptions', i, 'signal'],
          });
        }
      }
    });
  });

type SubscriptionInput = z.output<typeof mqttSubscriptionSchema>;

/** Topic and template rules of a sparkplug_b subscription: the Sparkplug namespace and its four placeholders. */
function sparkplugChecks(s: SubscriptionInput, i: number, ctx: z.RefinementCtx): void {
  const at = (key: string) => ['subscriptions', i, key];
  const levels = s.topic.split('/');
  const shapeOk =
    levels[0] === SPARKPLUG_NAMESPACE &&
    levels[1] !== undefined &&
    levels[1] !== '#' &&
    ((levels.length === 3 && levels[2] === '#') ||
      (levels.length === 4 && levels[2] === '+' && levels[3] === '#'));
  if (!shapeOk) {
    ctx.addIssue({
      code: 'custom',
      message: `a sparkplug_b subscription takes the topic "${SPARKPLUG_NAMESPACE}/<group>/+/#" (one group, e.g. "${SPARKPLUG_NAMESPACE}/lyon/+/#") or "${SPARKPLUG_NAMESPACE}/+/+/#" (every group)`,
      path: at('topic'),
    });
  }
  if (s.signal.match(PLACEHOLDER_RE)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'a sparkplug_b template names signals with {group}, {node}, {device} and {metric}, not {topic[N]} or {key}, e.g. "{group}.{node}.{device}.{metric}"',
      path: at('signal'),
    });
  }
  if (!s.signal.includes('{metric}')) {
    ctx.addIssue({
      code: 'custom',
      message:
        'a sparkplug_b template needs {metric}, or every metric of a node gets the same name, e.g. "{group}.{node}.{device}.{metric}"',
      path: at('signal'),
    });
  }
  const noFields: Array<[boolean, string]> = [
    [s.value_field !== undefined, 'value_field'],
    [s.timestamp.field !== undefined, 'timestamp'],
    [s.ignore_fields.length > 0, 'ignore_fields'],
    [s.attrs_from !== undefined, 'attrs_from'],
  ];
  for (const [set, key] of noFields) {
    if (set) {
      ctx.addIssue({
        code: 'custom',
        message: `a sparkplug_b payload carries its own metric names and timestamps: remove ${key} (name signals with the template)`,
        path: at(key),
      });
    }
  }
}

/**
 * Old names still accepted for one release (check-config warns about each use). The top-level credentials moved
 * into `auth:` as a group, so none of them may be written next to an `auth:` mapping.
 */
export const mqttDeprecatedKeys = [
  { old: ['reconnect', 'min'], new: ['reconnect', 'initial'] },
  { old: ['username'], new: ['auth', 'username'], conflicts: ['auth'] },
  { old: ['password_env'], new: ['auth', 'password_env'], conflicts: ['auth'] },
  { old: ['password_file'], new: ['auth', 'password_file'], conflicts: ['auth'] },
] as const;

export const mqttSourceSchema = withDeprecatedKeys(mqttSourceObject, mqttDeprecatedKeys);

export type MqttSourceConfig = z.output<typeof mqttSourceSchema>;
export type MqttAuthConfig = z.output<typeof mqttAuthSchema>;
export type MqttSubscriptionConfig = z.output<typeof mqttSubscriptionSchema>;

/**
 * What the config loader adds after resolving `auth.password_env`/`auth.password_file`: `auth.password`, the
 * secret itself, the only form the adapter reads (a reference without it is refused as a configuration that did not come through the loader).
 */
export interface ResolvedMqttSourceConfig extends MqttSourceConfig {
  auth?: MqttAuthConfig & { password?: Secret | string };
}
