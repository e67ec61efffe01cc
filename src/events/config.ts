// Configuration of derived (edge) events: production counts per window, machine states and downtime,
// quality exceptions. Each entry names the signals it is computed from; the config loader checks that
// those signals are declared by a source, so this file only states the shapes and which fields are references.
import { z } from 'zod';
import { componentId, duration, ownerName } from '../config/kit/primitives.js';
import { didYouMean, quoteList } from '../config/kit/suggest.js';

const signalRef = (what: string) => z.string().min(1).describe(what);

/**
 * A piece of context attached to an event, either read from a signal (its latest value) or fixed text.
 * Written as a mapping so that a signal name and fixed text can never be confused.
 */
export const contextValueSchema = z
  .object(
    {
      signal: z
        .string()
        .min(1)
        .optional()
        .describe('Take the latest value of this signal (e.g. "lyon.packer3.work_order").'),
      value: z.string().min(1).optional().describe('Fixed text (e.g. "WO-1001" or a material number).'),
    },
    {
      error: (iss) =>
        iss.code === 'invalid_type' && typeof iss.input === 'string'
          ? `expected a mapping: { signal: ${iss.input} } to read it from that signal, or { value: ${iss.input} } for fixed text`
          : undefined,
    },
  )
  .strict()
  .superRefine((v, ctx) => {
    if ((v.signal === undefined) === (v.value === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'give exactly one of signal (read from a signal) or value (fixed text)',
      });
    }
  })
  .describe('Either { signal: <signal name> } or { value: <fixed text> }.');

const eventId = componentId
  .optional()
  .describe('Stable id of this event definition; defaults to "<type>:<subject>". Must be unique.');

const eventOwner = ownerName
  .optional()
  .describe(
    'Team that owns the samples this definition could not use (bad quality, invalid value, out of order), e.g. "quality"; the gateway\'s owner when absent.',
  );

const lateness = duration
  .optional()
  .describe(
    'How long samples are held to put them in source-time order, and how long a window stays open after its end for late samples (default 5s).',
  );

const subject = z
  .string()
  .min(1)
  .optional()
  .describe(
    'What the events are about (e.g. a machine such as "lyon.packer3"); defaults to the main signal name.',
  );

export const productionCountSchema = z
  .object({
    type: z
      .literal('production.count')
      .describe(
        'Counts produced (and scrapped) parts per window from a PLC counter; handles wrap-around and resets.',
      ),
    id: eventId,
    owner: eventOwner,
    subject,
    lateness,
    counter: signalRef('Signal of the good-parts counter (a monotonically increasing PLC counter).'),
    scrap_counter: signalRef('Signal of the scrap counter, counted the same way.').optional(),
    counter_max: z
      .number()
      .int()
      .positive()
      .default(4294967295)
      .describe(
        'Largest value of the counter before it wraps to 0 (4294967295 for a 32-bit unsigned counter).',
      ),
    window: duration
      .prefault('1h')
      .describe('Length of each counting window, aligned to the clock (e.g. "1m", "1h").'),
    work_order: contextValueSchema.optional().describe('Work order attached to each count.'),
    material: contextValueSchema.optional().describe('Material or article attached to each count.'),
  })
  .strict();

export const machineStateSchema = z
  .object({
    type: z
      .literal('machine.state')
      .describe('Maps a raw state signal onto named states; emits state changes and downtime periods.'),
    id: eventId,
    owner: eventOwner,
    subject,
    lateness,
    state: signalRef('Signal carrying the raw machine state (a number or text).'),
    states: z
      .record(z.string(), z.string().min(1))
      .refine((m) => Object.keys(m).length > 0, { message: 'list at least one raw value and its state name' })
      .describe(
        'Raw value (as written, e.g. 0, 1, "AUTO") to state name, e.g. { 0: stopped, 1: running, 2: fault }.',
      ),
    running: z
      .array(z.string().min(1))
      .min(1)
      .describe('State names that are not downtime (e.g. [running]); every other state counts as downtime.'),
    reason: signalRef(
      'Signal carrying the downtime reason code, attached to each downtime event.',
    ).optional(),
  })
  .strict()
  .superRefine((e, ctx) => {
    const names = [...new Set(Object.values(e.states))];
    e.running.forEach((r, i) => {
      if (!names.includes(r)) {
        ctx.addIssue({
          code: 'custom',
          path: ['running', i],
          message: `"${r}" is not one of the state names in states (${quoteList(names, 12, 'and')})${didYouMean(r, names)}`,
        });
      }
    });
  });

export const qualityExceptionSchema = z
  .object({
    type: z
      .literal('quality.exception')
      .describe('Raises an exception when a measurement stays outside its specification limits.'),
    id: eventId,
    owner: eventOwner,
    subject,
    lateness,
    signal: signalRef('Signal of the measured characteristic, in its canonical unit.'),
    lsl: z.number().optional().describe('Lower specification limit, in the canonical unit of the signal.'),
    usl: z.number().optional().describe('Upper specification limit, in the canonical unit of the signal.'),
    consecutive: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe('Number of consecutive out-of-specification values that raise one exception.'),
  })
  .strict()
  .superRefine((e, ctx) => {
    if (e.lsl === undefined && e.usl === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['usl'],
        message: 'give lsl, usl or both: without a limit nothing is an exception',
      });
    }
    if (e.lsl !== undefined && e.usl !== undefined && e.lsl >= e.usl) {
      ctx.addIssue({
        code: 'custom',
        path: ['usl'],
        message: `usl (${e.usl}) must be above lsl (${e.lsl})`,
      });
    }
  });

/** Record types each event definition produces, so a sink's `select.types` can be checked. */
export const EVENT_RECORD_TYPES = {
  'production.count': ['production.count'],
  'machine.state': ['machine.state', 'machine.downtime'],
  'quality.exception': ['quality.exception'],
} as const satisfies Record<string, readonly string[]>;

export const KNOWN_EVENT_RECORD_TYPES: readonly string[] = [
  ...new Set(Object.values(EVENT_RECORD_TYPES).flat()),
];

export const eventConfigSchema = z
  .discriminatedUnion('type', [productionCountSchema, machineStateSchema, qualityExceptionSchema])
  .transform((e) => {
    const subjectOf =
      e.subject ??
      (e.type === 'production.count' ? e.counter : e.type === 'machine.state' ? e.state : e.signal);
    return { ...e, subject: subjectOf, id: e.id ?? `${e.type}:${subjectOf}` };
  })
  .describe('A derived event: production.count, machine.state or quality.exception.');

export type EventConfig = z.output<typeof eventConfigSchema>;
export type ProductionCountConfig = Extract<EventConfig, { type: 'production.count' }>;
export type MachineStateConfig = Extract<EventConfig, { type: 'machine.state' }>;
export type QualityExceptionConfig = Extract<EventConfig, { type: 'quality.exception' }>;
export type ContextValueConfig = z.output<typeof contextValueSchema>;

/** The event definition types (`type:` values) this build knows. */
export const EVENT_CONFIG_TYPES = Object.keys(EVENT_RECORD_TYPES) as Array<keyof typeof EVENT_RECORD_TYPES>;

/** Every signal an event definition reads, with the key path (inside the event) where it is named. */
export function eventSignalRefs(e: EventConfig): Array<{ path: Array<string | number>; signal: string }> {
  const refs: Array<{ path: Array<string | number>; signal: string }> = [];
  const ctxRef = (key: string, v: ContextValueConfig | undefined) => {
    if (v?.signal !== undefined) refs.push({ path: [key, 'signal'], signal: v.signal });
  };
  switch (e.type) {
    case 'production.count':
      refs.push({ path: ['counter'], signal: e.counter });
      if (e.scrap_counter !== undefined) refs.push({ path: ['scrap_counter'], signal: e.scrap_counter });
      ctxRef('work_order', e.work_order);
      ctxRef('material', e.material);
      break;
    case 'machine.state':
      refs.push({ path: ['state'], signal: e.state });
      if (e.reason !== undefined) refs.push({ path: ['reason'], signal: e.reason });
      break;
    case 'quality.exception':
      refs.push({ path: ['signal'], signal: e.signal });
      break;
  }
  return refs;
}
