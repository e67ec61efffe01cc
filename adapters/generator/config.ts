// Configuration of the `generator` source: synthetic signals at a fixed rate, for demos, benchmarks and tests
// of the journal and forwarders before (or without) a real PLC.
import { z } from 'zod';
import { componentId, duration, ownerName } from '../../src/config/kit/primitives.js';
import { signalBaseShape } from '../../src/config/kit/signal.js';

export const generatorSignalSchema = z
  .object({
    ...signalBaseShape,
    shape: z
      .enum(['sine', 'ramp', 'random', 'counter', 'constant', 'square', 'sequence'])
      .default('sine')
      .describe(
        'Value shape: sine, ramp (sawtooth), random (seeded), counter (+step each sample, wraps at max), constant, square, sequence (cycles through `values`).',
      ),
    min: z.number().default(0).describe('Lowest value the shape produces (raw, before scaling).'),
    max: z
      .number()
      .default(100)
      .describe('Highest value the shape produces; the counter wraps to `min` after it.'),
    period: duration.prefault('1m').describe('Period of sine, ramp and square shapes.'),
    step: z.number().default(1).describe('Counter increment per sample.'),
    values: z
      .array(z.union([z.number(), z.string(), z.boolean()]))
      .optional()
      .describe('Values cycled through by the `sequence` shape (e.g. machine states).'),
    invalid_every: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Every Nth sample is made invalid (NaN) on purpose, to exercise quarantine.'),
  })
  .strict();

export const generatorSourceSchema = z
  .object({
    id: componentId.describe('Unique source id, e.g. "gen-1".'),
    owner: ownerName.optional(),
    type: z.literal('generator').describe('Synthetic signal generator.'),
    interval: duration.prefault('1s').describe('Time between two samples of every signal, e.g. "100ms".'),
    batch: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .default(1)
      .describe('Samples per signal emitted at each tick (to reach high rates with few timers).'),
    seed: z.number().int().default(1).describe('Seed of the random shape, so runs are repeatable.'),
    limit: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Stop after this many samples per signal (tests and benchmarks); unlimited when absent.'),
    attrs: z
      .record(z.string(), z.string())
      .optional()
      .describe('Attributes attached to every sample, e.g. { work_order: "WO-1001" }.'),
    signals: z.array(generatorSignalSchema).min(1).describe('Signals to generate.'),
  })
  .strict();

export type GeneratorSourceConfig = z.output<typeof generatorSourceSchema>;
export type GeneratorSignalConfig = z.output<typeof generatorSignalSchema>;
