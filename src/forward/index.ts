// The forward room's entry point for the daemon: builds the forwarder of one configured sink (its kind's sink +
// the loop), and re-exports what the daemon, the CLI and /status need. It names no sink kind: those are in
// registry.ts.
import type { Logger } from 'pino';
import type { DeadLetter, Journal } from '../journal/types.js';
import { PlantgateError } from '../kit/errors.js';
import { Forwarder, type ForwarderMetrics } from './forwarder.js';
import type { SinkConfigBase } from './kit/config.js';
import type { DeclaredSource, SinkDefinition } from './kit/types.js';
import { sinkKindFor } from './registry.js';

export { Forwarder, type ForwarderHealth, type ForwarderMetrics, type ForwarderState } from './forwarder.js';
export { type SinkConfigBase, type SinkSelectConfig, sinkCommonFields } from './kit/config.js';
export type {
  Batch,
  DeclaredSource,
  Sink,
  SinkDefinition,
  SinkEnv,
  SinkHealth,
  WriteOutcome,
} from './kit/types.js';
export { createForwarderMetrics } from './metrics.js';
export { sinkKindFor, sinkKinds } from './registry.js';
export { recordSelector, sinkSelector } from './select.js';
export { type TraceAnswer, traceLines, traceQuery } from './trace-lookup.js';

export interface CreateForwarderOptions {
  /** A sink section as the config loader parsed it (secrets resolved); its `type` picks the registry entry. */
  config: SinkConfigBase;
  journal: Journal;
  gatewayId: string;
  site: string;
  /** The daemon's logger; the forwarder and its sink log through a child {component:'sink', kind, id}. */
  log: Logger;
  metrics?: ForwarderMetrics;
  /** The running configuration's fingerprint, for sinks that send it (SinkEnv.configFingerprint). */
  configFingerprint?: (() => string | undefined) | undefined;
  /** The configured sources' declared signals (SinkEnv.declared). */
  declared?: (() => readonly DeclaredSource[]) | undefined;
  /** Directory for the sinks' small state files (SinkEnv.stateDir). */
  stateDir?: string | undefined;
  /** The owner of the sink's dead letters, and who is told of each (the exception board). */
  owner?: string | undefined;
  onDeadLetter?: ((letter: DeadLetter) => void) | undefined;
}

/** Where a configured sink sends, masked, as its kind describes it (for /status and the logs). */
export function describeSink(config: SinkConfigBase): string {
  return kindOf(config).describe(config);
}

/**
 * Builds the forwarder of one sink. Register `sinkSelector(config)` with `journal.setSinks` first, start it
 * after the journal is open, and stop it before the journal closes.
 */
export function createForwarder(opts: CreateForwarderOptions): Forwarder {
  const kind = kindOf(opts.config);
  const log = opts.log.child({ component: 'sink', kind: kind.type, id: opts.config.id });
  const sink = kind.create(opts.config, {
    gatewayId: opts.gatewayId,
    site: opts.site,
    log,
    configFingerprint: opts.configFingerprint,
    declared: opts.declared,
    stateDir: opts.stateDir,
  });
  return new Forwarder({
    journal: opts.journal,
    sink,
    gatewayId: opts.gatewayId,
    site: opts.site,
    sinkConfig: opts.config,
    target: kind.describe(opts.config),
    log,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    owner: opts.owner,
    onDeadLetter: opts.onDeadLetter,
  });
}

function kindOf(config: SinkConfigBase): SinkDefinition {
  const kind = sinkKindFor(config.type);
  // The config schema is built from the same registry, so a parsed configuration always finds its kind.
  if (!kind) throw new PlantgateError('INTERNAL', `No sink kind "${config.type}" is registered.`);
  return kind;
}
