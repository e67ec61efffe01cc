// Configuration of an `mqtt` sink: the central broker (MQTT 3.1.1 or 5, TLS, persistent session), how each record
// becomes a message (canonical JSON on a unified-namespace topic, or Sparkplug B as an edge node), and how many
// messages may wait for their PUBACK. Secrets by reference only; what every sink kind has comes from ../kit/config.ts.
import { z } from 'zod';
import { brokerUrl as brokerUrlOf } from '../../config/kit/broker-url.js';
import { checkPasswordAuth, passwordRefFields } from '../../config/kit/password-auth.js';
import { duration, type Secret } from '../../config/kit/primitives.js';
import { brokerTlsSchema } from '../../config/kit/tls.js';
import { sinkCommonFields } from '../kit/config.js';
import { EVENT_PLACEHOLDERS, READING_PLACEHOLDERS, templateProblems } from './topics.js';

const { id, ...commonFields } = sinkCommonFields;

export const DEFAULT_READING_TOPIC = '{site}/{path}';
export const DEFAULT_EVENT_TOPIC = '{site}/events/{type}';

const brokerUrl = brokerUrlOf('"mqtts://broker.central.example:8883"');

function topicTemplate(allowed: readonly string[]) {
  return z.string().superRefine((t, ctx) => {
    for (const message of templateProblems(t, allowed)) ctx.addIssue({ code: 'custom', message });
  });
}

/** A Sparkplug id: one topic level, so no "/", "+" or "#". */
const sparkplugId = z
  .string()
  .min(1)
  .regex(/^[^/+#\u0000]+$/, { message: 'a Sparkplug id is one topic level: no "/", "+" or "#"' });

export const mqttSinkAuthSchema = z
  .object({ username: z.string().min(1).describe('MQTT user name.'), ...passwordRefFields('MQTT') })
  .strict()
  .superRefine(checkPasswordAuth);

export const mqttSinkTlsSchema = brokerTlsSchema;

export const mqttSinkSparkplugSchema = z
  .object({
    group_id: sparkplugId.describe('Sparkplug group id, the second topic level, e.g. "lyon".'),
    edge_node_id: sparkplugId
      .optional()
      .describe('Sparkplug edge node id; the gateway id when absent. Each source is a device of this node.'),
  })
  .strict();

export const mqttSinkSchema = z
  .object({
    id,
    type: z
      .literal('mqtt')
      .describe('MQTT sink: one QoS 1 message per record, as canonical JSON or Sparkplug B.'),
    url: brokerUrl.describe(
      'Broker URL: mqtt://host:1883, mqtts://host:8883, ws://host:9001/mqtt or wss://...',
    ),
    protocol_version: z
      .union([z.literal(4), z.literal(5)])
      .default(5)
      .describe(
        'MQTT protocol: 5 (default; records carry record_id and batch_id user properties) or 4 (= MQTT 3.1.1).',
      ),
    client_id: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe(
        'MQTT client id; default "plantgate-<gateway id>-sink-<sink id>". Keep it stable so the session survives a restart.',
      ),
    clean_start: z
      .boolean()
      .optional()
      .describe(
        'Start a fresh session on every connect. Default false (persistent session) for json; Sparkplug B requires true, its default there.',
      ),
    session_expiry: duration
      .prefault('1d')
      .describe('MQTT 5: how long the broker keeps the session after a disconnect, e.g. "1d".'),
    keepalive: duration.prefault('30s').describe('Keep-alive interval of the connection.'),
    connect_timeout: duration.prefault('30s').describe('Time allowed for the broker to answer CONNECT.'),
    reconnect: z
      .object({
        initial: duration
          .prefault('1s')
          .describe('First reconnect delay; doubles after each failed attempt.'),
        max: duration.prefault('30s').describe('Longest reconnect delay.'),
      })
      .strict()
      .prefault({})
      .describe('Reconnect backoff after a lost connection or a failed connect.'),
    auth: mqttSinkAuthSchema
      .optional()
      .describe(
        'Credentials: username, and the password by reference (password_env or password_file) if any.',
      ),
    tls: mqttSinkTlsSchema
      .optional()
      .describe('TLS settings for mqtts:// and wss:// URLs; the broker certificate is always verified.'),
    format: z
      .enum(['json', 'sparkplug_b'])
      .default('json')
      .describe(
        'Payload: json (each record as canonical JSON on its topic) or sparkplug_b (plantgate as a Sparkplug B edge node).',
      ),
    topic: topicTemplate(READING_PLACEHOLDERS)
      .optional()
      .describe(
        `format json: topic of a reading, default "${DEFAULT_READING_TOPIC}". Placeholders: {site}, {gateway}, {sink}, {source} (source id), {signal} (its name) and {path} (the name with "." as "/").`,
      ),
    event_topic: topicTemplate(EVENT_PLACEHOLDERS)
      .optional()
      .describe(
        `format json: topic of an event, default "${DEFAULT_EVENT_TOPIC}". Placeholders: {site}, {gateway}, {sink}, {type} and {subject}.`,
      ),
    retain: z
      .boolean()
      .default(false)
      .describe(
        'format json: publish with the retain flag, so a new subscriber gets the last value of each topic.',
      ),
    sparkplug: mqttSinkSparkplugSchema
      .optional()
      .describe('format sparkplug_b: the group and edge node plantgate publishes as.'),
    max_inflight_messages: z
      .number()
      .int()
      .min(1)
      .max(65_535)
      .default(100)
      .describe(
        'Messages published and not yet acknowledged (PUBACK) at once, over all batches; bounds the memory the client holds whatever the backlog. The broker may lower it (MQTT 5 receive maximum).',
      ),
    timeout: duration
      .prefault('30s')
      .describe(
        'Time allowed for every PUBACK of one batch; past it the connection is dropped and the batch resent.',
      ),
    // select, batch, max_in_flight, retry and whatever else the forwarder applies to every sink kind.
    ...commonFields,
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
    if (c.format === 'sparkplug_b') {
      if (c.sparkplug === undefined) {
        ctx.addIssue({
          code: 'custom',
          message:
            'format sparkplug_b needs sparkplug: { group_id: ... } (edge_node_id defaults to the gateway id)',
          path: ['sparkplug'],
        });
      }
      for (const key of ['topic', 'event_topic', 'retain'] as const) {
        if (key === 'retain' ? c.retain : c[key] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            message: `${key} applies to format json only: Sparkplug B fixes its topics (spBv1.0/<group>/...) and never retains data`,
            path: [key],
          });
        }
      }
      if (c.clean_start === false) {
        ctx.addIssue({
          code: 'custom',
          message:
            'Sparkplug B requires a clean session (its NDEATH and rebirth handle what a session would keep): remove clean_start or set it to true',
          path: ['clean_start'],
        });
      }
    } else if (c.sparkplug !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'sparkplug settings need format: sparkplug_b',
        path: ['sparkplug'],
      });
    }
  });

export type MqttSinkConfig = z.output<typeof mqttSinkSchema>;
export type MqttSinkAuthConfig = z.output<typeof mqttSinkAuthSchema>;

/** What the config loader adds after resolving the password reference: `auth.password`, the secret itself. */
export type ResolvedMqttSinkConfig = Omit<MqttSinkConfig, 'auth'> & {
  auth?: (MqttSinkAuthConfig & { password?: Secret | string }) | undefined;
};
