// Configuration of a `nats` sink: the servers, the subject template, the PubAck timeout, how the connection
// authenticates (secrets only by reference: env var or file, resolved by the config loader) and verifies TLS, and
// an optional stream to check at start. What every sink kind has comes from ../kit/config.ts, with its defaults.
import { z } from 'zod';
import { duration, urlHasNoCredentials } from '../../config/kit/primitives.js';
import { serverTlsSchema } from '../../config/kit/tls.js';
import { sinkCommonFields } from '../kit/config.js';
import { placeholdersOf, SUBJECT_PLACEHOLDERS, subjectTemplateProblem } from './subject.js';

const { batch, retry } = sinkCommonFields;

const natsUrl = z
  .string()
  .refine(
    (s) => {
      try {
        const u = new URL(s);
        return ['nats:', 'tls:'].includes(u.protocol) && u.hostname !== '';
      } catch {
        return false;
      }
    },
    { message: 'expected a nats:// or tls:// URL with a host, e.g. "nats://nats1.central.example.com:4222"' },
  )
  .refine(urlHasNoCredentials, {
    message:
      'put no credentials in the URL: use auth (username with password_env/password_file, token_env/token_file, creds_file or nkey_seed_file)',
  });

export const natsSinkAuthSchema = z
  .object({
    username: z.string().min(1).optional().describe('User name, with password_env or password_file.'),
    password_env: z
      .string()
      .min(1)
      .optional()
      .describe('Name of the environment variable holding the password.'),
    password_file: z.string().min(1).optional().describe('Path of a file holding the password.'),
    token_env: z
      .string()
      .min(1)
      .optional()
      .describe('Name of the environment variable holding the authentication token.'),
    token_file: z.string().min(1).optional().describe('Path of a file holding the authentication token.'),
    creds_file: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Path of a NATS .creds file (user JWT and NKey seed, as `nsc` writes it): decentralized auth.',
      ),
    nkey_seed_file: z
      .string()
      .min(1)
      .optional()
      .describe('Path of a file holding an NKey user seed ("SU..."): the server knows the public key.'),
  })
  .strict()
  .superRefine((a, ctx) => {
    const password = [a.password_env, a.password_file].filter((x) => x !== undefined).length;
    const token = [a.token_env, a.token_file].filter((x) => x !== undefined).length;
    if (password > 1)
      ctx.addIssue({
        code: 'custom',
        message: 'give either password_env or password_file, not both',
        path: ['password_file'],
      });
    if (token > 1)
      ctx.addIssue({
        code: 'custom',
        message: 'give either token_env or token_file, not both',
        path: ['token_file'],
      });
    if (a.username !== undefined && password === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'username needs password_env or password_file (plain passwords are not allowed in the YAML)',
        path: ['username'],
      });
    }
    if (a.username === undefined && password > 0)
      ctx.addIssue({
        code: 'custom',
        message: 'password_env/password_file need a username',
        path: ['username'],
      });
    const methods = [
      a.username !== undefined || password > 0 ? 'username/password' : undefined,
      token > 0 ? 'token' : undefined,
      a.creds_file !== undefined ? 'creds_file' : undefined,
      a.nkey_seed_file !== undefined ? 'nkey_seed_file' : undefined,
    ].filter((m) => m !== undefined);
    if (methods.length > 1) {
      ctx.addIssue({
        code: 'custom',
        message: `use one way to authenticate, not ${methods.join(' and ')}`,
        path: [],
      });
    }
    if (methods.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message:
          'auth needs username with password_env/password_file, token_env/token_file, creds_file or nkey_seed_file',
        path: [],
      });
    }
  });

export const natsSinkTlsSchema = serverTlsSchema;

export const natsSinkStreamSchema = z
  .object({
    name: z
      .string()
      .regex(/^[^\s.*>/\\]+$/, {
        message: 'expected a stream name without spaces, ".", "*", ">" or slashes, e.g. "PLANT"',
      })
      .describe('Name of the JetStream stream the subjects land in, e.g. "PLANT".'),
    create: z
      .boolean()
      .default(false)
      .describe(
        'Create the stream (file storage, one replica, the sink subject, a duplicate window of 2m or twice retry.max) when no stream captures the subject. For demos and labs: in production the central side owns its streams.',
      ),
  })
  .strict();

export const natsSinkSchema = z
  .object({
    // Every common field (id, select, batch, max_in_flight, retry, rate_limit...), then the kind's own; batch and
    // retry are described again below in this kind's words.
    ...sinkCommonFields,
    type: z
      .literal('nats')
      .describe(
        'NATS JetStream sink: publishes one message per batch (plantgate.batch.v1) and waits for the PubAck.',
      ),
    servers: z
      .array(natsUrl)
      .min(1)
      .describe(
        'Seed URLs of the NATS cluster (nats:// or tls://); the client learns the other members from them.',
      ),
    subject: z
      .string()
      .min(1)
      .superRefine((s, ctx) => {
        const problem = subjectTemplateProblem(s);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe(
        `Subject template, e.g. "plant.{gateway}.{kind}". Placeholders: ${Object.entries(SUBJECT_PLACEHOLDERS)
          .map(([k, v]) => `{${k}}: ${v}`)
          .join('; ')}.`,
      ),
    stream: natsSinkStreamSchema
      .optional()
      .describe(
        'The stream to check when connected: it must exist, capture the subject, and keep a duplicate_window no shorter than retry.max (a warning otherwise).',
      ),
    batch: batch.describe(
      "How records are grouped into one message. Keep max_bytes at most the server's max_payload (1 MiB by default); the sink checks this when it connects.",
    ),
    timeout: duration
      .prefault('10s')
      .describe(
        "Time allowed for the stream's PubAck of one message; a message without one is resent with the same Nats-Msg-Id.",
      ),
    retry: retry.describe(
      'How retryable failures (no PubAck in time, disconnected, no stream for the subject, stream limits) are retried: one probe at a time, backing off from initial up to probe_interval.',
    ),
    reconnect: z
      .object({
        initial: duration
          .prefault('500ms')
          .describe('First delay before reconnecting; doubles on each failed round.'),
        max: duration.prefault('30s').describe('Longest delay between two reconnection rounds.'),
      })
      .strict()
      .prefault({})
      .describe('Backoff between reconnection rounds over every known server; reconnection never gives up.'),
    auth: natsSinkAuthSchema
      .optional()
      .describe('Credentials, by reference only: environment variable or file, never the secret itself.'),
    tls: natsSinkTlsSchema
      .optional()
      .describe('TLS settings (also turns TLS on for nats:// URLs); the server is verified by default.'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (placeholdersOf(c.subject).includes('kind') && c.select.kinds?.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          'a subject with {kind} needs select.kinds with exactly one kind (one message per batch has one subject); use one sink per kind, e.g. select: { kinds: [reading] }',
        path: ['subject'],
      });
    }
    if (c.reconnect.initial > c.reconnect.max) {
      ctx.addIssue({
        code: 'custom',
        message: 'reconnect.initial must not exceed reconnect.max',
        path: ['reconnect', 'initial'],
      });
    }
  });

export type NatsSinkConfig = z.output<typeof natsSinkSchema>;
