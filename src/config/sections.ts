// Schemas of the gateway-wide sections of the plant configuration: gateway identity, storage (the journal),
// the local health endpoint and the admin socket. Sources, events and sinks have their own files.
import { z } from 'zod';
import { componentId, DEFAULT_SIGNAL_NAMING, duration, ownerName, size } from './kit/primitives.js';
import { ianaTimeZone } from './kit/time-zone.js';

export const gatewaySchema = z
  .object({
    id: componentId.describe(
      'Id of this gateway, e.g. "lyon-edge-01"; part of every record id and batch id, so keep it stable.',
    ),
    site: z.string().min(1).describe('Plant or site name sent with every batch, e.g. "lyon".'),
    timezone: ianaTimeZone.describe(
      'IANA time zone of the site, e.g. "Europe/Paris"; sources that send local time are read in it.',
    ),
    signal_naming: z
      .string()
      .superRefine((re, ctx) => {
        try {
          new RegExp(re);
        } catch (err) {
          ctx.addIssue({
            code: 'custom',
            message: `not a valid regular expression: ${(err as Error).message}`,
          });
        }
      })
      .default(DEFAULT_SIGNAL_NAMING)
      .describe(
        'Regular expression every canonical signal name must match; default: lowercase dotted path with at least two segments.',
      ),
    max_future_skew: duration
      .prefault('5s')
      .describe(
        'How far in the future a source timestamp may be before the sample is quarantined (clock skew).',
      ),
    owner: ownerName
      .default('unassigned')
      .describe(
        'Team that owns exceptions no source, signal, event or sink names an owner for (default "unassigned").',
      ),
    exception_events: z
      .object({
        window: duration
          .prefault('5m')
          .refine((ms) => ms >= 1000 && ms <= 86_400_000, { message: 'between 1s and 24h' })
          .describe('Length of an exception window; one data.exception event per owner per window at most.'),
      })
      .strict()
      .optional()
      .describe(
        'Tell owners: after each window, one data.exception event per owner that had exceptions (counts by reason and signal, with examples), for any sink whose select takes the type data.exception; off when absent.',
      ),
    require_approval: z
      .object({
        approvers_file: z
          .string()
          .min(1)
          .describe(
            'OpenSSH allowed-signers file (one "identity key-type key" line per approver), e.g. /etc/plantgate/approvers; relative paths start at the config file.',
          ),
      })
      .strict()
      .optional()
      .describe(
        'Apply a configuration (at start or reload) only if <config>.sig, made with `ssh-keygen -Y sign -n plantgate-config`, verifies against a key in approvers_file; otherwise start exits 78 and a reload keeps the running configuration.',
      ),
  })
  .strict()
  .describe('Identity of this gateway and site-wide rules.');

/** The bound of the quarantine or of the dead letters: their own size and age, and what goes when full. */
function keptBoundSchema(what: string, maxBytes: string, maxAge: string | undefined) {
  return z
    .object({
      max_bytes: size
        .prefault(maxBytes)
        .describe(`Upper bound of the stored ${what} (default ${maxBytes}), e.g. "64MiB".`),
      max_age: (maxAge === undefined ? duration.optional() : duration.prefault(maxAge)).describe(
        maxAge === undefined
          ? `Entries older than this are dropped and counted (e.g. "30d"); no limit when absent.`
          : `Entries older than this are dropped and counted (default ${maxAge}); "0s" keeps them regardless of age.`,
      ),
      when_full: z
        .enum(['drop_oldest', 'drop_newest'])
        .default('drop_oldest')
        .describe(
          `At max_bytes: drop_oldest (default) drops the oldest ${what}; drop_newest keeps them and drops new ones. Either way counted.`,
        ),
    })
    .strict();
}

export const storageSchema = z
  .object({
    dir: z
      .string()
      .min(1)
      .describe(
        'Directory of the journal (LevelDB) and adapter state; relative paths start at the config file.',
      ),
    max_bytes: size.prefault('1GiB').describe('Upper bound of the journal on disk, e.g. "2GiB".'),
    max_age: duration
      .optional()
      .describe('Records older than this are dropped and counted (e.g. "7d"); no limit when absent.'),
    when_full: z
      .enum(['drop_oldest', 'block'])
      .default('drop_oldest')
      .describe(
        'When the journal is full: drop_oldest (counted per sink) or block (sources wait; MQTT stops acknowledging).',
      ),
    commit_interval: duration
      .prefault('0ms')
      .describe(
        'Group commit: 0ms (default) starts the next synced write as soon as the previous one finished, taking everything that arrived meanwhile; a larger value starts writes at most that often (fewer fsyncs on slow disks, more latency).',
      ),
    quarantine: keptBoundSchema('quarantine entries', '64MiB', '30d')
      .prefault({})
      .describe(
        'Bound of the quarantine (not counted in max_bytes): default 64MiB, 30d, drop_oldest. Dropped entries are counted on /status and /metrics.',
      ),
    dead_letters: keptBoundSchema('dead-letter batches', '256MiB', undefined)
      .prefault({})
      .describe(
        'Bound of the dead letters (not counted in max_bytes): default 256MiB, no age limit, drop_oldest. The records of a dropped batch are counted dropped for its sink.',
      ),
    config_history: z
      .object({
        keep: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(50)
          .describe('How many applied configurations to keep (default 50); the oldest are deleted.'),
      })
      .strict()
      .prefault({})
      .describe(
        'The history of applied configurations in <dir>/config-history (plantgate config history|show|diff).',
      ),
  })
  .strict()
  .describe('The durable journal that keeps records while sinks are unreachable.');

const LISTEN_RE = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/;

/** `host:port` or `[v6]:port`; becomes `{host, port}`. Port 0 lets the OS choose (tests). */
export const listenAddress = z
  .string()
  .superRefine((s, ctx) => {
    const m = LISTEN_RE.exec(s);
    if (!m || Number(m[3]) > 65535) {
      ctx.addIssue({
        code: 'custom',
        message: `expected host:port such as "127.0.0.1:9464" or "[::1]:9464", got ${JSON.stringify(s)}`,
      });
    }
  })
  .transform((s) => {
    const m = LISTEN_RE.exec(s) as RegExpExecArray;
    return { host: (m[1] ?? m[2]) as string, port: Number(m[3]) };
  });

export const healthSchema = z
  .object({
    listen: listenAddress
      .prefault('127.0.0.1:9464')
      .describe(
        'Address of /healthz, /readyz, /status and /metrics; keep it on loopback unless a proxy guards it.',
      ),
    stall_after_intervals: z
      .number()
      .positive()
      .default(10)
      .describe('A source is "stalled" (degraded) after this many expected intervals without a sample.'),
    backlog_degraded_after: duration
      .prefault('5m')
      .describe('A sink whose oldest unacknowledged record is older than this makes the status degraded.'),
    backlog_failing_after: duration
      .prefault('1h')
      .describe('A sink whose oldest unacknowledged record is older than this makes the status failing.'),
  })
  .strict()
  .superRefine((h, ctx) => {
    if (h.backlog_failing_after <= h.backlog_degraded_after) {
      ctx.addIssue({
        code: 'custom',
        path: ['backlog_failing_after'],
        message: 'must be longer than backlog_degraded_after: a backlog is first degraded, then failing',
      });
    }
  })
  .describe('The local health and metrics endpoint.');

export const adminSchema = z
  .object({
    socket: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Unix socket of the admin interface (queue, replay, purge); default <storage.dir>/admin.sock.',
      ),
  })
  .strict()
  .describe('The local admin interface, reachable only through a Unix socket with file permissions.');

export type GatewayConfig = z.output<typeof gatewaySchema>;
export type StorageConfig = z.output<typeof storageSchema>;
export type HealthConfig = z.output<typeof healthSchema>;
