// The one place that wires the stages together and owns the lifecycle: journal -> sinks -> sources on start,
// the reverse on stop, a validated hot reload on SIGHUP, and the health, metrics and admin endpoints.
import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { adapters } from '../adapters/index.js';
import type { Adapter, AdapterDefinition, SourceConfigBase } from '../adapters/types.js';
import { formatIssue, loadConfig } from './config/load.js';
import type { PlantConfig } from './config/schema.js';
import { ConfigError } from './errors.js';
import type { EventConfig } from './events/config.js';
import { DeriveStage } from './events/stage.js';
import type { SinkConfigBase } from './forward/config.js';
import type { Forwarder } from './forward/forwarder.js';
import { createForwarder, createForwarderMetrics, describeSink } from './forward/index.js';
import { sinkSelector } from './forward/select.js';
import { adminRoutes } from './health/admin-routes.js';
import { AdminServer } from './health/admin-server.js';
import { pidNote, tcpPortOwners, unixSocketAnswers, unixSocketOwners } from './health/port-owner.js';
import { SystemdNotifier } from './health/sd-notify.js';
import { judge, type SinkSnapshot, type SourceSnapshot } from './health/status.js';
import type { SinkStatus, SourceStatus, StatusDocument } from './health/status-document.js';
import { createAdapterContext, DuplicateFilter, type IngestObserver, replaySample } from './ingest.js';
import { LevelJournal } from './journal/level-journal.js';
import type { Journal, JournalStats } from './journal/types.js';
import type { RawSample } from './model/records.js';
import { createMetrics } from './observe/metrics.js';
import { SourceQuality } from './observe/quality.js';
import { Pipeline } from './pipeline/pipeline.js';
import { SpecRegistry } from './pipeline/specs.js';

const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return 'unknown';
  }
})();

type SourceConfig = PlantConfig['sources'][number];

interface RunningSource {
  cfg: SourceConfig;
  key: string;
  def: AdapterDefinition<SourceConfigBase>;
  adapter: Adapter;
  abort: AbortController;
  quality: SourceQuality;
  startedAt: number;
  /** Computed once: a 10,000-signal source would otherwise rebuild it on every /status request. */
  expectedIntervalMs: number | undefined;
}

interface RunningSink {
  cfg: SinkConfigBase;
  key: string;
  /** Where the sink sends, masked by its kind's describe(): shown on /status. */
  target: string;
  forwarder: Forwarder;
}

export interface DaemonOptions {
  configFile: string;
  log: Logger;
  notifier?: SystemdNotifier;
  /** Deadline for draining in-flight work on stop. */
  stopDeadlineMs?: number;
}

/** A stable key of a config section, to tell changed components from unchanged ones on reload. */
function keyOf(section: unknown): string {
  return JSON.stringify(section, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

export class Daemon {
  readonly #opts: DaemonOptions;
  readonly #log: Logger;
  readonly #notifier: SystemdNotifier;
  #config!: PlantConfig;
  #journal!: Journal & { damaged?: unknown };
  #pipeline!: Pipeline;
  /** Derived events: the hook ingest calls, rollback, tick, persist (events/stage.ts); set once the journal is open. */
  #events!: DeriveStage;
  readonly #sources = new Map<string, RunningSource>();
  /** Exact repeats of recent readings are dropped before the journal, counted per source id (ingest.ts). */
  readonly #dedupe = new DuplicateFilter();
  readonly #sinks = new Map<string, RunningSink>();
  #health: Server | undefined;
  #admin: AdminServer | undefined;
  #ready = false;
  #stopping = false;
  #startedAt = Date.now();
  #loadedAt = Date.now();
  #reloadError: string | undefined;
  /** Set when a reload was applied except for sections only a restart applies (gateway, storage). */
  #restartPending: string | undefined;
  #reloads = 0;
  #timers: NodeJS.Timeout[] = [];
  #dropHistory: Array<{ at: number; dropped: Record<string, number> }> = [];
  #healthAddress: { host: string; port: number } | undefined;
  // One registry for the daemon's life: forwarders restarted by a reload reuse the same metric objects.
  readonly #registry = new Registry();
  readonly #forwarderMetrics = createForwarderMetrics(this.#registry);

  constructor(opts: DaemonOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#notifier = opts.notifier ?? new SystemdNotifier();
  }

  get healthAddress(): { host: string; port: number } | undefined {
    return this.#healthAddress;
  }

  get journal(): Journal {
    return this.#journal;
  }

  get config(): PlantConfig {
    return this.#config;
  }

  /** Loads and validates the configuration; throws ConfigError listing every issue. */
  async #load(): Promise<PlantConfig> {
    const res = await loadConfig(this.#opts.configFile);
    // Valid but probably not meant (e.g. `unit: F`): logged once per load, never a reason to refuse.
    for (const w of res.warnings ?? []) this.#log.warn({ config: formatIssue(w) }, 'Configuration warning.');
    if (!res.ok) {
      throw new ConfigError(res.issues.map(formatIssue).join('\n'));
    }
    return res.config;
  }

  async start(): Promise<void> {
    this.#startedAt = Date.now();
    this.#config = await this.#load();
    this.#loadedAt = Date.now();
    const cfg = this.#config;
    const log = this.#log.child({ gateway: cfg.gateway.id });

    // 0. The health port and the admin socket first: one another process holds is a configuration error
    // (exit 78, no restart loop) found before anything has started.
    await this.#startHealth();
    await this.#checkAdminSocketFree();

    // 1. Journal.
    const journal = new LevelJournal({
      dir: join(cfg.storage.dir, 'journal'),
      maxBytes: cfg.storage.max_bytes,
      maxAgeMs: cfg.storage.max_age,
      whenFull: cfg.storage.when_full,
      commitIntervalMs: cfg.storage.commit_interval,
      commitPolicy: cfg.storage.commit_interval > 0 ? 'interval' : 'eager',
      quarantine: {
        maxBytes: cfg.storage.quarantine.max_bytes,
        maxAgeMs: cfg.storage.quarantine.max_age,
        whenFull: cfg.storage.quarantine.when_full,
      },
      deadLetters: {
        maxBytes: cfg.storage.dead_letters.max_bytes,
        maxAgeMs: cfg.storage.dead_letters.max_age,
        whenFull: cfg.storage.dead_letters.when_full,
      },
      log: log.child({ component: 'journal' }),
    });
    await journal.open();
    this.#journal = journal as Journal & { damaged?: unknown };
    this.#events = new DeriveStage({ journal, log: log.child({ component: 'events' }) });
    // The ids of the most recent appends, so a redelivery of what was synced but not acknowledged is dropped.
    // Best effort: without them a redelivery is journaled again and the receivers de-duplicate it by id.
    try {
      const recovered = await this.#dedupe.recover(journal);
      log.debug({ readings: recovered }, 'Recovered recent reading ids from the journal tail.');
    } catch (err) {
      log.warn(
        { err },
        'Reading the journal tail for recent reading ids failed; redeliveries may be journaled twice.',
      );
    }

    // 2. Sinks (forwarders read from their cursors).
    await this.#journal.setSinks(cfg.sinks.map((s) => sinkSelector(s)));
    for (const s of cfg.sinks) await this.#startSink(s);

    // 3. Pipeline and derived events.
    this.#pipeline = this.#buildPipeline(cfg);
    await this.#events.configure(cfg.gateway.id, (cfg.events ?? []) as EventConfig[]);

    // 4. Sources.
    for (const s of cfg.sources) await this.#startSource(s);

    // 5. Endpoints (the health port is already listening).
    await this.#startAdmin();
    this.#timers.push(
      setInterval(() => {
        if (!this.#stopping) void this.#events.tick(Date.now());
      }, 1000),
    );
    this.#timers.push(setInterval(() => this.#recordDrops(), 60_000));
    this.#recordDrops();
    this.#ready = true;
    const wd = this.#notifier.watchdogIntervalMs();
    if (wd !== undefined) this.#timers.push(setInterval(() => void this.#watchdog(), wd));
    for (const t of this.#timers) t.unref();
    await this.#notifier.ready(`${cfg.sources.length} sources, ${cfg.sinks.length} sinks`);
    log.info(
      {
        sources: cfg.sources.length,
        sinks: cfg.sinks.length,
        health: this.#healthAddress,
        admin: this.#admin?.socketPath,
      },
      'plantgate is running.',
    );
  }

  #specsOf(cfg: PlantConfig): SpecRegistry {
    return new SpecRegistry(
      cfg.sources.map((s) => ({
        source: { id: s.id, type: s.type },
        declarations: this.#defOf(s.type).declarations(s),
      })),
    );
  }

  #buildPipeline(cfg: PlantConfig): Pipeline {
    const specs = this.#specsOf(cfg);
    return new Pipeline({
      gatewayId: cfg.gateway.id,
      timezone: cfg.gateway.timezone,
      maxFutureSkewMs: cfg.gateway.max_future_skew,
      specs,
    });
  }

  #defOf(type: string): AdapterDefinition<SourceConfigBase> {
    const def = adapters.find((a) => a.type === type);
    if (!def) throw new ConfigError(`no adapter for source type "${type}"`);
    return def;
  }

  readonly #observer: IngestObserver = {
    onProcessed: (sourceId, samples, records, rejects, ingestMs) => {
      this.#sources.get(sourceId)?.quality.onProcessed(samples, records, rejects, ingestMs);
    },
    onDurable: (sourceId, accepted, quarantined, at) => {
      this.#sources.get(sourceId)?.quality.onDurable(accepted, quarantined, at);
    },
  };

  /** Counters of sources stopped by a reload, by id, carried over when a source with that id starts again. */
  readonly #pastQuality = new Map<string, SourceQuality>();

  async #startSource(cfg: SourceConfig): Promise<void> {
    const def = this.#defOf(cfg.type);
    const c = this.#config;
    const decl = def.declarations(cfg);
    const abort = new AbortController();
    const log = this.#log.child({ component: 'source', kind: cfg.type, id: cfg.id });
    const quality = new SourceQuality(
      cfg.id,
      cfg.type,
      decl.exact.map((s) => s.name),
      decl.expected_interval_ms,
    );
    // A reload that restarts this source (its section changed) keeps its pipeline counters: they are per
    // source id for the daemon's life, so /status never goes backwards and received = ingested + quarantined
    // + duplicates_suppressed (DuplicateFilter counts per source id for the daemon's life too).
    const past = this.#pastQuality.get(cfg.id);
    if (past) {
      quality.received = past.received;
      quality.ingested = past.ingested;
      quality.quarantined = past.quarantined;
      quality.duplicates = past.duplicates;
      quality.durable = past.durable;
      Object.assign(quality.quarantinedByReason, past.quarantinedByReason);
      this.#pastQuality.delete(cfg.id);
    }
    const adapter = def.create(cfg, {
      gatewayId: c.gateway.id,
      site: c.gateway.site,
      timezone: c.gateway.timezone,
      stateDir: join(c.storage.dir, cfg.type, cfg.id),
    });
    const running: RunningSource = {
      cfg,
      key: keyOf(cfg),
      def,
      adapter,
      abort,
      quality,
      startedAt: Date.now(),
      expectedIntervalMs: decl.expected_interval_ms,
    };
    this.#sources.set(cfg.id, running);
    const ctx = createAdapterContext({
      source: { id: cfg.id, type: cfg.type },
      log,
      signal: abort.signal,
      pipeline: () => this.#pipeline,
      journal: this.#journal,
      ...this.#events.hooks,
      observer: this.#observer,
      dedupe: this.#dedupe,
    });
    try {
      await adapter.start(ctx);
    } catch (err) {
      // Adapters retry connection problems themselves; a failure here is logged and shown on /status.
      log.error({ err }, 'The source failed to start; it is shown as down on /status.');
    }
  }

  async #stopSource(id: string): Promise<void> {
    const s = this.#sources.get(id);
    if (!s) return;
    s.abort.abort();
    try {
      await s.adapter.stop();
    } catch (err) {
      this.#log.warn({ err, source: id }, 'Stopping a source failed.');
    }
    this.#pastQuality.set(id, s.quality);
    this.#sources.delete(id);
  }

  async #startSink(cfg: SinkConfigBase): Promise<void> {
    const c = this.#config;
    const forwarder = createForwarder({
      config: cfg,
      journal: this.#journal,
      gatewayId: c.gateway.id,
      site: c.gateway.site,
      log: this.#log,
      metrics: this.#forwarderMetrics,
    });
    await forwarder.start();
    this.#sinks.set(cfg.id, { cfg, key: keyOf(cfg), target: describeSink(cfg), forwarder });
  }

  async #stopSink(id: string, deadlineMs: number): Promise<void> {
    const s = this.#sinks.get(id);
    if (!s) return;
    try {
      await s.forwarder.stop(deadlineMs);
    } catch (err) {
      this.#log.warn({ err, sink: id }, 'Stopping a sink failed.');
    }
    this.#sinks.delete(id);
  }

  /** SIGHUP: validate first; apply only what changed; a bad file keeps the running configuration. */
  async reload(): Promise<{ ok: boolean; error?: string; changed?: string[]; restart_pending?: string }> {
    void this.#notifier.reloading();
    let next: PlantConfig;
    try {
      next = await this.#load();
    } catch (err) {
      this.#reloadError = err instanceof Error ? err.message : String(err);
      this.#log.error(
        { issues: this.#reloadError },
        'The new configuration is invalid; the previous one keeps running.',
      );
      void this.#notifier.ready('reload failed; previous configuration running');
      return { ok: false, error: this.#reloadError };
    }
    const prev = this.#config;
    const changed: string[] = [];
    if (keyOf(prev.storage) !== keyOf(next.storage) || keyOf(prev.gateway) !== keyOf(next.gateway)) {
      // Not a failure: the reload was applied; only these sections wait for a restart.
      const sections = [
        keyOf(prev.gateway) !== keyOf(next.gateway) ? 'gateway' : undefined,
        keyOf(prev.storage) !== keyOf(next.storage) ? 'storage' : undefined,
      ].filter((x) => x !== undefined);
      this.#restartPending = `the changes to ${sections.join(' and ')} take effect only after a restart (systemctl restart plantgate)`;
    } else {
      this.#restartPending = undefined;
    }
    this.#reloadError = undefined;
    this.#config = { ...next, gateway: prev.gateway, storage: prev.storage };
    this.#reloads += 1;
    this.#loadedAt = Date.now();

    // Sinks: stop removed/changed, register selectors, start added/changed.
    const nextSinks = new Map(next.sinks.map((s) => [s.id, s]));
    for (const [id, running] of this.#sinks) {
      const n = nextSinks.get(id);
      if (!n || keyOf(n) !== running.key) {
        await this.#stopSink(id, this.#opts.stopDeadlineMs ?? 10_000);
        changed.push(`sink ${id} ${n ? 'changed' : 'removed'}`);
      }
    }
    await this.#journal.setSinks(next.sinks.map((s) => sinkSelector(s)));
    for (const s of next.sinks) {
      if (!this.#sinks.has(s.id)) {
        await this.#startSink(s);
        if (!changed.includes(`sink ${s.id} changed`)) changed.push(`sink ${s.id} added`);
      }
    }
    // Pipeline specs and events follow the new file; unchanged sources keep running.
    // New specs, same rate-of-change history.
    this.#pipeline.replaceSpecs(this.#specsOf(this.#config));
    await this.#events.configure(this.#config.gateway.id, (this.#config.events ?? []) as EventConfig[]);
    const nextSources = new Map(next.sources.map((s) => [s.id, s]));
    for (const [id, running] of this.#sources) {
      const n = nextSources.get(id);
      if (!n || keyOf(n) !== running.key) {
        await this.#stopSource(id);
        changed.push(`source ${id} ${n ? 'changed' : 'removed'}`);
      }
    }
    for (const s of next.sources) {
      if (!this.#sources.has(s.id)) {
        await this.#startSource(s);
        if (!changed.includes(`source ${s.id} changed`)) changed.push(`source ${s.id} added`);
      }
    }
    this.#log.info({ changed, restart_pending: this.#restartPending }, 'Configuration reloaded.');
    void this.#notifier.ready('reloaded');
    return this.#restartPending
      ? { ok: true, changed, restart_pending: this.#restartPending }
      : { ok: true, changed };
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#ready = false;
    void this.#notifier.stopping();
    for (const t of this.#timers) clearInterval(t);
    const deadline = this.#opts.stopDeadlineMs ?? 10_000;
    // Sources first: nothing new comes in; their in-flight emits finish into the journal. A source whose
    // device never answers (a silent serial line) must not hold the drain and the journal close hostage.
    await Promise.all(
      [...this.#sources.keys()].map((id) =>
        within(this.#stopSource(id), Math.min(deadline, 5_000)).then((done) => {
          if (!done) this.#log.warn({ source: id }, 'The source did not stop in time; going on without it.');
        }),
      ),
    );
    await this.#events?.persist();
    await Promise.all([...this.#sinks.keys()].map((id) => this.#stopSink(id, deadline)));
    await this.#admin?.stop();
    await new Promise<void>((resolve) => {
      if (!this.#health) return resolve();
      this.#health.closeAllConnections();
      this.#health.close(() => resolve());
    });
    await this.#journal?.close();
    this.#log.info('plantgate stopped; cursors and counters are persisted.');
  }

  async #watchdog(): Promise<void> {
    // Only pet the watchdog when the journal still answers: a wedged store should get us restarted.
    try {
      this.#journal.stats();
      await this.#notifier.watchdog();
    } catch (err) {
      this.#log.error({ err }, 'Health self-check failed; not petting the systemd watchdog.');
    }
  }

  #recordDrops(): void {
    if (!this.#journal) return;
    const st = this.#journal.stats();
    const dropped: Record<string, number> = {};
    for (const [id, l] of Object.entries(st.sinks))
      dropped[id] = Object.values(l.dropped).reduce((a, b) => a + b, 0);
    const now = Date.now();
    this.#dropHistory.push({ at: now, dropped });
    this.#dropHistory = this.#dropHistory.filter((h) => now - h.at <= 16 * 60_000);
  }

  #recentDrops(st: JournalStats): Record<string, number> {
    const first = this.#dropHistory[0];
    const out: Record<string, number> = {};
    for (const [id, l] of Object.entries(st.sinks)) {
      const total = Object.values(l.dropped).reduce((a, b) => a + b, 0);
      out[id] = total - (first?.dropped[id] ?? 0);
    }
    return out;
  }

  status(): StatusDocument {
    const now = Date.now();
    const cfg = this.#config;
    const st = this.#journal.stats();
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    const sources: Record<string, SourceStatus> = {};
    const snaps: SourceSnapshot[] = [];
    let received = 0;
    let ingested = 0;
    let quarantined = 0;
    let duplicates = 0;
    for (const [id, s] of this.#sources) {
      const h = s.adapter.health();
      const q = s.quality;
      const lastAt = q.lastSampleAt ?? h.last_sample_at;
      received += q.received;
      ingested += q.ingested;
      quarantined += q.quarantined;
      const dups = this.#dedupe.suppressed(id);
      duplicates += dups;
      const expected = s.expectedIntervalMs;
      const doc: SourceStatus = {
        type: s.cfg.type,
        state: h.state,
        rate_per_s: Math.round(q.rate(now) * 100) / 100,
        received: q.received,
        ingested: q.ingested,
        quarantined: q.quarantined,
        quarantined_by_reason: { ...q.quarantinedByReason },
        duplicates_suppressed: dups,
        quality: q.quality(now),
        ledger_balanced: q.received === q.ingested + q.quarantined + dups,
      };
      if (h.detail) doc.detail = h.detail;
      if (lastAt !== undefined) {
        doc.last_sample_at = iso(lastAt);
        doc.last_sample_age_s = Math.round((now - lastAt) / 100) / 10;
      }
      if (expected !== undefined) doc.expected_interval_ms = expected;
      if (h.last_error) doc.last_error = h.last_error;
      if (h.last_error_at) doc.last_error_at = iso(h.last_error_at);
      if (h.counters) doc.counters = h.counters;
      if (h.problems?.length) doc.problems = h.problems;
      if (h.unresolved_signals?.length) doc.unresolved_signals = h.unresolved_signals;
      sources[id] = doc;
      const snap: SourceSnapshot = { id, type: s.cfg.type, health: h, startedAt: s.startedAt };
      if (expected !== undefined) snap.expectedIntervalMs = expected;
      if (lastAt !== undefined) snap.lastSampleAt = lastAt;
      snaps.push(snap);
    }
    const sinks: Record<string, SinkStatus> = {};
    const sinkSnaps: SinkSnapshot[] = [];
    for (const [id, k] of this.#sinks) {
      const h = k.forwarder.health();
      const l = st.sinks[id];
      const ledger = l ?? { ingested: 0, delivered: 0, queued: 0, dead_lettered: 0, dropped: {} };
      const droppedTotal = Object.values(ledger.dropped).reduce((a, b) => a + b, 0);
      const oldest = l?.oldest_unacked_at;
      const doc: SinkStatus = {
        type: k.cfg.type,
        url: k.target,
        state: h.state,
        backlog: ledger.queued,
        ledger: {
          ingested: ledger.ingested,
          delivered: ledger.delivered,
          queued: ledger.queued,
          dead_lettered: ledger.dead_lettered,
          dropped: { ...ledger.dropped },
          balanced:
            ledger.ingested === ledger.delivered + ledger.queued + ledger.dead_lettered + droppedTotal,
        },
      };
      if (oldest !== undefined && ledger.queued > 0)
        doc.oldest_unacked_age_s = Math.round((now - oldest) / 100) / 10;
      if (h.last_ack_at !== undefined) doc.last_ack_at = iso(h.last_ack_at);
      if (h.last_error) doc.last_error = h.last_error;
      // An error a later success (or replay) ended is shown as past, with its time, never as the current one.
      if (h.past_error) {
        doc.past_error = `${iso(h.past_error.at)}: ${h.past_error.error} (resolved ${iso(h.past_error.resolved_at)})`;
      }
      if (h.last_alarm) {
        doc.last_alarm = `${new Date(h.last_alarm.at).toISOString()}: batch ${h.last_alarm.batch_id} (${h.last_alarm.records} records) rejected${h.last_alarm.status ? ` with HTTP ${h.last_alarm.status}` : ''}: ${h.last_alarm.error}${h.last_alarm.resolved_at !== undefined ? ` (resolved: replayed and delivered ${iso(h.last_alarm.resolved_at)})` : ''}`;
      }
      if (h.config_problem) doc.config_problem = h.config_problem.error;
      if (h.backlog_growth) doc.backlog_growth = h.backlog_growth;
      if (h.latency_ms_ewma !== undefined) doc.latency_ms = Math.round(h.latency_ms_ewma * 10) / 10;
      doc.in_flight = h.batches_in_flight;
      sinks[id] = doc;
      const snap: SinkSnapshot = { id, state: h.state };
      if (h.last_error) snap.lastError = h.last_error;
      if (h.backlog_growth) {
        snap.backlogGrowth = {
          recordsPerS: h.backlog_growth.records_per_s,
          acceptedPerS: h.backlog_growth.accepted_per_s,
        };
      }
      if (oldest !== undefined) snap.oldestUnackedAt = oldest;
      sinkSnaps.push(snap);
    }
    const verdict = judge(
      now,
      {
        stallAfterIntervals: cfg.health.stall_after_intervals,
        backlogDegradedAfterMs: cfg.health.backlog_degraded_after,
        backlogFailingAfterMs: cfg.health.backlog_failing_after,
      },
      snaps,
      sinkSnaps,
      st as typeof st & { damaged?: { moved_to: string; error: string } },
      {
        reloadError: this.#reloadError,
        restartPending: this.#restartPending,
        ready: this.#ready,
        recentDrops: this.#recentDrops(st),
      },
    );
    const doc: StatusDocument = {
      status: verdict.status,
      reasons: verdict.reasons,
      gateway: { id: cfg.gateway.id, site: cfg.gateway.site },
      version: VERSION,
      pid: process.pid,
      started_at: new Date(this.#startedAt).toISOString(),
      uptime_s: Math.round((now - this.#startedAt) / 1000),
      config: {
        file: this.#opts.configFile,
        loaded_at: new Date(this.#loadedAt).toISOString(),
        reloads: this.#reloads,
      },
      sources,
      sinks,
      journal: {
        records: st.records,
        bytes: st.bytes,
        max_bytes: cfg.storage.max_bytes,
        when_full: cfg.storage.when_full,
        blocked: st.blocked,
        first_seq: st.first_seq,
        last_seq: st.last_seq,
      },
      quarantine: {
        total: st.quarantine.total,
        by_reason: { ...st.quarantine.by_reason },
        held: st.quarantine.held ?? st.quarantine.total,
        held_by_reason: { ...(st.quarantine.held_by_reason ?? st.quarantine.by_reason) },
        replayed: st.quarantine.replayed ?? 0,
        purged: st.quarantine.purged ?? 0,
        bytes: st.quarantine.bytes ?? 0,
        max_bytes: st.quarantine.max_bytes ?? cfg.storage.quarantine.max_bytes,
        dropped: { ...st.quarantine.dropped },
        ...(st.quarantine.dropping_since !== undefined
          ? { dropping_since: new Date(st.quarantine.dropping_since).toISOString() }
          : {}),
      },
      dead_letters: {
        batches: st.dead_letters.batches,
        records: st.dead_letters.records,
        bytes: st.dead_letters.bytes ?? 0,
        max_bytes: st.dead_letters.max_bytes ?? cfg.storage.dead_letters.max_bytes,
        dropped: { ...st.dead_letters.dropped },
        dropped_records: st.dead_letters.dropped_records ?? 0,
        ...(st.dead_letters.dropping_since !== undefined
          ? { dropping_since: new Date(st.dead_letters.dropping_since).toISOString() }
          : {}),
      },
      ledger: {
        pipeline: {
          received,
          ingested,
          quarantined,
          duplicates_suppressed: duplicates,
          balanced: received === ingested + quarantined + duplicates,
        },
        events_derived: this.#events.derived,
      },
    };
    const damaged = (st as { damaged?: unknown }).damaged;
    if (damaged) doc.journal.damaged = damaged;
    if (this.#reloadError) doc.config.reload_error = this.#reloadError;
    if (this.#restartPending) doc.config.restart_pending = this.#restartPending;
    return doc;
  }

  async #startHealth(): Promise<void> {
    const metrics = createMetrics(this.#registry, () => this.status());
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const send = (code: number, type: string, body: string) => {
        res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return send(405, 'text/plain', 'method not allowed\n');
      try {
        switch (path) {
          case '/healthz':
            return send(200, 'application/json', '{"alive":true}\n');
          case '/readyz':
            return this.#ready
              ? send(200, 'application/json', '{"ready":true}\n')
              : send(503, 'application/json', '{"ready":false}\n');
          case '/status': {
            if (!this.#journal) return send(503, 'application/json', '{"status":"starting"}\n');
            const doc = this.status();
            return send(200, 'application/json', `${JSON.stringify(doc, null, 2)}\n`);
          }
          case '/metrics':
            if (!this.#journal) return send(503, 'text/plain', 'starting\n');
            metrics.metrics().then(
              (text) => send(200, metrics.contentType, text),
              (err: unknown) => send(500, 'text/plain', `${String(err)}\n`),
            );
            return;
          default:
            return send(404, 'text/plain', 'not found: try /healthz, /readyz, /status or /metrics\n');
        }
      } catch (err) {
        this.#log.error({ err }, 'A health request failed.');
        return send(500, 'text/plain', 'internal error\n');
      }
    });
    const { host, port } = this.#config.health.listen;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') {
          reject(
            new ConfigError(
              `${host}:${port} is in use by another process${pidNote(tcpPortOwners(port))}; set health.listen to a free address`,
              { cause: err },
            ),
          );
        } else if (err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES') {
          reject(
            new ConfigError(
              `cannot listen on ${host}:${port} (${err.code === 'EACCES' ? 'permission denied' : 'no such local address'}); set health.listen`,
              { cause: err },
            ),
          );
        } else reject(err);
      });
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    this.#healthAddress = typeof addr === 'object' && addr ? { host, port: addr.port } : { host, port };
    this.#health = server;
  }

  /** A live daemon on our admin socket path would otherwise lose its socket to us (the file is replaced). */
  async #checkAdminSocketFree(): Promise<void> {
    const socketPath = this.#config.admin?.socket ?? join(this.#config.storage.dir, 'admin.sock');
    // A directory the service user cannot create or write (e.g. /run/plantgate without the unit's
    // RuntimeDirectory=) is a configuration problem: exit 78 with the path, not a crash and a restart loop.
    const socketDir = dirname(socketPath);
    try {
      mkdirSync(socketDir, { recursive: true });
      accessSync(socketDir, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new ConfigError(
        `cannot create the admin socket in ${socketDir} (${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code}); create that directory for the service user (systemd: RuntimeDirectory=plantgate for /run/plantgate) or set admin.socket`,
        { cause: err },
      );
    }
    if (await unixSocketAnswers(socketPath)) {
      throw new ConfigError(
        `the admin socket ${socketPath} is in use by another process${pidNote(unixSocketOwners(socketPath))}; stop that daemon or set admin.socket`,
      );
    }
  }

  async #startAdmin(): Promise<void> {
    const socketPath = this.#config.admin?.socket ?? join(this.#config.storage.dir, 'admin.sock');
    this.#admin = new AdminServer({
      socketPath,
      tokenPath: join(this.#config.storage.dir, 'admin.token'),
      routes: adminRoutes(this.#adminApi()),
      log: this.#log.child({ component: 'admin' }),
    });
    await this.#admin.start();
  }

  #adminApi() {
    return {
      status: () => this.status(),
      journal: () => this.#journal,
      replaySample: (sourceId: string, sourceType: string, sample: RawSample) =>
        this.#replaySample(sourceId, sourceType, sample),
      replayDeadLetter: (sinkId: string, batchId: string) => {
        const s = this.#sinks.get(sinkId);
        if (!s)
          throw new Error(`sink "${sinkId}" is not configured any more; its dead letters can only be purged`);
        return s.forwarder.replayDeadLetter(batchId);
      },
      reload: () => this.reload(),
    };
  }

  /** Re-runs a quarantined sample through the one ingest path (ingest.ts) with the current configuration. */
  #replaySample(
    sourceId: string,
    sourceType: string,
    sample: RawSample,
  ): Promise<{ ok: boolean; reason?: string; detail?: string }> {
    return replaySample(
      {
        source: { id: sourceId, type: sourceType },
        pipeline: this.#pipeline,
        journal: this.#journal,
        ...this.#events.hooks,
        dedupe: this.#dedupe,
      },
      sample,
    );
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
