// Registry entry of the `generator` source.
import { defineAdapter } from '../types.js';
import { generatorSourceSchema, type GeneratorSourceConfig } from './config.js';
import { GeneratorAdapter } from './generator.js';

export const generator = defineAdapter<GeneratorSourceConfig>({
  type: 'generator',
  schema: generatorSourceSchema as unknown as import('zod').ZodType<GeneratorSourceConfig>,
  declarations: (cfg) => ({
    exact: cfg.signals.map(({ shape: _s, min: _mi, max: _ma, period: _p, step: _st, values: _v, invalid_every: _i, ...spec }) => spec),
    patterns: [],
    expected_interval_ms: cfg.interval,
  }),
  create: (cfg) => new GeneratorAdapter(cfg),
});
