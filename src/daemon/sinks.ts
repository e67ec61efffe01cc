// The running sinks of the daemon: one forwarder per configured sink, built by its kind's registry entry
// (src/forward/index.ts), started after the journal is open and stopped before it closes, and the plain facts
// /status reads. Kept apart from daemon.ts, which only decides when; this knows how.
import type { Logger } from 'pino';
import type { PlantConfig } from '../config/schema.js';
import {
  createForwarder,
  type DeclaredSource,
  describeSink,
  type Forwarder,
  type ForwarderMetrics,
  type SinkConfigBase,
} from '../forward/index.js';
import type { SinkFacts } from '../health/build-status.js';
import type { DeadLetter, Journal } from '../journal/types.js';
import { adapterFor } from './sources.js';

interface RunningSink {
  cfg: SinkConfigBase;
  /** Where the sink sends, masked by its kind's describe(): shown on /status. */
  target: string;
  forwarder: Forwarder;
}

export interface RunningSinksOptions {
  log: Logger;
  journal: Journal;
  /** Made once for the daemon's life: forwarders restarted by a reload reuse the same metric objects. */
  metrics: ForwarderMetrics;
  gateway: PlantConfig['gateway'];
  /** The running configuration's fingerprint, read by sinks per request (Plantgate-Config). */
  configFingerprint?: () => string | undefined;
  /** The configured sources' declared signals, read when a sink announces them (Sparkplug births). */
  declared?: () => readonly DeclaredSource[];
  /** storage.dir: sinks keep their small state files there. */
  stateDir?: string;
  /** The owner of a sink's dead letters (read at each start, so a reload's owners apply), and who is told. */
  owner?: (sinkId: string) => string;
  onDeadLetter?: (letter: DeadLetter) => void;
}

export class RunningSinks {
  readonly #opts: RunningSinksOptions;
  readonly #running = new Map<string, RunningSink>();

  constructor(opts: RunningSinksOptions) {
    this.#opts = opts;
  }

  /** The sections running now, by id (for reconcile). */
  configs(): Map<string, SinkConfigBase> {
    return new Map([...this.#running].map(([id, s]) => [id, s.cfg]));
  }

  forwarder(id: string): Forwarder | undefined {
    return this.#running.get(id)?.forwarder;
  }

  /** Register the sink's selector with the journal (journal.setSinks) first. */
  async start(cfg: SinkConfigBase): Promise<void> {
    const forwarder = createForwarder({
      config: cfg,
      journal: this.#opts.journal,
      gatewayId: this.#opts.gateway.id,
      site: this.#opts.gateway.site,
      log: this.#opts.log,
      metrics: this.#opts.metrics,
      configFingerprint: this.#opts.configFingerprint,
      declared: this.#opts.declared,
      stateDir: this.#opts.stateDir,
      owner: this.#opts.owner?.(cfg.id),
      onDeadLetter: this.#opts.onDeadLetter,
    });
    await forwarder.start();
    this.#running.set(cfg.id, { cfg, target: describeSink(cfg), forwarder });
  }

  async stop(id: string, deadlineMs: number): Promise<void> {
    const s = this.#running.get(id);
    if (!s) return;
    try {
      await s.forwarder.stop(deadlineMs);
    } catch (err) {
      this.#opts.log.warn({ err, sink: id }, 'Stopping a sink failed.');
    }
    this.#running.delete(id);
  }

  async stopAll(deadlineMs: number): Promise<void> {
    await Promise.all([...this.#running.keys()].map((id) => this.stop(id, deadlineMs)));
  }

  /** What /status shows of each running sink, now. */
  facts(): SinkFacts[] {
    return [...this.#running].map(([id, s]) => ({
      id,
      type: s.cfg.type,
      target: s.target,
      health: s.forwarder.health(),
    }));
  }
}

/** Each configured source with the signals it declares by exact name (its adapter's declarations). */
export function declaredSources(cfg: PlantConfig): DeclaredSource[] {
  return cfg.sources.map((s) => ({
    id: s.id,
    signals: adapterFor(s.type)
      .declarations(s)
      .exact.map((x) => ({
        name: x.name,
        ...(x.value_type !== undefined ? { value_type: x.value_type } : {}),
        ...((x.canonical_unit ?? x.unit) !== undefined
          ? { unit: (x.canonical_unit ?? x.unit) as string }
          : {}),
      })),
  }));
}
