// Configuration of the `opcua` source: endpoint, security, user authentication, subscription or polling, and
// the signals with their NodeId or browse path. Secrets are never written in the YAML: `password_env` or
// `password_file` are resolved by the config loader, the one place secrets are read; the adapter gets the value.
import { z } from 'zod';
import { deprecatedField, withDeprecatedKeys } from '../../src/config/kit/deprecated-keys.js';
import { componentId, duration, ownerName, type Secret } from '../../src/config/kit/primitives.js';
import { signalBaseShape } from '../../src/config/kit/signal.js';

/** NodeId in the OPC UA string form: `ns=3;s=Press1.Pressure`, `i=2258`, `ns=2;g=<guid>`, `ns=1;b=<base64>`, or with `nsu=<uri>;`. */
const NODE_ID_RE =
  /^(?:(?:ns=\d+|nsu=[^;]+);)?(?:i=\d+|s=.+|g=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/=]+)$/;

export const nodeIdString = z.string().regex(NODE_ID_RE, {
  message:
    'expected a NodeId such as "ns=3;s=Press1.Hydraulic.Pressure", "ns=2;i=1042" or "i=2258" (namespace index, then i=, s=, g= or b=)',
});

/** Browse path from the Objects folder, each element `<namespace index>:<browse name>`, separated by `/`. */
const BROWSE_PATH_RE = /^\/?(?:Objects)(?:\/(?:\d+:)?[^/]+)+$/;

export const opcuaSignalSchema = z
  .object({
    ...signalBaseShape,
    node: nodeIdString
      .optional()
      .describe(
        'NodeId of the variable, e.g. "ns=3;s=Press1.Hydraulic.Pressure". Give either node or browse_path.',
      ),
    browse_path: z
      .string()
      .regex(BROWSE_PATH_RE, {
        message:
          'expected a browse path from the Objects folder such as "Objects/3:Press1/3:Hydraulic/3:Pressure"',
      })
      .optional()
      .describe(
        'Browse path from the Objects folder, each step "<namespace index>:<browse name>", e.g. "Objects/3:Press1/3:Hydraulic/3:Pressure"; resolved to a NodeId at every connect.',
      ),
    sampling_interval: duration
      .optional()
      .describe(
        'How often the server samples the value (subscribe mode); defaults to the publishing interval.',
      ),
    queue_size: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .optional()
      .describe(
        'Changes the server keeps per publishing interval for this item (subscribe mode); default 1 (the latest only).',
      ),
    deadband: z
      .object({
        type: z
          .enum(['absolute', 'percent'])
          .describe(
            'absolute: in the raw unit; percent: of the EURange the server declares for the variable (the server must have one).',
          ),
        value: z.number().min(0).describe('Smallest change reported; 0 reports every change.'),
      })
      .strict()
      .optional()
      .describe('Only report changes larger than this (subscribe mode, numeric variables).'),
    timestamp: z
      .enum(['source', 'server'])
      .default('source')
      .describe(
        'Which OPC UA timestamp becomes the record time: source (the PLC, default) or server; the other is the fallback when one is missing.',
      ),
    index: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        'Element of an array variable to read (0-based); an array variable without `index` is refused at runtime with a clear message.',
      ),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.node === undefined) === (s.browse_path === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'give the address of the variable: either node (a NodeId) or browse_path, exactly one of them',
        path: ['node'],
      });
    }
  });

export const opcuaSecurityPolicies = [
  'None',
  'Basic256Sha256',
  'Aes128_Sha256_RsaOaep',
  'Aes256_Sha256_RsaPss',
] as const;

export const opcuaSecuritySchema = z
  .object({
    mode: z
      .enum(['None', 'Sign', 'SignAndEncrypt'])
      .default('None')
      .describe('Message security mode: None, Sign, or SignAndEncrypt (recommended on plant networks).'),
    policy: z
      .enum(opcuaSecurityPolicies)
      .optional()
      .describe(
        'Security policy; defaults to Basic256Sha256 with Sign/SignAndEncrypt and None with mode None.',
      ),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.mode === 'None' && s.policy !== undefined && s.policy !== 'None') {
      ctx.addIssue({
        code: 'custom',
        message: `policy ${s.policy} needs mode Sign or SignAndEncrypt`,
        path: ['policy'],
      });
    }
    if (s.mode !== 'None' && s.policy === 'None') {
      ctx.addIssue({
        code: 'custom',
        message: `mode ${s.mode} needs a policy: Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss`,
        path: ['policy'],
      });
    }
  });

export const opcuaAuthSchema = z
  .object({
    username: z.string().min(1).optional().describe('User name; needs password_env or password_file.'),
    password_env: z
      .string()
      .min(1)
      .optional()
      .describe('Name of the environment variable holding the password.'),
    password_file: z
      .string()
      .min(1)
      .optional()
      .describe('Path of a file holding the password (trailing newline ignored).'),
    cert_file: z
      .string()
      .min(1)
      .optional()
      .describe(
        'PEM or DER file of the X.509 user certificate (user authentication by certificate); needs key_file.',
      ),
    key_file: z
      .string()
      .min(1)
      .optional()
      .describe('PEM file of the private key of the X.509 user certificate.'),
  })
  .strict()
  .superRefine((a, ctx) => {
    const pw = [a.password_env, a.password_file].filter((x) => x !== undefined).length;
    const cert = a.cert_file !== undefined || a.key_file !== undefined;
    if (pw > 1)
      ctx.addIssue({
        code: 'custom',
        message: 'give either password_env or password_file, not both',
        path: ['password_file'],
      });
    if (a.username !== undefined && pw === 0) {
      ctx.addIssue({
        code: 'custom',
        message:
          'username needs password_env or password_file next to it (plain passwords are not allowed in the YAML)',
        path: ['username'],
      });
    }
    if (a.username === undefined && pw > 0)
      ctx.addIssue({
        code: 'custom',
        message: 'password_env/password_file need a username',
        path: ['username'],
      });
    if (cert && (a.cert_file === undefined || a.key_file === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'cert_file and key_file go together',
        path: [a.cert_file === undefined ? 'cert_file' : 'key_file'],
      });
    }
    if (cert && a.username !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'use either username/password or a user certificate, not both',
        path: ['username'],
      });
    }
  });

export const opcuaReconnectSchema = z
  .object({
    initial: duration
      .prefault('1s')
      .describe('First delay before reconnecting (before jitter); doubles after each failed attempt.'),
    max: duration.prefault('30s').describe('Longest delay between two reconnect attempts.'),
  })
  .strict();

const maxInFlight = z.number().int().min(100);

const opcuaSourceObject = z
  .object({
    id: componentId.describe('Unique source id, e.g. "press-1".'),
    owner: ownerName.optional(),
    type: z.literal('opcua').describe('OPC UA client (subscriptions or polled reads).'),
    endpoint: z
      .string()
      .regex(/^opc\.tcp:\/\/[^\s/:]+(?::\d+)?(?:\/\S*)?$/, {
        message: 'expected an endpoint URL such as "opc.tcp://10.0.1.20:4840"',
      })
      .describe('Endpoint URL of the OPC UA server, e.g. "opc.tcp://10.0.1.20:4840".'),
    security: opcuaSecuritySchema.prefault({}).describe('Message security (mode and policy).'),
    auth: opcuaAuthSchema
      .optional()
      .describe(
        'User authentication: absent for anonymous, username + password_env/password_file, or cert_file + key_file.',
      ),
    pki_dir: z
      .string()
      .min(1)
      .optional()
      .describe(
        'PKI folder (own certificate, trusted/, rejected/); defaults to "<storage.dir>/opcua/<id>/pki".',
      ),
    mode: z
      .enum(['subscribe', 'poll'])
      .default('subscribe')
      .describe(
        'subscribe (monitored items, the default) or poll (a Read of every signal each poll_interval).',
      ),
    publishing_interval: duration
      .prefault('1s')
      .describe('Subscription publishing interval: how often the server sends the changes it collected.'),
    poll_interval: duration.prefault('1s').describe('Time between two reads of every signal in poll mode.'),
    keepalive_count: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(10)
      .describe(
        'Publishing intervals without changes after which the server sends a keep-alive; a silent server is declared lost after 3 missed keep-alives.',
      ),
    request_timeout: duration
      .prefault('10s')
      .describe('How long to wait for the answer to one request before the connection is declared lost.'),
    session_timeout: duration.prefault('60s').describe('Session timeout requested from the server.'),
    reconnect: opcuaReconnectSchema
      .prefault({})
      .describe('Backoff between reconnect attempts (exponential, with jitter).'),
    max_in_flight: maxInFlight
      .default(100000)
      .describe(
        'Samples held while the journal is slower than the server; beyond this the oldest are dropped and counted (dropped_backpressure).',
      ),
    max_pending: deprecatedField(maxInFlight, 'max_in_flight'),
    attrs: z
      .record(z.string(), z.string())
      .optional()
      .describe('Attributes attached to every sample of this source, e.g. { line: "2" }.'),
    signals: z.array(opcuaSignalSchema).min(1).describe('Signals read from this server.'),
  })
  .strict()
  .superRefine((c, ctx) => {
    c.signals.forEach((s, i) => {
      if (
        c.mode === 'poll' &&
        (s.deadband !== undefined || s.queue_size !== undefined || s.sampling_interval !== undefined)
      ) {
        ctx.addIssue({
          code: 'custom',
          message:
            'sampling_interval, queue_size and deadband apply to mode subscribe only; remove them or set mode: subscribe',
          path: [
            'signals',
            i,
            s.deadband !== undefined
              ? 'deadband'
              : s.queue_size !== undefined
                ? 'queue_size'
                : 'sampling_interval',
          ],
        });
      }
    });
  });

/** Old names still accepted for one release (check-config warns about each use). */
export const opcuaDeprecatedKeys = [{ old: ['max_pending'], new: ['max_in_flight'] }] as const;

export const opcuaSourceSchema = withDeprecatedKeys(opcuaSourceObject, opcuaDeprecatedKeys);

export type OpcuaSourceConfig = z.output<typeof opcuaSourceSchema>;
export type OpcuaSignalConfig = z.output<typeof opcuaSignalSchema>;
export type OpcuaAuthConfig = z.output<typeof opcuaAuthSchema>;

/** What the config loader adds after resolving `password_env`/`password_file`: the adapter only reads this. */
export interface ResolvedOpcuaAuth extends OpcuaAuthConfig {
  password?: Secret | string;
}
