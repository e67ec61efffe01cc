// The plant configuration's top-level schema, composed from the gateway sections, the adapter registry
// (one source type per entry of adapters/index.ts), the derived events and the sink registry (one sink kind per
// entry of src/forward/registry.ts). Built at import time from whatever the registries hold, so a new adapter or
// sink kind needs no change here.
import { posix } from 'node:path';
import { z } from 'zod';
import { adapters } from '../../adapters/index.js';
import type { AdapterDefinition, SourceConfigBase } from '../../adapters/kit/types.js';
import { eventConfigSchema } from '../events/config.js';
import type { SinkConfigBase } from '../forward/kit/config.js';
import { sinkKinds } from '../forward/registry.js';
import { labelTypedUnion } from './messages.js';
import { adminSchema, gatewaySchema, healthSchema, storageSchema } from './sections.js';

/** A parsed source: the fields every source has, plus its adapter's own (typed by the adapter's config.ts). */
export type SourceConfig = SourceConfigBase & Record<string, unknown>;

type DiscriminableSchema = z.ZodObject;

/** Source types registered in adapters/index.ts, in registry order. */
export function sourceTypes(): string[] {
  return adapters.map((a) => a.type);
}

/** The registry entry of a source type, if any. */
export function adapterFor(type: string): AdapterDefinition<SourceConfigBase> | undefined {
  return adapters.find((a) => a.type === type);
}

const sourceUnion = z
  .discriminatedUnion(
    'type',
    adapters.map((a) => a.schema) as unknown as [DiscriminableSchema, ...DiscriminableSchema[]],
  )
  .describe(`A source of signals; "type" selects the protocol: ${sourceTypes().join(', ')}.`);
// describe() clones, so the label goes on the instance that is actually used.
labelTypedUnion(sourceUnion, 'source');
export const sourceConfigSchema = sourceUnion as unknown as z.ZodType<SourceConfig>;

/** A parsed sink: the fields every sink kind has (src/forward/kit/config.ts), plus its kind's own. */
export type SinkConfig = SinkConfigBase & Record<string, unknown>;

const sinkUnion = z
  .discriminatedUnion(
    'type',
    sinkKinds.map((k) => k.schema) as unknown as [DiscriminableSchema, ...DiscriminableSchema[]],
  )
  .describe(
    `A northbound destination; "type" selects the protocol: ${sinkKinds.map((k) => k.type).join(', ')}.`,
  );
labelTypedUnion(sinkUnion, 'sink');
export const sinkConfigSchema = sinkUnion as unknown as z.ZodType<SinkConfig>;

// The events union is built in src/events/config.ts; its inner discriminated union carries the label.
const eventsInner = (eventConfigSchema as unknown as { _zod: { def: { in?: object } } })._zod.def.in;
if (eventsInner) labelTypedUnion(eventsInner, 'event');

export const plantConfigSchema = z
  .object({
    gateway: gatewaySchema,
    storage: storageSchema,
    health: healthSchema.prefault({}),
    admin: adminSchema.prefault({}),
    sources: z
      .array(sourceConfigSchema)
      .describe(
        'Where signals come from: PLCs and line systems over OPC UA, Modbus, MQTT, or the generator. May be empty, e.g. to drain the journal after the last source was removed.',
      ),
    events: z
      .array(eventConfigSchema)
      .default([])
      .describe(
        'Events derived at the edge from signals: production counts, machine states, quality exceptions.',
      ),
    sinks: z
      .array(sinkConfigSchema)
      .default([])
      .describe('Where records are forwarded; each sink has its own cursor in the journal.'),
  })
  .strict()
  .transform((c) => ({
    ...c,
    // Relative to storage.dir as written; the loader then makes every path absolute against the config file.
    admin: { ...c.admin, socket: c.admin.socket ?? posix.join(c.storage.dir, 'admin.sock') },
  }))
  .describe('plantgate plant configuration: one file per gateway.');

export type PlantConfig = z.output<typeof plantConfigSchema>;
export type { EventConfig } from '../events/config.js';
export type { GatewayConfig, HealthConfig, StorageConfig } from './sections.js';
