// The sink registry: one line per sink kind, as adapters/index.ts is for protocols. The config schema and
// createForwarder are built from this list, so a new kind is its own folder plus one line here.
import { http } from './http/index.js';
import type { SinkDefinition } from './kit/types.js';
import { mqtt } from './mqtt/index.js';
import { nats } from './nats/index.js';

export const sinkKinds: ReadonlyArray<SinkDefinition> = [
  http as unknown as SinkDefinition,
  nats as unknown as SinkDefinition,
  mqtt as unknown as SinkDefinition,
];

/** The registry entry of a sink type, if any. */
export function sinkKindFor(type: string): SinkDefinition | undefined {
  return sinkKinds.find((k) => k.type === type);
}
