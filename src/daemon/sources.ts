// The running sources of the daemon: starting one (its adapter, its ingest context, its pipeline counters),
// stopping one (keeping its counters for a restart under the same id), and the plain facts /status reads. Kept
// apart from daemon.ts, which only decides when; this knows how.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { adapters } from '../../adapters/index.js';
import type { Adapter, AdapterDefinition, SourceConfigBase } from '../../adapters/kit/types.js';
import type { PlantConfig } from '../config/schema.js';
import type { SourceFacts } from '../health/build-status.js';
import { createAdapterContext, type IngestObserver, type IngestPath } from '../ingest/ingest.js';
import { ConfigError } from '../kit/errors.js';
import { SourceQuality } from '../observe/quality.js';
import { SpecRegistry } from '../pipeline/specs.js';

export type SourceConfig = PlantConfig['sources'][number];

interface RunningSource {
  cfg: SourceConfig;
  adapter: Adapter;
  abort: AbortController;
  quality: SourceQuality;
  startedAt: number;
  /** Computed once: a 10,000-signal source would otherwise rebuild it on every /status request. */
  expectedIntervalMs: number | undefined;
}

export function adapterFor(type: string): AdapterDefinition<SourceConfigBase> {
  const def = adapters.find((a) => a.type === type);
  if (!def) throw new ConfigError(`no adapter for source type "${type}"`);
  return def;
}

/** The pipeline's signal specs for every configured source. */
export function specsOf(cfg: PlantConfig): SpecRegistry {
  return new SpecRegistry(
    cfg.sources.map((s) => ({
      source: { id: s.id, type: s.type },
      declarations: adapterFor(s.type).declarations(s),
    })),
  );
}

export interface RunningSourcesOptions {
  log: Logger;
  /** The ingest path every source shares (pipeline getter, journal, derive hooks, duplicate filter). */
  path: Omit<IngestPath, 'source' | 'observer' | 'signal'>;
  /** The configuration in force (gateway facts and the state directory). */
  config: () => PlantConfig;
}

export class RunningSources {
  readonly #opts: RunningSourcesOptions;
  readonly #running = new Map<string, RunningSource>();
  /** Counters of sources stopped by a reload, by id, carried over when a source with that id starts again. */
  readonly #past = new Map<string, SourceQuality>();

  constructor(opts: RunningSourcesOptions) {
    this.#opts = opts;
  }

  /** The sections running now, by id (for reconcile). */
  configs(): Map<string, SourceConfig> {
    return new Map([...this.#running].map(([id, s]) => [id, s.cfg]));
  }

  async start(cfg: SourceConfig): Promise<void> {
    const def = adapterFor(cfg.type);
    const c = this.#opts.config();
    const decl = def.declarations(cfg);
    const abort = new AbortController();
    const log = this.#opts.log.child({ component: 'source', kind: cfg.type, id: cfg.id });
    const quality = new SourceQuality(
      cfg.id,
      cfg.type,
      decl.exact.map((s) => s.name),
      decl.expected_interval_ms,
    );
    // A reload that restarts this source (its section changed) keeps its pipeline counters: they are per
    // source id for the daemon's life, so /status never goes backwards and received = ingested + quarantined
    // + duplicates_suppressed (DuplicateFilter counts per source id for the daemon's life too).
    const past = this.#past.get(cfg.id);
    if (past) {
      quality.received = past.received;
      quality.ingested = past.ingested;
      quality.quarantined = past.quarantined;
      quality.duplicates = past.duplicates;
      quality.durable = past.durable;
      Object.assign(quality.quarantinedByReason, past.quarantinedByReason);
      this.#past.delete(cfg.id);
    }
    const adapter = def.create(cfg, {
      gatewayId: c.gateway.id,
      site: c.gateway.site,
      timezone: c.gateway.timezone,
      stateDir: join(c.storage.dir, cfg.type, cfg.id),
    });
    this.#running.set(cfg.id, {
      cfg,
      adapter,
      abort,
      quality,
      startedAt: Date.now(),
      expectedIntervalMs: decl.expected_interval_ms,
    });
    const ctx = createAdapterContext({
      ...this.#opts.path,
      source: { id: cfg.id, type: cfg.type },
      log,
      signal: abort.signal,
      // The source's own counters observe its context directly (no lookup by id per emit).
      observer: quality satisfies IngestObserver,
    });
    try {
      await adapter.start(ctx);
    } catch (err) {
      // Adapters retry connection problems themselves; a failure here is logged and shown on /status.
      log.error({ err }, 'The source failed to start; it is shown as down on /status.');
    }
  }

  async stop(id: string): Promise<void> {
    const s = this.#running.get(id);
    if (!s) return;
    s.abort.abort();
    try {
      await s.adapter.stop();
    } catch (err) {
      this.#opts.log.warn({ err, source: id }, 'Stopping a source failed.');
    }
    this.#past.set(id, s.quality);
    this.#running.delete(id);
  }

  /**
   * Stops every source at once. A source whose device never answers (a silent serial line) must not hold the
   * drain and the journal close hostage: after `deadlineMs` the daemon goes on without it.
   */
  async stopAll(deadlineMs: number): Promise<void> {
    await Promise.all(
      [...this.#running.keys()].map((id) =>
        within(this.stop(id), deadlineMs).then((done) => {
          if (!done)
            this.#opts.log.warn({ source: id }, 'The source did not stop in time; going on without it.');
        }),
      ),
    );
  }

  /** What /status shows of each running source, now. */
  facts(now: number, duplicatesSuppressed: (id: string) => number): SourceFacts[] {
    return [...this.#running].map(([id, s]) => {
      const q = s.quality;
      const f: SourceFacts = {
        id,
        type: s.cfg.type,
        health: s.adapter.health(),
        startedAt: s.startedAt,
        received: q.received,
        ingested: q.ingested,
        quarantined: q.quarantined,
        quarantinedByReason: q.quarantinedByReason,
        duplicatesSuppressed: duplicatesSuppressed(id),
        ratePerS: q.rate(now),
        quality: q.quality(now),
      };
      if (s.expectedIntervalMs !== undefined) f.expectedIntervalMs = s.expectedIntervalMs;
      if (q.lastSampleAt !== undefined) f.lastSampleAt = q.lastSampleAt;
      return f;
    });
  }
}

/** Resolves true when `p` settles within `ms`, false when the time ran out first (p keeps running). */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
