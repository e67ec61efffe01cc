// The one place that wires the stages together and owns the lifecycle: journal -> sinks -> sources on start,
// the reverse on stop, a validated hot reload on SIGHUP, and the health, metrics and admin endpoints. How each
// part runs lives in its own room: running sources and sinks and the reload diff in src/daemon/, the status
// document, the health server and the admin socket in src/health/, derived events in src/events/stage.ts, the
// ingest path in src/ingest/ingest.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { formatIssue, loadConfig } from './config/load.js';
import type { PlantConfig } from './config/schema.js';
import { ConfigGovernance, type LoadedConfig } from './daemon/config-governance.js';
import { DaemonExceptions } from './daemon/exceptions.js';
import { openJournal } from './daemon/journal.js';
import { configKey, describePlan, reconcile } from './daemon/reconcile.js';
import { declaredSources, RunningSinks } from './daemon/sinks.js';
import { RunningSources, specsOf } from './daemon/sources.js';
import type { EventConfig } from './events/config.js';
import { DeriveStage } from './events/stage.js';
import { createForwarderMetrics, sinkSelector, traceQuery } from './forward/index.js';
import { adminRoutes } from './health/admin-routes.js';
import { AdminServer } from './health/admin-server.js';
import { adminSocketPath, checkAdminSocketFree } from './health/admin-socket.js';
import { buildStatus } from './health/build-status.js';
import { DropHistory } from './health/drop-history.js';
import { HealthServer, healthRoutes } from './health/health-server.js';
import {
  HISTORY_MAX_SERIES,
  HISTORY_POINTS,
  HistoryRing,
  historyIntervalMs,
  historyValues,
} from './health/history-ring.js';
import { RecentEvents } from './health/recent-events.js';
import { SystemdNotifier } from './health/sd-notify.js';
import type { StatusDocument } from './health/status-document.js';
import { pageRoutes } from './health/status-page.js';
import { DuplicateFilter, replaySample } from './ingest/ingest.js';
import type { Journal } from './journal/types.js';
import { ConfigError } from './kit/errors.js';
import type { RawSample } from './model/records.js';
import { Pipeline } from './pipeline/pipeline.js';

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

/** How often the page's recent events compare status documents (the charts sample on their own interval). */
const OBSERVE_MS = 2000;

export interface DaemonOptions {
  configFile: string;
  log: Logger;
  notifier?: SystemdNotifier;
  /** Deadline for draining in-flight work on stop. */
  stopDeadlineMs?: number;
}

export class Daemon {
  readonly #opts: DaemonOptions;
  readonly #log: Logger;
  readonly #notifier: SystemdNotifier;
  #config!: PlantConfig;
  // Set together, in one synchronous step once the journal is open: /status needs all four.
  #journal: Journal | undefined;
  #events: DeriveStage | undefined;
  #sinks: RunningSinks | undefined;
  #sources: RunningSources | undefined;
  #pipeline!: Pipeline;
  /** Exact repeats of recent readings are dropped before the journal, counted per source id (ingest.ts). */
  readonly #dedupe = new DuplicateFilter();
  readonly #drops = new DropHistory();
  /** The status page's charts (a fixed-size ring) and recent events (a fixed-length list). */
  readonly #historyMs = historyIntervalMs();
  readonly #history = new HistoryRing({
    points: HISTORY_POINTS,
    maxSeries: HISTORY_MAX_SERIES,
    intervalMs: this.#historyMs,
  });
  readonly #recent = new RecentEvents();
  #health: HealthServer | undefined;
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
  // One registry for the daemon's life: forwarders restarted by a reload reuse the same metric objects.
  readonly #registry = new Registry();
  readonly #forwarderMetrics = createForwarderMetrics(this.#registry);
  /** Owners, the exception board (/status, /metrics) and the data.exception windows. */
  readonly #exceptions = new DaemonExceptions(this.#registry);
  /** The approval gate, the fingerprint and the history of applied configurations. */
  #governance!: ConfigGovernance;

  constructor(opts: DaemonOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#notifier = opts.notifier ?? new SystemdNotifier();
    this.#governance = new ConfigGovernance(opts.log.child({ component: 'config' }));
  }

  get healthAddress(): { host: string; port: number } | undefined {
    return this.#health?.address;
  }

  get journal(): Journal {
    if (!this.#journal) throw new Error('the journal is not open yet');
    return this.#journal;
  }

  get config(): PlantConfig {
    return this.#config;
  }

  /** Loads and validates the configuration; throws ConfigError listing every issue. */
  async #load(): Promise<LoadedConfig> {
    const res = await loadConfig(this.#opts.configFile);
    // Valid but probably not meant (e.g. `unit: F`): logged once per load, never a reason to refuse.
    for (const w of res.warnings ?? []) this.#log.warn({ config: formatIssue(w) }, 'Configuration warning.');
    if (!res.ok) {
      throw new ConfigError(res.issues.map(formatIssue).join('\n'));
    }
    return res;
  }

  async start(): Promise<void> {
    this.#startedAt = Date.now();
    const loaded = await this.#load();
    const approval = await this.#governance.approve(loaded, undefined);
    this.#governance.adopt(loaded, 'start', approval);
    this.#config = loaded.config;
    this.#loadedAt = Date.now();
    const cfg = this.#config;
    const log = this.#log.child({ gateway: cfg.gateway.id });
    this.#exceptions.configure(cfg);

    // 0. The health port and the admin socket first: one another process holds is a configuration error
    // (exit 78, no restart loop) found before anything has started.
    this.#health = new HealthServer({
      listen: cfg.health.listen,
      routes: [
        ...healthRoutes({
          started: () => this.#journal !== undefined,
          ready: () => this.#ready,
          status: () => this.status(),
          registry: this.#registry,
        }),
        ...pageRoutes({
          history: () => this.#history.snapshot(),
          recentEvents: () => this.#recent.list(),
        }),
      ],
      log: this.#log,
    });
    await this.#health.start();
    await checkAdminSocketFree(adminSocketPath(cfg));

    // 1. Journal, and what reads or writes it: derived events, sinks, sources.
    const journal = await openJournal(cfg.storage, log.child({ component: 'journal' }));
    const events = new DeriveStage({
      journal,
      log: log.child({ component: 'events' }),
      onIgnored: this.#exceptions.onEventIgnored,
    });
    this.#events = events;
    this.#sinks = new RunningSinks({
      log: this.#log,
      journal,
      metrics: this.#forwarderMetrics,
      gateway: cfg.gateway,
      configFingerprint: this.#governance.fingerprint,
      declared: () => declaredSources(this.#config),
      stateDir: cfg.storage.dir,
      owner: this.#exceptions.sinkOwner,
      onDeadLetter: this.#exceptions.onDeadLetter,
    });
    this.#sources = new RunningSources({
      log: this.#log,
      config: () => this.#config,
      path: {
        pipeline: () => this.#pipeline,
        journal,
        ...events.hooks,
        dedupe: this.#dedupe,
        exceptions: this.#exceptions.hook,
      },
    });
    this.#journal = journal;
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
    await journal.setSinks(cfg.sinks.map((s) => sinkSelector(s)));
    for (const s of cfg.sinks) await this.#sinks.start(s);

    // 3. Pipeline and derived events.
    this.#pipeline = new Pipeline({
      gatewayId: cfg.gateway.id,
      timezone: cfg.gateway.timezone,
      maxFutureSkewMs: cfg.gateway.max_future_skew,
      specs: specsOf(cfg),
    });
    await events.configure(cfg.gateway.id, (cfg.events ?? []) as EventConfig[]);

    // 4. Sources, and the exception windows that count what they quarantine.
    this.#exceptions.start({ journal, gateway: cfg.gateway, log: log.child({ component: 'exceptions' }) });
    for (const s of cfg.sources) await this.#sources.start(s);

    // 5. Endpoints (the health port is already listening) and the clocks.
    this.#admin = new AdminServer({
      socketPath: adminSocketPath(cfg),
      tokenPath: join(cfg.storage.dir, 'admin.token'),
      routes: adminRoutes(this.#adminApi()),
      log: this.#log.child({ component: 'admin' }),
    });
    await this.#admin.start();
    this.#timers.push(
      setInterval(() => {
        if (!this.#stopping) void events.tick(Date.now());
      }, 1000),
    );
    this.#timers.push(setInterval(() => this.#drops.record(journal.stats(), Date.now()), 60_000));
    this.#drops.record(journal.stats(), Date.now());
    this.#timers.push(setInterval(() => this.#observe(true), this.#historyMs));
    this.#timers.push(setInterval(() => this.#observe(false), OBSERVE_MS));
    await this.#governance.record(loaded, cfg.storage.dir, cfg.storage.config_history.keep);
    this.#ready = true;
    this.#recent.add(Date.now(), 'started', 'daemon', 'info', `plantgate ${VERSION} started`);
    this.#observe(true);
    const wd = this.#notifier.watchdogIntervalMs();
    if (wd !== undefined) this.#timers.push(setInterval(() => void this.#watchdog(), wd));
    for (const t of this.#timers) t.unref();
    await this.#notifier.ready(`${cfg.sources.length} sources, ${cfg.sinks.length} sinks`);
    log.info(
      {
        sources: cfg.sources.length,
        sinks: cfg.sinks.length,
        health: this.#health.address,
        admin: this.#admin.socketPath,
      },
      'plantgate is running.',
    );
  }

  /** SIGHUP: validate first; apply only what changed; a bad file keeps the running configuration. */
  async reload(): Promise<{ ok: boolean; error?: string; changed?: string[]; restart_pending?: string }> {
    void this.#notifier.reloading();
    let next: PlantConfig;
    let loaded: LoadedConfig;
    let approval: Awaited<ReturnType<ConfigGovernance['approve']>>;
    try {
      loaded = await this.#load();
      // An unapproved file is refused like an invalid one: the running configuration stays.
      approval = await this.#governance.approve(loaded, this.#config);
      next = loaded.config;
    } catch (err) {
      this.#reloadError = err instanceof Error ? err.message : String(err);
      this.#log.error(
        { issues: this.#reloadError },
        'The new configuration is invalid; the previous one keeps running.',
      );
      this.#recent.add(Date.now(), 'reload_failed', 'configuration', 'alarm', this.#reloadError);
      void this.#notifier.ready('reload failed; previous configuration running');
      return { ok: false, error: this.#reloadError };
    }
    const prev = this.#config;
    const journal = this.journal;
    const sinks = this.#sinks as RunningSinks;
    const sources = this.#sources as RunningSources;
    // Not a failure: the reload is applied; only these sections wait for a restart.
    // require_approval takes effect at once: the gate guards the very next reload.
    const pending = (['gateway', 'storage'] as const).filter((k) =>
      k === 'gateway'
        ? configKey({ ...prev.gateway, require_approval: undefined }) !==
          configKey({ ...next.gateway, require_approval: undefined })
        : configKey(prev[k]) !== configKey(next[k]),
    );
    this.#restartPending =
      pending.length > 0
        ? `the changes to ${pending.join(' and ')} take effect only after a restart (systemctl restart plantgate)`
        : undefined;
    this.#reloadError = undefined;
    this.#config = {
      ...next,
      gateway: { ...prev.gateway, require_approval: next.gateway.require_approval },
      storage: prev.storage,
    };
    this.#governance.adopt(loaded, 'reload', approval);
    this.#reloads += 1;
    this.#loadedAt = Date.now();

    this.#exceptions.configure(this.#config);
    // Sinks: stop removed and changed ones, register the new selectors, start changed and added ones.
    const sinkPlan = reconcile(sinks.configs(), next.sinks);
    const deadline = this.#opts.stopDeadlineMs ?? 10_000;
    for (const id of [...sinkPlan.stop, ...sinkPlan.restart.map((s) => s.id)]) await sinks.stop(id, deadline);
    await journal.setSinks(next.sinks.map((s) => sinkSelector(s)));
    for (const s of [...sinkPlan.restart, ...sinkPlan.start]) await sinks.start(s);
    // Pipeline specs and events follow the new file (same rate-of-change history); unchanged sources keep running.
    this.#pipeline.replaceSpecs(specsOf(this.#config));
    await this.#events?.configure(this.#config.gateway.id, (this.#config.events ?? []) as EventConfig[]);
    const sourcePlan = reconcile(sources.configs(), next.sources);
    for (const id of [...sourcePlan.stop, ...sourcePlan.restart.map((s) => s.id)]) await sources.stop(id);
    for (const s of [...sourcePlan.restart, ...sourcePlan.start]) await sources.start(s);

    const changed = [...describePlan('sink', sinkPlan), ...describePlan('source', sourcePlan)];
    await this.#governance.record(loaded, prev.storage.dir, prev.storage.config_history.keep);
    this.#log.info({ changed, restart_pending: this.#restartPending }, 'Configuration reloaded.');
    this.#recent.add(
      Date.now(),
      'reload',
      'configuration',
      'info',
      `reloaded: ${changed.length > 0 ? changed.join(', ') : 'nothing changed'}${this.#restartPending ? `; ${this.#restartPending}` : ''}`,
    );
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
    this.#exceptions.stop();
    const deadline = this.#opts.stopDeadlineMs ?? 10_000;
    // Sources first: nothing new comes in; their in-flight emits finish into the journal.
    await this.#sources?.stopAll(Math.min(deadline, 5_000));
    await this.#events?.persist();
    await this.#sinks?.stopAll(deadline);
    await this.#admin?.stop();
    await this.#health?.stop();
    await this.#journal?.close();
    this.#log.info('plantgate stopped; cursors and counters are persisted.');
  }

  /** Reads /status for the page's recent events and, on a history tick, its charts; never fails the daemon. */
  #observe(history: boolean): void {
    if (this.#stopping || !this.#journal) return;
    try {
      const doc = this.status();
      const now = Date.now();
      this.#recent.observe(doc, now);
      if (history) this.#history.push(now, historyValues(doc));
    } catch (err) {
      this.#log.debug({ err }, 'Reading the status for the status page failed.');
    }
  }

  async #watchdog(): Promise<void> {
    // Only pet the watchdog when the journal still answers: a wedged store should get us restarted.
    try {
      this.journal.stats();
      await this.#notifier.watchdog();
    } catch (err) {
      this.#log.error({ err }, 'Health self-check failed; not petting the systemd watchdog.');
    }
  }

  status(): StatusDocument {
    const now = Date.now();
    const cfg = this.#config;
    const journal = this.journal.stats();
    return buildStatus({
      now,
      gateway: { id: cfg.gateway.id, site: cfg.gateway.site },
      rules: {
        stallAfterIntervals: cfg.health.stall_after_intervals,
        backlogDegradedAfterMs: cfg.health.backlog_degraded_after,
        backlogFailingAfterMs: cfg.health.backlog_failing_after,
      },
      storage: {
        max_bytes: cfg.storage.max_bytes,
        when_full: cfg.storage.when_full,
        quarantine_max_bytes: cfg.storage.quarantine.max_bytes,
        dead_letters_max_bytes: cfg.storage.dead_letters.max_bytes,
      },
      daemon: {
        version: VERSION,
        pid: process.pid,
        startedAt: this.#startedAt,
        configFile: this.#opts.configFile,
        loadedAt: this.#loadedAt,
        applied: this.#governance.applied,
        reloads: this.#reloads,
        reloadError: this.#reloadError,
        restartPending: this.#restartPending,
        ready: this.#ready,
      },
      sources: this.#sources?.facts(now, (id) => this.#dedupe.suppressed(id)) ?? [],
      sinks: this.#sinks?.facts() ?? [],
      journal,
      eventsDerived: this.#events?.derived ?? 0,
      recentDrops: this.#drops.recent(journal),
      eventStats: this.#events?.deriver?.stats(),
      exceptions: this.#exceptions.summary(),
    });
  }

  #adminApi() {
    return {
      status: () => this.status(),
      journal: () => this.journal,
      /** Re-runs a quarantined sample through the one ingest path (ingest.ts) with the current configuration. */
      replaySample: (sourceId: string, sourceType: string, sample: RawSample) =>
        replaySample(
          {
            source: { id: sourceId, type: sourceType },
            pipeline: this.#pipeline,
            journal: this.journal,
            ...(this.#events as DeriveStage).hooks,
            dedupe: this.#dedupe,
          },
          sample,
        ),
      replayDeadLetter: (sinkId: string, batchId: string) => {
        const f = this.#sinks?.forwarder(sinkId);
        if (!f)
          throw new Error(`sink "${sinkId}" is not configured any more; its dead letters can only be purged`);
        return f.replayDeadLetter(batchId);
      },
      trace: (query: string) => traceQuery(this.journal, Object.keys(this.status().sinks), query),
      owners: () => this.#exceptions.owners(),
      reload: () => this.reload(),
    };
  }
}
