// The part of a signal definition every source type shares: canonical name, units, scaling and the
// validation rules. Adapters spread `signalBaseShape` into their own signal schema and add addressing.
import { z } from 'zod';
import { ownerName } from './primitives.js';
import { checkUnit } from './units.js';

export const ucumUnit = z
  .string()
  .min(1)
  .superRefine((u, ctx) => {
    const problem = checkUnit(u);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const valueType = z
  .enum(['number', 'integer', 'boolean', 'string'])
  .describe('What the canonical value is: number (default), integer, boolean or string.');

export const signalBaseShape = {
  name: z
    .string()
    .describe(
      'Canonical signal name, checked against gateway.signal_naming (e.g. "lyon.press1.hydraulic_pressure").',
    ),
  description: z.string().optional().describe('Free text for people; not sent anywhere.'),
  owner: ownerName.optional(),
  value_type: valueType.optional(),
  unit: ucumUnit
    .optional()
    .describe('UCUM code of the unit the source sends, e.g. "[psi]", "[degF]", "Cel".'),
  canonical_unit: ucumUnit
    .optional()
    .describe('UCUM code the value is converted to before it leaves the gateway; defaults to `unit`.'),
  scale: z
    .object({
      factor: z
        .number()
        .optional()
        .describe('Multiplier applied to the raw value before unit conversion (default 1).'),
      offset: z
        .number()
        .optional()
        .describe('Added after the factor (default 0): eng = raw * factor + offset.'),
      raw: z
        .tuple([z.number(), z.number()])
        .optional()
        .describe('Raw range [lo, hi] mapped linearly onto `eng`, e.g. [0, 27648] for an analog card.'),
      eng: z
        .tuple([z.number(), z.number()])
        .optional()
        .describe('Engineering range [lo, hi] that `raw` maps onto.'),
    })
    .strict()
    .optional()
    .describe('Linear scaling from raw counts to engineering units: either factor/offset or raw/eng ranges.'),
  range: z
    .tuple([z.number(), z.number()])
    .optional()
    .describe(
      'Valid range [min, max] in the canonical unit; values outside are quarantined as out_of_range.',
    ),
  enum: z
    .array(z.union([z.string(), z.number(), z.boolean()]))
    .optional()
    .describe('The only values allowed; anything else is quarantined as not_in_enum.'),
  max_rate_of_change: z
    .number()
    .positive()
    .optional()
    .describe(
      'Largest plausible change per second in the canonical unit; faster jumps are quarantined as rate_of_change.',
    ),
  max_length: z.number().int().positive().optional().describe('Longest allowed string value, in characters.'),
  required_attrs: z
    .array(z.string())
    .optional()
    .describe(
      'Attributes every sample must carry (e.g. work_order); missing ones are quarantined as missing_attr.',
    ),
} as const;

/** A signal definition as the pipeline sees it after parsing (adapter-specific fields stripped). */
export interface SignalSpec {
  name: string;
  description?: string;
  /** Team that owns this signal's exceptions; the source's (then the gateway's) when absent. */
  owner?: string;
  value_type?: 'number' | 'integer' | 'boolean' | 'string';
  unit?: string;
  canonical_unit?: string;
  scale?: { factor?: number; offset?: number; raw?: [number, number]; eng?: [number, number] };
  range?: [number, number];
  enum?: Array<string | number | boolean>;
  max_rate_of_change?: number;
  max_length?: number;
  required_attrs?: string[];
}

/**
 * What a source declares to the pipeline: exact signals, and for template-named sources (MQTT topics)
 * patterns whose `*` stands for one dotted segment and whose spec applies to every matching name.
 */
export interface SignalDeclarations {
  exact: SignalSpec[];
  patterns: Array<{ pattern: string; spec: Omit<SignalSpec, 'name'> }>;
  /** How often each signal is expected to arrive (ms), for completeness and stall detection. */
  expected_interval_ms?: number;
}
