// The `opcua` source: a supervisor that keeps one connection alive (reconnecting with exponential backoff and
// full jitter, rebuilding every subscription and monitored item each time) and a bounded queue between the
// server's notifications and the journal. node-opcua is loaded on start, so config checks never pay for it.
import { mkdirSync } from 'node:fs';
import type { OPCUACertificateManager } from 'node-opcua';
import { exponentialCap } from '../../src/kit/backoff.js';
import { ConfigError, PlantgateError } from '../../src/kit/errors.js';
import { sleep } from '../../src/kit/sleep.js';
import type { RawSample } from '../../src/model/records.js';
import type { Adapter, AdapterContext, AdapterEnv, ComponentHealth, ComponentState } from '../kit/types.js';
import type { OpcuaSourceConfig } from './config.js';
import { pkiDirOf, UntrustedServerCertificateError } from './pki.js';

type ConnectionModule = typeof import('./connection.js');
type Connection = import('./connection.js').Connection;

/** Largest emit when several notification batches queued up behind a slow journal. */
const MAX_EMIT = 10_000;
/** Failed attempts after which a source is reported `down` rather than `reconnecting`. */
const DOWN_AFTER_ATTEMPTS = 3;
/** Signal problems and unresolved names listed on /status; the counters give the full numbers. */
const MAX_LISTED_PROBLEMS = 20;
const MAX_LISTED_UNRESOLVED = 100;

interface SignalProblem {
  signal: string;
  message: string;
  unresolved: boolean;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class OpcuaAdapter implements Adapter {
  readonly #cfg: OpcuaSourceConfig;
  readonly #env: AdapterEnv;
  readonly #pkiDir: string;
  #ctx: AdapterContext | undefined;
  #cm: OPCUACertificateManager | undefined;
  #abort = new AbortController();
  #loop: Promise<void> = Promise.resolve();
  #conn: Connection | undefined;
  #state: ComponentState = 'starting';
  #stopped = false;
  #everConnected = false;
  #attempt = 0;
  #connectedAt: number | undefined;
  #lostAt: number | undefined;
  #lostReason: string | undefined;
  #nextAttemptAt: number | undefined;
  #lastError: string | undefined;
  #lastErrorAt: number | undefined;
  #lastSampleAt: number | undefined;
  #lastNotificationAt: number | undefined;
  #monitored = 0;
  #failedItems = 0;
  readonly #counters: Record<string, number> = {
    connects: 0,
    reconnects: 0,
    connect_failures: 0,
    connections_lost: 0,
    notifications: 0,
    emitted: 0,
    emit_failures: 0,
    dropped_backpressure: 0,
    pending: 0,
  };
  /** Problems of the latest connection (kept while reconnecting: nothing says they are fixed yet). */
  #problems = new Map<string, SignalProblem>();
  /** What was logged per problem key, so each distinct problem is logged once, not at every reconnect. */
  readonly #logged = new Map<string, string>();
  // Bounded hand-over queue: whole notification batches, oldest first.
  #queue: RawSample[][] = [];
  #pending = 0;
  #pumping: Promise<void> | undefined;
  #dropEpisode = false;
  #emitErrorEpisode = false;

  constructor(cfg: OpcuaSourceConfig, env: AdapterEnv) {
    this.#cfg = cfg;
    this.#env = env;
    this.#pkiDir = pkiDirOf(env.stateDir, cfg.pki_dir);
  }

  async start(ctx: AdapterContext): Promise<void> {
    this.#ctx = ctx;
    this.#stopped = false;
    this.#abort = new AbortController();
    if (ctx.signal.aborted) this.#abort.abort();
    else ctx.signal.addEventListener('abort', () => this.#abort.abort(), { once: true });
    const mod: ConnectionModule = await import('./connection.js');
    mod.routeLibraryLogs(ctx.log);
    // Problems a retry cannot fix (unreadable secret or user certificate) are fatal here, as the contract says.
    mod.userIdentityOf(this.#cfg.auth);
    try {
      mkdirSync(this.#pkiDir, { recursive: true });
      this.#cm = await mod.createCertificateManager(this.#pkiDir);
      await mod.ensureOwnCertificate(this.#cm, this.#env, this.#cfg);
    } catch (err) {
      throw new ConfigError(`cannot prepare the OPC UA PKI folder ${this.#pkiDir}: ${message(err)}`, {
        cause: err,
      });
    }
    this.#loop = this.#run(mod);
  }

  async #run(mod: ConnectionModule): Promise<void> {
    const ctx = this.#ctx as AdapterContext;
    const cm = this.#cm as OPCUACertificateManager;
    const signal = this.#abort.signal;
    let lastLogged: string | undefined;
    while (!this.#stopped && !signal.aborted) {
      // Each attempt finds the problems afresh; they replace the old ones once the connection stands.
      const problems = new Map<string, SignalProblem>();
      try {
        const conn = await mod.openConnection({
          cfg: this.#cfg,
          env: this.#env,
          cm,
          log: ctx.log,
          signal,
          hooks: {
            onSamples: (s) => this.#onSamples(s),
            onProblem: (key, sig, msg, unresolved = false) => {
              problems.set(key, { signal: sig, message: msg, unresolved });
              this.#logProblem(key, msg);
            },
            clearProblem: (key) => {
              problems.delete(key);
            },
            count: (c, n = 1) => {
              this.#counters[c] = (this.#counters[c] ?? 0) + n;
            },
          },
        });
        if (this.#stopped || signal.aborted) {
          await conn.close();
          break;
        }
        this.#conn = conn;
        this.#problems = problems;
        this.#monitored = conn.monitoredItems;
        this.#failedItems = conn.failedItems;
        this.#counters.connects = (this.#counters.connects ?? 0) + 1;
        if (this.#everConnected) this.#counters.reconnects = (this.#counters.reconnects ?? 0) + 1;
        this.#everConnected = true;
        this.#state = 'connected';
        this.#connectedAt = Date.now();
        this.#attempt = 0;
        this.#nextAttemptAt = undefined;
        lastLogged = undefined;
        ctx.log.info(
          {
            endpoint: this.#cfg.endpoint,
            monitored_items: conn.monitoredItems,
            failed_items: conn.failedItems,
            mode: this.#cfg.mode,
          },
          this.#counters.reconnects
            ? 'Reconnected to the OPC UA server and restored every monitored item.'
            : 'Connected to the OPC UA server.',
        );
        const reason = await conn.lost;
        this.#conn = undefined;
        await conn.close();
        if (this.#stopped || signal.aborted) break;
        this.#counters.connections_lost = (this.#counters.connections_lost ?? 0) + 1;
        this.#lostAt = Date.now();
        this.#lostReason = reason;
        this.#setError(reason);
        ctx.log.warn({ endpoint: this.#cfg.endpoint, reason }, 'Lost the OPC UA connection; reconnecting.');
      } catch (err) {
        if (this.#stopped || signal.aborted) break;
        if (err instanceof ConfigError) {
          this.#state = 'down';
          this.#setError(err.message);
          ctx.log.error(
            { err },
            'The OPC UA source cannot start because of its configuration; it stays down.',
          );
          return;
        }
        this.#counters.connect_failures = (this.#counters.connect_failures ?? 0) + 1;
        this.#setError(message(err), err);
        // One log line per distinct failure, not one per attempt.
        if (lastLogged !== message(err)) {
          lastLogged = message(err);
          ctx.log.warn(
            { err: err instanceof PlantgateError ? { code: err.code, message: err.message } : err },
            'Connecting to the OPC UA server failed; retrying with backoff.',
          );
        }
      }
      this.#attempt += 1;
      const untrusted = this.#lastErrorIsUntrusted;
      this.#state = untrusted || this.#attempt >= DOWN_AFTER_ATTEMPTS ? 'down' : 'reconnecting';
      const base = exponentialCap(this.#attempt - 1, this.#cfg.reconnect.initial, this.#cfg.reconnect.max);
      // The first retry after a loss is prompt; later ones use full jitter so many gateways do not stampede a PLC.
      const delay = this.#attempt === 1 ? Math.min(base, 250 + Math.random() * 250) : Math.random() * base;
      this.#nextAttemptAt = Date.now() + delay;
      await sleep(delay, signal);
    }
  }

  #lastErrorIsUntrusted = false;

  #setError(msg: string, err?: unknown): void {
    this.#lastError = msg;
    this.#lastErrorAt = Date.now();
    this.#lastErrorIsUntrusted =
      err instanceof UntrustedServerCertificateError || /is not trusted; move it/.test(msg);
  }

  #logProblem(key: string, msg: string): void {
    if (this.#logged.get(key) === msg) return;
    const first = !this.#logged.has(key);
    this.#logged.set(key, msg);
    // Bounded: a misconfigured 10k-item source must not print 10k lines.
    if (first && this.#logged.size <= 20)
      this.#ctx?.log.warn({ problem: key }, `${msg[0]?.toUpperCase()}${msg.slice(1)}.`);
    else if (first && this.#logged.size === 21)
      this.#ctx?.log.warn('More signals have problems; see /status for the list.');
  }

  #onSamples(samples: RawSample[]): void {
    if (this.#stopped || samples.length === 0) return;
    this.#lastNotificationAt = Date.now();
    this.#counters.notifications = (this.#counters.notifications ?? 0) + samples.length;
    this.#queue.push(samples);
    this.#pending += samples.length;
    // Memory stays bounded while the journal is slower than the server: the oldest batches go first, counted.
    while (this.#pending > this.#cfg.max_in_flight && this.#queue.length > 1) {
      const dropped = this.#queue.shift() as RawSample[];
      this.#pending -= dropped.length;
      this.#counters.dropped_backpressure = (this.#counters.dropped_backpressure ?? 0) + dropped.length;
      if (!this.#dropEpisode) {
        this.#dropEpisode = true;
        this.#ctx?.log.warn(
          { max_in_flight: this.#cfg.max_in_flight },
          'The journal is slower than the OPC UA server; the oldest notifications are dropped and counted until it catches up.',
        );
      }
    }
    this.#counters.pending = this.#pending;
    if (!this.#pumping) this.#pumping = this.#pump();
  }

  async #pump(): Promise<void> {
    const ctx = this.#ctx as AdapterContext;
    try {
      while (this.#queue.length > 0) {
        let batch = this.#queue.shift() as RawSample[];
        while (this.#queue.length > 0 && batch.length + (this.#queue[0] as RawSample[]).length <= MAX_EMIT) {
          batch = batch.concat(this.#queue.shift() as RawSample[]);
        }
        try {
          await ctx.emit(batch);
          this.#counters.emitted = (this.#counters.emitted ?? 0) + batch.length;
          this.#lastSampleAt = Date.now();
          this.#emitErrorEpisode = false;
        } catch (err) {
          this.#counters.emit_failures = (this.#counters.emit_failures ?? 0) + batch.length;
          if (!this.#stopped && !this.#emitErrorEpisode) {
            this.#emitErrorEpisode = true;
            ctx.log.warn(
              { err },
              'Handing OPC UA samples to the journal failed; they are counted as emit_failures.',
            );
          }
        } finally {
          this.#pending -= batch.length;
          this.#counters.pending = this.#pending;
        }
      }
      if (this.#dropEpisode) {
        this.#dropEpisode = false;
        ctx.log.info('The journal caught up with the OPC UA server; no more notifications are dropped.');
      }
    } finally {
      this.#pumping = undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#abort.abort();
    await this.#conn?.close();
    await this.#loop;
    // Waits for the emit in flight; what is still queued was received but is not durable, and is counted.
    await this.#pumping;
    this.#state = 'stopped';
    const cm = this.#cm;
    this.#cm = undefined;
    if (cm) {
      cm.referenceCounter = 0;
      await cm.dispose();
    }
  }

  health(): ComponentHealth {
    const now = Date.now();
    const problems = [...this.#problems.values()];
    const unresolved = [...new Set(problems.filter((p) => p.unresolved).map((p) => p.signal))].sort();
    const h: ComponentHealth = {
      state: this.#state,
      counters: {
        ...this.#counters,
        monitored_items: this.#monitored,
        failed_items: this.#failedItems,
        problems: problems.length,
        unresolved_signals: unresolved.length,
      },
    };
    if (problems.length > 0) {
      h.problems = problems.slice(0, MAX_LISTED_PROBLEMS).map((p) => p.message);
      if (problems.length > MAX_LISTED_PROBLEMS)
        h.problems.push(`${problems.length - MAX_LISTED_PROBLEMS} more signal problems (see the log)`);
    }
    if (unresolved.length > 0) h.unresolved_signals = unresolved.slice(0, MAX_LISTED_UNRESOLVED);
    const ago = (t: number | undefined) =>
      t === undefined ? 'never' : `${Math.round((now - t) / 1000)} s ago`;
    const next =
      this.#nextAttemptAt === undefined
        ? ''
        : `; next attempt in ${Math.max(0, Math.round((this.#nextAttemptAt - now) / 1000))} s`;
    switch (this.#state) {
      case 'connected': {
        const items =
          this.#cfg.mode === 'subscribe'
            ? `${this.#monitored} monitored items`
            : `${this.#monitored} polled signals`;
        const failed = this.#failedItems > 0 ? ` (${this.#failedItems} could not be monitored)` : '';
        h.detail = `connected to ${this.#cfg.endpoint} for ${Math.round((now - (this.#connectedAt ?? now)) / 1000)} s with ${items}${failed}; last value ${ago(this.#lastNotificationAt)}`;
        break;
      }
      case 'reconnecting':
        h.detail = `connection to ${this.#cfg.endpoint} lost ${ago(this.#lostAt)}${this.#lostReason ? ` (${this.#lostReason})` : ''}; reconnect attempt ${this.#attempt}${next}`;
        break;
      case 'down':
        h.detail = `cannot connect to ${this.#cfg.endpoint} (${this.#attempt} attempts; last value ${ago(this.#lastNotificationAt)}): ${this.#lastError ?? 'unknown error'}${next}`;
        break;
      case 'starting':
        h.detail = `connecting to ${this.#cfg.endpoint}`;
        break;
      case 'stopped':
        h.detail = 'stopped';
        break;
    }
    if (problems.length > 0)
      h.detail += `; ${problems.length} signal problem(s): ${problems
        .slice(0, 3)
        .map((p) => p.message)
        .join('; ')}`;
    if (this.#lastSampleAt !== undefined) h.last_sample_at = this.#lastSampleAt;
    if (this.#lastError !== undefined) h.last_error = this.#lastError;
    if (this.#lastErrorAt !== undefined) h.last_error_at = this.#lastErrorAt;
    return h;
  }
}
