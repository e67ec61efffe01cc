// Settings every sink kind shares, because the forwarder (not the sink) applies them: which records a sink takes,
// how batches are cut, how many are in flight, and how retryable failures are retried. Defined once here and
// spread into each sink kind's schema (see http/config.ts), so the YAML keys are the same for every kind.
import { z } from 'zod';
import { componentId, duration, ownerName, size } from '../../config/kit/primitives.js';

export const sinkSelectSchema = z
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

export const sinkBatchSchema = z
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

export const sinkRetrySchema = z
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

export const sinkRateLimitSchema = z
  .object({
    records_per_s: z
      .number()
      .positive()
      .max(10_000_000)
      .optional()
      .describe(
        'Most records per second this sink sends, e.g. 2000: after an outage the backlog drains at this pace instead of as fast as the receiver takes it. Retries count.',
      ),
    requests_per_s: z
      .number()
      .positive()
      .max(100_000)
      .optional()
      .describe('Most requests (batches, retries included) per second this sink sends, e.g. 5.'),
    burst: duration
      .prefault('1s')
      .describe(
        'How much may go at once after a quiet spell, as time at the limit: "1s" lets records_per_s records (and requests_per_s requests) through in one go.',
      ),
  })
  .strict()
  .refine((r) => r.records_per_s !== undefined || r.requests_per_s !== undefined, {
    message: 'set records_per_s, requests_per_s or both (e.g. { records_per_s: 2000 })',
  });

const DAY_MS = 86_400_000;

export const sinkTotalsSchema = z
  .object({
    window: duration
      .prefault('1h')
      .refine((ms) => ms >= 1000 && ms <= DAY_MS && DAY_MS % ms === 0, {
        message:
          'a totals window must divide a day evenly, from 1s to 24h, so that windows align to UTC midnight (e.g. "15m", "1h", "24h")',
      })
      .describe('Length of a reconciliation window, aligned to UTC (e.g. "1h": 10:00-11:00 UTC).'),
  })
  .strict();

/**
 * The fields every sink kind has, spread into its `.strict()` object next to `type` and its own fields. A kind
 * may re-`describe()` a field to name its own failures (the HTTP sink lists the statuses it retries).
 */
export const sinkCommonFields = {
  id: componentId.describe('Unique sink id, e.g. "central"; part of every batch id, so keep it stable.'),
  owner: ownerName
    .optional()
    .describe('Team that owns this sink\'s dead letters, e.g. "erp-team"; the gateway\'s owner when absent.'),
  select: sinkSelectSchema
    .prefault({})
    .describe('Which records this sink takes; everything when absent. All given lists must match.'),
  batch: sinkBatchSchema.prefault({}).describe('How records are grouped into one request.'),
  max_in_flight: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(2)
    .describe('Batches sent concurrently; acknowledgements are still committed in order.'),
  retry: sinkRetrySchema
    .prefault({})
    .describe(
      'How retryable failures are retried: one probe at a time, backing off from initial up to probe_interval, honouring a delay the receiver asks for up to max.',
    ),
  totals: sinkTotalsSchema
    .optional()
    .describe(
      'Reconciliation totals: after each window the sink sends one control.totals event with the counts and an id digest of what it delivered in it (docs/reconciliation.md); off when absent.',
    ),
  rate_limit: sinkRateLimitSchema
    .optional()
    .describe(
      'A token bucket every attempt passes before it is sent, so a drain does not flood the receiver; no limit when absent.',
    ),
};

/**
 * A batch must fit the records bucket, or it could only go as one oversized burst: the cross-field check of
 * `rate_limit` against `batch.max_records`, run by the config-wide checks. Undefined when they agree.
 */
export function rateLimitIssue(sink: SinkConfigBase): { path: string[]; message: string } | undefined {
  const r = sink.rate_limit;
  if (r?.records_per_s === undefined) return undefined;
  const bucket = Math.max(1, Math.floor(r.records_per_s * (r.burst / 1000)));
  if (sink.batch.max_records <= bucket) return undefined;
  return {
    path: ['batch', 'max_records'],
    message: `a batch of ${sink.batch.max_records} records is more than rate_limit lets through at once (records_per_s × burst = ${bucket}); set batch.max_records to ${bucket} or less, or raise rate_limit.burst`,
  };
}

export type SinkSelectConfig = z.output<typeof sinkSelectSchema>;

/** A parsed sink: the fields every kind has (what the forwarder and config-wide checks read), plus its own. */
export interface SinkConfigBase {
  id: string;
  type: string;
  select: SinkSelectConfig;
  batch: z.output<typeof sinkBatchSchema>;
  max_in_flight: number;
  retry: z.output<typeof sinkRetrySchema>;
  rate_limit?: z.output<typeof sinkRateLimitSchema> | undefined;
  totals?: z.output<typeof sinkTotalsSchema> | undefined;
  owner?: string | undefined;
}
