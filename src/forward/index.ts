// The forward room's entry point for the daemon: builds the forwarder of one configured sink (sink + loop),
// and re-exports what the daemon, the CLI and /status need.
import type { Logger } from 'pino';
import type { Journal } from '../journal/types.js';
import { Forwarder, type ForwarderMetrics } from './forwarder.js';
import { HttpSink, type HttpSinkSettings } from './http-sink.js';

export { classifyHttpOutcome, maskUrl, parseRetryAfter } from './classify.js';
export { type HttpSinkConfig, httpSinkSchema, type ResolvedHttpSinkAuth } from './config.js';
export { Forwarder, type ForwarderHealth, type ForwarderMetrics, type ForwarderState } from './forwarder.js';
export { HttpSink, type HttpSinkSettings } from './http-sink.js';
export { createForwarderMetrics } from './metrics.js';
export { recordSelector, sinkSelector } from './select.js';
export type { Batch, Sink, WriteOutcome } from './types.js';

export interface CreateForwarderOptions {
  config: HttpSinkSettings;
  journal: Journal;
  gatewayId: string;
  site: string;
  /** The daemon's logger; the forwarder and its sink log through a child {component:'sink', kind:'http', id}. */
  log: Logger;
  metrics?: ForwarderMetrics;
}

/**
 * Builds the forwarder of one http sink. Register `sinkSelector(config)` with `journal.setSinks` first, start it
 * after the journal is open, and stop it before the journal closes.
 */
export function createForwarder(opts: CreateForwarderOptions): Forwarder {
  const log = opts.log.child({ component: 'sink', kind: 'http', id: opts.config.id });
  const sink = new HttpSink({ config: opts.config, gatewayId: opts.gatewayId, site: opts.site, log });
  return new Forwarder({
    journal: opts.journal,
    sink,
    gatewayId: opts.gatewayId,
    site: opts.site,
    sinkConfig: opts.config,
    log,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  });
}
