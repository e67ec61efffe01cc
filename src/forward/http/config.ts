// Configuration of an `http` sink: where batches go, how long a request may take, its headers, and how it
// authenticates (secrets only by reference: env var or file) and verifies TLS. What every sink kind has (select,
// batch, max_in_flight, retry) comes from the forwarder's ../config.ts, in the places the YAML always had it.
import { z } from 'zod';
import { duration, urlHasNoCredentials } from '../../config/kit/primitives.js';
import { serverTlsSchema } from '../../config/kit/tls.js';
import { sinkCommonFields } from '../kit/config.js';

const { id, owner, select, batch, max_in_flight, retry, rate_limit, totals } = sinkCommonFields;

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
  .refine(urlHasNoCredentials, {
    // A secret in the URL would sit in the YAML in clear and travel into every place the URL is shown.
    message:
      'put no credentials in the URL: use auth (username with password_env or password_file, or bearer_env/bearer_file)',
  });

const RESERVED_HEADERS = new Set([
  'authorization',
  'idempotency-key',
  'content-type',
  'content-length',
  'host',
  'traceparent',
  'plantgate-config',
]);

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

export const httpSinkTlsSchema = serverTlsSchema;

export const httpSinkSchema = z
  .object({
    id,
    owner,
    type: z.literal('http').describe('HTTP sink: POSTs batches in the plantgate.batch.v1 wire format.'),
    url: httpUrl.describe('URL the batches are POSTed to (http:// or https://).'),
    select,
    batch,
    max_in_flight,
    timeout: duration
      .prefault('30s')
      .describe('Time allowed for one request, from connect to the end of the response.'),
    retry: retry.describe(
      'How retryable failures (408, 429, 5xx, network errors, redirects) are retried: one probe at a time, backing off from initial up to probe_interval, honouring Retry-After up to max.',
    ),
    rate_limit,
    totals,
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
