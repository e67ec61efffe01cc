// The published shapes of derived events: one zod schema per event type for its `data` payload, and the
// full event record around it. docs/schemas/events/*.json are generated from these (gen-schemas.ts), so the
// ERP contract and the code cannot drift apart; bump the version when a change is not purely additive.
import { z } from 'zod';

/** Schema version of every event payload below; carried in `data.version` and in the schema file names. */
export const EVENT_SCHEMA_VERSION = 1;

const isoMs = z.iso.datetime({ precision: 3 });
const utc = (what: string) => isoMs.describe(`${what}, UTC ISO 8601 with milliseconds.`);
const version = z.literal(EVENT_SCHEMA_VERSION).describe('Version of this payload schema.');
const count = (what: string) => z.number().nonnegative().describe(what);

export const productionCountData = z
  .object({
    version,
    window_start: utc('Start of the window (inclusive)'),
    window_end: utc(
      'End of the window (exclusive). Normally start + window length; earlier when a work order or material change cut the window.',
    ),
    good: count(
      'Good parts counted in the window: sum of the counter increments, with resets and wrap-arounds resolved.',
    ),
    scrap: z
      .number()
      .nonnegative()
      .nullable()
      .describe(
        'Scrap parts counted in the window from the scrap counter; null when no scrap counter is configured.',
      ),
    work_order: z.string().nullable().describe('Work order the parts were produced for; null when unknown.'),
    material: z.string().nullable().describe('Material or article number; null when unknown.'),
    counter_signal: z.string().describe('Canonical name of the good-parts counter signal.'),
    scrap_signal: z
      .string()
      .nullable()
      .describe('Canonical name of the scrap counter signal; null when not configured.'),
    samples: z
      .number()
      .int()
      .nonnegative()
      .describe('Counter samples (good and scrap) that fell into the window.'),
    resets: z
      .number()
      .int()
      .nonnegative()
      .describe('Counter resets seen in the window (the counter went down and restarted from 0).'),
    wraps: z.number().int().nonnegative().describe('Counter wrap-arounds at counter_max seen in the window.'),
    late: count(
      'Parts (good + scrap) included in this window although their sample lies in an earlier window that had already been sent.',
    ),
  })
  .strict()
  .describe('Parts produced by one machine in one window: the ERP production confirmation.');

export const machineStateData = z
  .object({
    version,
    state: z
      .string()
      .describe(
        'State name after the change (from the configured mapping; "unknown" for an unmapped raw value).',
      ),
    previous_state: z
      .string()
      .nullable()
      .describe('State name before the change; null for the first state ever observed.'),
    raw_value: z.union([z.string(), z.number(), z.boolean()]).describe('Raw value of the state signal.'),
    running: z.boolean().describe('Whether the new state is one of the configured running states.'),
  })
  .strict()
  .describe('A machine changed its state.');

export const machineDowntimeData = z
  .object({
    version,
    start: utc(
      'When the machine entered the non-running state (or when the gateway first saw it in that state)',
    ),
    end: utc('When the machine left that state'),
    duration_ms: z.number().int().nonnegative().describe('end - start, in milliseconds.'),
    state: z.string().describe('The non-running state the machine was in (e.g. "stopped", "fault").'),
    reason_code: z
      .union([z.string(), z.number()])
      .nullable()
      .describe(
        'Last value of the reason signal while the downtime was open (or just before); null when none is known.',
      ),
  })
  .strict()
  .describe('A closed period in one non-running state, with its reason code.');

export const qualityExceptionData = z
  .object({
    version,
    signal: z.string().describe('Canonical name of the measured signal.'),
    unit: z.string().nullable().describe('UCUM unit of the values; null when the signal has none.'),
    lsl: z.number().nullable().describe('Lower specification limit; null when only an upper limit is set.'),
    usl: z.number().nullable().describe('Upper specification limit; null when only a lower limit is set.'),
    consecutive: z
      .number()
      .int()
      .positive()
      .describe('Consecutive out-of-specification samples that raise one exception.'),
    evidence: z
      .array(
        z
          .object({
            ts: utc('Source time of the sample'),
            value: z.number().describe('Measured value, outside [lsl, usl].'),
          })
          .strict(),
      )
      .min(1)
      .describe('The consecutive out-of-specification samples, oldest first.'),
  })
  .strict()
  .describe('A measurement stayed outside its specification limits for the configured number of samples.');

const counts = (what: string) =>
  z
    .record(z.string(), z.number().int().nonnegative())
    .describe(`Records delivered in the window by ${what}.`);

export const controlTotalsData = z
  .object({
    version,
    gateway: z.string().describe('Id of the gateway that sent the window.'),
    sink: z.string().describe('Id of the sink whose deliveries the window counts (also the subject).'),
    window_start: utc('Start of the window (inclusive), aligned to UTC'),
    window_end: utc('End of the window (exclusive)'),
    first_seq: z
      .number()
      .int()
      .nonnegative()
      .describe('First journal seq the window covers: one after the previous window of this sink ended.'),
    last_seq: z
      .number()
      .int()
      .nonnegative()
      .describe(
        'Last journal seq the window covers (first_seq - 1 when nothing was committed in it). The window holds the batches whose batch id range lies in first_seq..last_seq, less those a later window lists as replayed.',
      ),
    batches: z
      .number()
      .int()
      .nonnegative()
      .describe('Batches delivered in the window (replayed ones included).'),
    records: z
      .number()
      .int()
      .nonnegative()
      .describe('Records delivered in the window, control records not counted.'),
    by_kind: counts('kind (reading, event)'),
    by_type: counts('event type ("reading" for readings)'),
    by_source: counts('source id ("derived" for events)'),
    digest: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .describe(
        'Sum of the record ids (each 32 hex digits read as an unsigned 128-bit integer) modulo 2^128, as 32 hex digits: the same whatever the order.',
      ),
    replayed: z
      .array(
        z
          .object({
            batch_id: z
              .string()
              .describe('Id of a dead-lettered batch that was replayed and delivered in this window.'),
            records: z.number().int().nonnegative().describe('Records of that batch counted here.'),
          })
          .strict(),
      )
      .describe(
        'Dead letters replayed in this window (the first 1,000): they count here, not in the window of their seqs.',
      ),
    replayed_batches: z
      .number()
      .int()
      .nonnegative()
      .describe('How many dead letters were replayed in the window, also beyond the listed ones.'),
  })
  .strict()
  .describe(
    'What one sink delivered in one window, for reconciliation: counts, the seq range and a digest of the record ids (docs/reconciliation.md).',
  );

export const dataExceptionData = z
  .object({
    version,
    owner: z.string().describe('The team these exceptions belong to (also the subject).'),
    window_start: utc('Start of the window (inclusive), aligned to UTC'),
    window_end: utc('End of the window (exclusive)'),
    total: z
      .number()
      .int()
      .positive()
      .describe('Quarantined samples and dead-lettered records in the window.'),
    by_reason: z
      .record(z.string(), z.number().int().nonnegative())
      .describe('Cases by reason code (not_finite, out_of_range, dead_letter_422, ...).'),
    by_signal: z
      .record(z.string(), z.number().int().nonnegative())
      .describe(
        'Cases by signal name (for dead letters "sink <id>"); the first 50 names, the rest counted under "other".',
      ),
    examples: z
      .array(
        z
          .object({
            at: utc('When the case happened'),
            reason: z.string().describe('Its reason code.'),
            signal: z.string().optional().describe('The signal, when the case is about one.'),
            sink: z.string().optional().describe('The sink, for a dead letter.'),
            source: z.string().optional().describe('The source, for a quarantined sample.'),
            example: z.string().describe('What happened, in words (at most 300 characters).'),
          })
          .strict(),
      )
      .max(3)
      .describe('Up to three cases, one per reason first.'),
  })
  .strict()
  .describe(
    'What went wrong for one owner in one window: one event per owner per window, however many cases, so a ticketing system is told without a storm.',
  );

export const EVENT_DATA_SCHEMAS = {
  'production.count': productionCountData,
  'machine.state': machineStateData,
  'machine.downtime': machineDowntimeData,
  'quality.exception': qualityExceptionData,
  'control.totals': controlTotalsData,
  'data.exception': dataExceptionData,
} as const;

export type EventType = keyof typeof EVENT_DATA_SCHEMAS;
export const EVENT_TYPES = Object.keys(EVENT_DATA_SCHEMAS) as EventType[];

export type ProductionCountData = z.output<typeof productionCountData>;
export type MachineStateData = z.output<typeof machineStateData>;
export type MachineDowntimeData = z.output<typeof machineDowntimeData>;
export type QualityExceptionData = z.output<typeof qualityExceptionData>;

const IDENTITY: Record<EventType, string> = {
  'production.count': 'subject and window start',
  'machine.state': 'subject and the time of the change',
  'machine.downtime': 'subject and downtime start',
  'quality.exception': 'subject and the time of the first evidence sample',
  'control.totals': 'subject (the sink) and window start',
  'data.exception': 'subject (the owner) and window start',
};

/** The full event record of one type, as it appears in a `plantgate.batch.v1` batch. */
export function eventRecordSchema(type: EventType) {
  return z
    .object({
      id: z
        .string()
        .regex(/^[0-9a-f]{32}$/)
        .describe(
          `Content-derived id (128 bits of SHA-256, hex) from gateway id, type, ${IDENTITY[type]}: a recomputation or resend keeps it, so de-duplicate by it.`,
        ),
      kind: z.literal('event').describe('Record kind.'),
      type: z.literal(type).describe('Event type.'),
      ts: utc(
        "The event's own time (window start, change time, downtime start, first evidence; a totals window's start)",
      ),
      subject: z.string().describe('What the event is about, e.g. a machine such as "lyon.packer3".'),
      data: EVENT_DATA_SCHEMAS[type],
    })
    .strict();
}

/** File name of the published JSON Schema of one event type, e.g. `production.count.v1.json`. */
export function schemaFileName(type: EventType): string {
  return `${type}.v${EVENT_SCHEMA_VERSION}.json`;
}

/** The JSON Schema document of one event type (draft 2020-12), with a stable `$id`. */
export function eventJsonSchema(type: EventType): Record<string, unknown> {
  const schema = eventRecordSchema(type);
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  const { $schema, ...rest } = json;
  return {
    $schema,
    $id: `urn:plantgate:event:${type}:v${EVENT_SCHEMA_VERSION}`,
    title: `plantgate ${type} event, version ${EVENT_SCHEMA_VERSION}`,
    description: EVENT_DATA_SCHEMAS[type].description,
    ...rest,
  };
}
