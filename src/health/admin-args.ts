// The arguments of every admin request, as zod schemas shared by both ends: the daemon validates each request
// with them (a request that does not fit is refused with 400 and says why, never half-understood), and the CLI's
// yargs options coerce through the same rules, so `--limit abc` fails before anything is sent.
import { z } from 'zod';
import type { RejectReason } from '../../adapters/mqtt/mapping.js';
import { closest, quoteList } from '../config/kit/suggest.js';
import { MAX_PAGE_LIMIT } from '../journal/types.js';
import { REASON_CODES } from '../pipeline/reasons.js';

/** Quarantine reasons of whole MQTT payloads (adapters/mqtt/mapping.ts); the type check below keeps it complete. */
const PAYLOAD_REASONS = [
  'unparseable',
  'too_large',
  'missing_field',
  'bad_type',
  'unexpected_topic',
] as const;
// Fails to compile when the adapter gains a reason this list lacks.
const payloadReasonsComplete: Exclude<RejectReason, (typeof PAYLOAD_REASONS)[number]> extends never
  ? true
  : never = true;
void payloadReasonsComplete;

/** Every reason code a quarantine entry can carry, sorted: the pipeline's and the MQTT adapter's. */
export const KNOWN_REASONS: readonly string[] = Object.freeze(
  [...new Set<string>([...REASON_CODES, ...PAYLOAD_REASONS])].sort(),
);

/** Default page size of listings when the caller names none. */
export const DEFAULT_LIST_LIMIT = 50;

/** The largest number of quarantine ids one replay or purge may name (bounded request and memory). */
export const MAX_IDS = 10_000;

/** `"x" is not a known <what>; did you mean "y"? Known: "a", "b" …` or undefined when `value` is known. */
export function unknownValue(what: string, value: string, known: readonly string[]): string | undefined {
  if (known.includes(value)) return undefined;
  const hit = closest(value, known);
  return `unknown ${what} "${value}"${hit ? `; did you mean "${hit}"?` : '.'} Valid: ${
    known.length > 0 ? quoteList([...known], 40) : '(none)'
  }.`;
}

/** A whole number written as decimal digits (query strings carry text), within [min, max]. */
const wholeText = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^\d{1,16}$/, `${what} must be a whole number`)
    .transform(Number)
    .pipe(
      z.number().int().min(min, `${what} must be at least ${min}`).max(max, `${what} must be at most ${max}`),
    );

const reasonText = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/, 'a reason code is lower-case letters, digits and _ (e.g. out_of_range)')
  .describe('A quarantine reason code (see src/pipeline/reasons.ts).');

const sinkText = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s]+$/, 'a sink id has no spaces')
  .describe('A sink id from the configuration.');

const sourceText = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s]+$/, 'a source id has no spaces')
  .describe('A source id from the configuration (the source that quarantined the entry).');

const ownerText = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s]+$/, 'an owner has no spaces')
  .describe('An owner (team) named in the configuration, e.g. "quality", or "unassigned".');

const batchIdText = z
  .string()
  .min(1)
  .max(500)
  .regex(/^[^\s]+$/, 'a batch id has no spaces')
  .describe('A batch id as `dead-letters list` prints it (<gateway>:<sink>:<first seq>-<last seq>).');

const limitText = wholeText(1, MAX_PAGE_LIMIT, 'limit').describe(
  `Page size: at most this many items (1..${MAX_PAGE_LIMIT}).`,
);

export const quarantineListQuery = z
  .object({
    limit: limitText.optional(),
    after: wholeText(0, Number.MAX_SAFE_INTEGER, 'after')
      .optional()
      .describe('Cursor: list entries with a larger id than this (the `next` of the previous page).'),
    reason: reasonText.optional(),
    source: sourceText.optional(),
    owner: ownerText.optional(),
  })
  .strict()
  .describe('GET /quarantine: one page of quarantine entries in id order.');

export const quarantineShowQuery = z
  .object({
    id: wholeText(1, Number.MAX_SAFE_INTEGER, 'id').describe('The entry id.'),
  })
  .strict()
  .describe('GET /quarantine/show: one entry with its raw sample.');

export const quarantineExportQuery = z
  .object({ reason: reasonText.optional(), source: sourceText.optional(), owner: ownerText.optional() })
  .strict()
  .describe('GET /quarantine/export: every entry (of one reason) as NDJSON, streamed.');

export const quarantineSelection = z
  .object({
    ids: z
      .array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER))
      .min(1)
      .max(MAX_IDS)
      .optional()
      .describe(`Entry ids (at most ${MAX_IDS}).`),
    reason: reasonText.optional(),
    all: z.literal(true).optional().describe('Every entry.'),
    source: sourceText.optional().describe('Narrows `reason` or `all` to the entries of this source.'),
    owner: ownerText.optional().describe('Narrows `reason` or `all` to the entries this team owns.'),
  })
  .strict()
  .refine((s) => [s.ids !== undefined, s.reason !== undefined, s.all === true].filter(Boolean).length === 1, {
    message: 'name exactly one of: ids, reason, or all',
  })
  .refine((s) => s.ids === undefined || (s.source === undefined && s.owner === undefined), {
    message: 'source and owner narrow reason or all; ids name entries already',
  })
  .describe('POST /quarantine/replay and /quarantine/purge: which entries to act on.');

export const deadLettersListQuery = z
  .object({
    limit: limitText.optional(),
    after: batchIdText.optional().describe('Cursor: the `next` of the previous page (a batch id).'),
    sink: sinkText.optional(),
    owner: ownerText.optional(),
  })
  .strict()
  .describe('GET /dead-letters: one page of dead-lettered batches in sequence order.');

export const deadLetterSelection = z
  .object({
    batch_id: batchIdText.optional(),
    all: z.literal(true).optional().describe('Every dead letter (of `sink` when given).'),
    sink: sinkText.optional(),
  })
  .strict()
  .refine((s) => (s.batch_id !== undefined) !== (s.all === true), {
    message: 'name exactly one of: batch_id or all',
  })
  .describe('POST /dead-letters/replay and /dead-letters/purge: which batches to act on.');

export const emptyQuery = z.object({}).strict().describe('A request that takes no arguments.');

/** One line per problem: `limit: limit must be a whole number`. */
export function describeIssues(err: z.ZodError): string {
  return err.issues
    .map((i) => {
      const where = i.path.join('.');
      if (i.code === 'unrecognized_keys') return `unknown argument(s) ${quoteList(i.keys, 12, 'and')}`;
      return where ? `${where}: ${i.message}` : i.message;
    })
    .join('; ');
}

/** A CLI option value the rules refuse: the CLI reports it as a usage error (exit 2). */
export class CliArgumentError extends Error {
  override name = 'CliArgumentError';
}

/**
 * For yargs `coerce`: validates a CLI value with a schema and returns the parsed value, or throws an Error whose
 * message names the option (yargs prints it and exits 2).
 */
export function cliCoerce<T>(option: string, schema: z.ZodType<T>): (v: unknown) => T | undefined {
  return (v: unknown) => {
    if (v === undefined) return undefined;
    const r = schema.safeParse(v);
    if (!r.success) {
      const msg = r.error.issues.map((i) => i.message).join('; ');
      const shown = typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
      const got = shown !== undefined && !msg.includes(`"${shown}"`) ? ` (got "${shown}")` : '';
      throw new CliArgumentError(`--${option}: ${msg}${got}`);
    }
    return r.data;
  };
}

/** CLI-side schemas: the same rules as the request schemas, for one option each. */
export const cliArgs = {
  limit: z
    .union([z.number(), z.string()])
    .transform((v) => String(v))
    .pipe(limitText),
  after: z
    .union([z.number(), z.string()])
    .transform((v) => String(v))
    .pipe(wholeText(0, Number.MAX_SAFE_INTEGER, 'after')),
  ids: z
    .array(z.union([z.number(), z.string()]).transform((v) => String(v)))
    .max(MAX_IDS, `at most ${MAX_IDS} ids`)
    .pipe(z.array(wholeText(1, Number.MAX_SAFE_INTEGER, 'id'))),
  reason: z
    .string()
    .pipe(reasonText)
    .superRefine((v, ctx) => {
      const msg = unknownValue('reason code', v, KNOWN_REASONS);
      if (msg) ctx.addIssue({ code: 'custom', message: msg });
    }),
  sink: z.string().pipe(sinkText),
  source: z.string().pipe(sourceText),
  owner: z.string().pipe(ownerText),
  batch: z.string().pipe(batchIdText),
};
