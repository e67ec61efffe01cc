// Registry entry of the `generator` source.
import { defineAdapter } from '../kit/types.js';
import { type GeneratorSourceConfig, generatorSourceSchema } from './config.js';
import { GeneratorAdapter } from './generator.js';

export const generator = defineAdapter<GeneratorSourceConfig>({
  type: 'generator',
  schema: generatorSourceSchema as unknown as import('zod').ZodType<GeneratorSourceConfig>,
  declarations: (cfg) => ({
    exact: cfg.signals.map(
      ({ shape: _s, min: _mi, max: _ma, period: _p, step: _st, values: _v, invalid_every: _i, ...spec }) =>
        spec,
    ),
    patterns: [],
    expected_interval_ms: cfg.interval,
  }),
  // Samples of one tick are spread 1 ms or more apart; more samples than milliseconds would repeat timestamps,
  // and readings of a signal with the same time and value share one content id (they are the same reading).
  check: (cfg) =>
    cfg.batch > cfg.interval
      ? [
          {
            path: ['batch'],
            message: `batch ${cfg.batch} is larger than interval in milliseconds (${cfg.interval}): samples would share timestamps; use at most ${cfg.interval} per tick or a longer interval`,
          },
        ]
      : [],
  create: (cfg) => new GeneratorAdapter(cfg),
});
