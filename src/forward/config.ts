// Configuration of an `http` sink: where batches go, which records it takes, how batches are cut,
// how failures are retried, and how it authenticates (secrets only by reference: env var or file).
import { z } from 'zod';
import { componentId, duration, type Secret, size } from '../config/primitives.js';
import { clientCertFields, requireCertKeyPair } from '../config/tls.js';

const httpUrl = z
  .string()
  .refine(
    (s) => {
      try {
        const u = new URL(s);
        return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
      } catch {
        return false;
      }
    },
    { message: 'expected an http:// or https:// URL, e.g. "https://ingest.example.com/v1/batches"' },
  )
  .refine(
    (s) => {
      try {
        const u = new URL(s);
        return u.username === '' && u.password === '';
      } catch {
        return true; // reported by the check above
      }
    },
    {
      // A secret in the URL would sit in the YAML in clear and travel into every place the URL is shown.
      message:
        'put no credentials in the URL: use auth (username with password_env or password_file, or bearer_env/bearer_file)',
    },
  );

const RESERVED_HEADERS = new Set([
  'authorization',
  'idempotency-key',
  'content-type',
  'content-length',
  'host',
]);

export const httpSinkSelectSchema = z
  .object({
    kinds: z
      .array(z.enum(['reading', 'event']))
      .min(1)
      .optional()
      .describe('Record kinds this sink takes: reading, event, or both; all kinds when absent.'),
    types: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe(
        'Event types this sink takes (e.g. production.count); readings are not affected by this list.',
      ),
    signals: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe(
        'Signal names this sink takes; a trailing ".*" matches a prefix (e.g. "lyon.press1.*"). Events are not affected by this list.',
      ),
  })
  .strict();

export const httpSinkBatchSchema = z
  .object({
    max_records: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1000)
      .describe('Largest number of records in one batch.'),
    max_bytes: size
      .prefault('1MiB')
      .describe('Largest stored size of the records of one batch, e.g. "1MiB".'),
    max_wait: duration
      .prefault('1s')
      .describe('How long a batch that is not yet full waits for more records before it is sent anyway.'),
  })
  .strict();

export const httpSinkRetrySchema = z
  .object({
    initial: duration
      .prefault('500ms')
      .describe('First retry delay (before jitter); doubles on each failure.'),
    max: duration
      .prefault('60s')
      .describe(
        'Longest wait between two attempts: a Retry-After from the receiver is honoured up to this, and a longer one is clamped to it (and logged).',
      ),
    probe_interval: duration
      .optional()
      .describe(
        'While the receiver keeps failing, only the oldest pending batch is retried, one request at a time, about every probe_interval (1 to 1.5 times it, jittered); the retry delay starts at initial and doubles up to it. Default 1s, or max when that is shorter. The first success sends every waiting batch at once.',
      ),
  })
  .strict();

export const httpSinkAuthSchema = z
  .object({
    bearer_env: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Name of the environment variable holding the bearer token (sent as "Authorization: Bearer ...").',
      ),
    bearer_file: z
      .string()
      .min(1)
      .optional()
      .describe('Path of a file holding the bearer token (trailing newline ignored).'),
    username: z.string().min(1).optional().describe('User name for HTTP basic authentication.'),
    password_env: z
      .string()
      .min(1)
      .optional()
      .describe('Name of the environment variable holding the basic-auth password.'),
    password_file: z.string().min(1).optional().describe('Path of a file holding the basic-auth password.'),
  })
  .strict()
  .superRefine((a, ctx) => {
    const bearer = [a.bearer_env, a.bearer_file].filter((x) => x !== undefined).length;
    const password = [a.password_env, a.password_file].filter((x) => x !== undefined).length;
    if (bearer > 1) {
      ctx.addIssue({
        code: 'custom',
        message: 'give either bearer_env or bearer_file, not both',
        path: ['bearer_file'],
      });
    }
    if (password > 1) {
      ctx.addIssue({
        code: 'custom',
        message: 'give either password_env or password_file, not both',
        path: ['password_file'],
      });
    }
    if (bearer > 0 && (a.username !== undefined || password > 0)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'use either a bearer token (bearer_env/bearer_file) or basic authentication (username + password_env/password_file), not both',
        path: ['username'],
      });
    }
    if (a.username !== undefined && password === 0) {
      ctx.addIssue({
        code: 'custom',
        message:
          'basic authentication needs password_env or password_file next to username (plain passwords are not allowed in the YAML)',
        path: ['username'],
      });
    }
    if (a.username === undefined && password > 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'password_env/password_file need a username',
        path: ['username'],
      });
    }
    if (bearer === 0 && a.username === undefined && password === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'auth needs bearer_env, bearer_file, or username with password_env/password_file',
        path: [],
      });
    }
  });

export const httpSinkTlsSchema = z
  .object({
    ca_file: z
      .string()
      .min(1)
      .optional()
      .describe(
        'PEM file of the CA(s) that sign the server certificate, for private PKIs; the system CAs otherwise.',
      ),
    ...clientCertFields,
    insecure_skip_verify: z
      .boolean()
      .default(false)
      .describe(
        'Turns off server certificate verification. For lab use only; logged as a warning at every start.',
      ),
  })
  .strict()
  .superRefine(requireCertKeyPair);

export const httpSinkSchema = z
  .object({
    id: componentId.describe('Unique sink id, e.g. "central"; part of every batch id, so keep it stable.'),
    type: z.literal('http').describe('HTTP sink: POSTs batches in the plantgate.batch.v1 wire format.'),
    url: httpUrl.describe('URL the batches are POSTed to (http:// or https://).'),
    select: httpSinkSelectSchema
      .prefault({})
      .describe('Which records this sink takes; everything when absent. All given lists must match.'),
    batch: httpSinkBatchSchema.prefault({}).describe('How records are grouped into one request.'),
    max_in_flight: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(2)
      .describe('Batches sent concurrently; acknowledgements are still committed in order.'),
    timeout: duration
      .prefault('30s')
      .describe('Time allowed for one request, from connect to the end of the response.'),
    retry: httpSinkRetrySchema
      .prefault({})
      .describe(
        'How retryable failures (408, 429, 5xx, network errors, redirects) are retried: one probe at a time, backing off from initial up to probe_interval, honouring Retry-After up to max.',
      ),
    auth: httpSinkAuthSchema
      .optional()
      .describe('Credentials, by reference only: environment variable or file, never the secret itself.'),
    tls: httpSinkTlsSchema
      .optional()
      .describe('TLS settings for https:// URLs; the server is verified by default.'),
    headers: z
      .record(z.string(), z.string())
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers)) {
          if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) {
            ctx.addIssue({ code: 'custom', message: `"${name}" is not an HTTP header name`, path: [name] });
          } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
            ctx.addIssue({
              code: 'custom',
              message: `header "${name}" is set by the sink itself; use auth for credentials`,
              path: [name],
            });
          }
        }
      })
      .optional()
      .describe('Extra request headers, e.g. { X-Plant: lyon }. Do not put credentials here: use auth.'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.tls && !c.url.startsWith('https:')) {
      ctx.addIssue({ code: 'custom', message: 'tls settings need an https:// url', path: ['tls'] });
    }
  });

export type HttpSinkConfig = z.output<typeof httpSinkSchema>;
export type HttpSinkAuthConfig = z.output<typeof httpSinkAuthSchema>;
export type HttpSinkSelectConfig = z.output<typeof httpSinkSelectSchema>;

/**
 * What the config loader adds after resolving `bearer_env`/`bearer_file`/`password_env`/`password_file`:
 * the secret itself. The sink falls back to resolving the references itself when these are absent.
 */
export interface ResolvedHttpSinkAuth extends HttpSinkAuthConfig {
  bearer?: Secret | string;
  password?: Secret | string;
}
