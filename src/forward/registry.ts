// The sink registry: one line per sink kind, as adapters/index.ts is for protocols. The config schema and
// createForwarder are built from this list, so a new kind is its own folder plus one line here.
import { http } from './http/index.js';
import { rateLimitIssue, type SinkConfigBase } from './kit/config.js';
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

/**
 * A sink section's own checks beyond its schema: its rate limit against its batch size, and its kind's `check`
 * (which needs the gateway's id and site). Paths are inside the sink section.
 */
export function sinkIssues(
  sink: SinkConfigBase,
  gateway: { id: string; site: string } | undefined,
): Array<{ path: Array<string | number>; message: string }> {
  const out: Array<{ path: Array<string | number>; message: string }> = [];
  const limit = rateLimitIssue(sink);
  if (limit) out.push(limit);
  if (gateway) out.push(...(sinkKindFor(sink.type)?.check?.(sink, gateway) ?? []));
  return out;
}
