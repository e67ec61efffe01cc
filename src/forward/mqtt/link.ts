// The `mqtt` sink's connection to the broker: one MQTT.js client per connection (its own reconnect is off), a
// bounded number of publishes waiting for their PUBACK, and a clean cut when the connection drops: every pending
// publish fails at once and the client, with whatever it still holds in memory, is thrown away. The forwarder then
// resends the whole batch on the next connection, so MQTT.js never resends a second copy from its own store and
// memory stays bounded whatever the backlog.
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { doubled } from '../../kit/backoff.js';

/** A publish that did not get its PUBACK; `retryable` false when the broker refused it for good (MQTT 5). */
export class PublishError extends Error {
  readonly retryable: boolean;
  readonly reasonCode: number | undefined;
  constructor(message: string, retryable: boolean, reasonCode?: number) {
    super(message);
    this.name = 'PublishError';
    this.retryable = retryable;
    this.reasonCode = reasonCode;
  }
}

/**
 * MQTT 5 PUBACK reason codes that resending cannot fix: not authorized (0x87), topic name invalid (0x90),
 * packet too large (0x95), payload format invalid (0x99). Others (unspecified, quota exceeded...) are retried.
 */
const PERMANENT_REASONS = new Set([0x87, 0x90, 0x95, 0x99]);

export interface LinkOptions {
  url: string;
  /** Options of every connection: client id, protocol, session, auth, TLS, keepalive. */
  base: IClientOptions;
  reconnect: { initial: number; max: number };
  maxInflight: number;
  log: Logger;
  /** Options of the next connection only (a Sparkplug will with this connection's bdSeq). */
  beforeConnect?: () => Promise<Partial<IClientOptions>>;
  /** Runs on every CONNACK before data may flow: subscriptions and births. Its publishes pass `first: true`. */
  onConnect?: (link: Link) => Promise<void>;
  onMessage?: (topic: string, payload: Buffer) => void;
}

interface Waiter {
  go(): void;
  reject(err: Error): void;
  signal: AbortSignal | undefined;
}

export interface LinkCounters {
  connects: number;
  connection_losses: number;
  published: number;
}

export class Link {
  readonly #o: LinkOptions;
  #client: MqttClient | undefined;
  /** Counts connections: a publish started on one connection never goes out on the next. */
  #gen = 0;
  #ready = false;
  /** Resolved with true when data may flow, false when the connection attempt ends without that. */
  #readyWaiters = new Set<(ready: boolean) => void>();
  /** From CONNECT until the connection is ready or closed. */
  #connecting = false;
  #permits = 0;
  #waiters: Waiter[] = [];
  #pending = new Set<(err: Error) => void>();
  #stopping = false;
  #timer: NodeJS.Timeout | undefined;
  #delay: number;
  lastError: string | undefined;
  readonly counters: LinkCounters = { connects: 0, connection_losses: 0, published: 0 };

  constructor(opts: LinkOptions) {
    this.#o = opts;
    this.#delay = opts.reconnect.initial;
  }

  get ready(): boolean {
    return this.#ready;
  }

  start(): void {
    this.#stopping = false;
    void this.#connect();
  }

  async #connect(): Promise<void> {
    this.#timer = undefined;
    if (this.#stopping) return;
    let extra: Partial<IClientOptions> = {};
    try {
      extra = (await this.#o.beforeConnect?.()) ?? {};
    } catch (err) {
      this.lastError = `preparing the connection failed: ${(err as Error).message}`;
      this.#o.log.warn({ err }, 'Preparing the broker connection failed; retrying.');
      this.#scheduleReconnect();
      return;
    }
    if (this.#stopping) return;
    const client = mqtt.connect(this.#o.url, { ...this.#o.base, ...extra, reconnectPeriod: 0 });
    this.#client = client;
    this.#connecting = true;
    client.on('error', (err) => {
      this.lastError = err.message;
    });
    client.on('message', (topic, payload) => {
      if (client === this.#client) this.#o.onMessage?.(topic, payload);
    });
    client.on('connect', (connack) => {
      if (client !== this.#client) return;
      this.#gen += 1;
      this.counters.connects += 1;
      this.#delay = this.#o.reconnect.initial;
      const receiveMax = connack.properties?.receiveMaximum;
      this.#permits = Math.max(1, Math.min(this.#o.maxInflight, receiveMax ?? Number.POSITIVE_INFINITY));
      const gen = this.#gen;
      void (async () => {
        try {
          await this.#o.onConnect?.(this);
        } catch (err) {
          if (gen !== this.#gen) return;
          this.lastError = `setting up the connection failed: ${(err as Error).message}`;
          this.#o.log.warn({ err }, 'Setting up the broker connection failed; reconnecting.');
          this.drop();
          return;
        }
        if (gen !== this.#gen || client !== this.#client) return;
        this.#ready = true;
        this.#connecting = false;
        this.lastError = undefined;
        this.#o.log.info({ connects: this.counters.connects }, 'Connected to the broker.');
        this.#settleWaiters(true);
      })();
    });
    client.on('close', () => {
      if (client !== this.#client) return;
      this.#client = undefined;
      const wasReady = this.#ready;
      this.#ready = false;
      this.#connecting = false;
      this.#settleWaiters(false);
      if (wasReady) this.counters.connection_losses += 1;
      this.#failPending(new PublishError(`the connection to the broker was lost${this.#reason()}`, true));
      client.end(true);
      if (wasReady && !this.#stopping) {
        this.#o.log.warn({ reason: this.lastError }, 'The connection to the broker was lost; reconnecting.');
      }
      this.#scheduleReconnect();
    });
  }

  #settleWaiters(ready: boolean): void {
    const waiters = [...this.#readyWaiters];
    this.#readyWaiters.clear();
    for (const w of waiters) w(ready);
  }

  #reason(): string {
    return this.lastError !== undefined ? ` (${this.lastError})` : '';
  }

  #scheduleReconnect(): void {
    if (this.#stopping || this.#timer) return;
    const delay = this.#delay;
    this.#delay = doubled(delay, { initialMs: this.#o.reconnect.initial, maxMs: this.#o.reconnect.max });
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }

  #failPending(err: Error): void {
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const reject of pending) reject(err);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(err);
    this.#permits = 0;
  }

  /**
   * True when data may flow. While a connection is being set up, waits for it up to `timeoutMs`; false at once
   * while waiting out a reconnect delay (the forwarder's retry paces the next attempt).
   */
  waitReady(signal: AbortSignal, timeoutMs: number): Promise<boolean> {
    if (this.#ready) return Promise.resolve(true);
    if (!this.#connecting) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#readyWaiters.delete(onReady);
        resolve(v);
      };
      const onReady = (ready: boolean) => done(ready);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#readyWaiters.add(onReady);
    });
  }

  /** Why data cannot flow now, for a retryable write outcome. */
  notReadyReason(): string {
    return `not connected to the broker${this.#reason()}`;
  }

  /**
   * Publishes one message (QoS 1, `opts` as given) and resolves on its PUBACK. Waits for a free slot first (FIFO,
   * so messages leave in call order); `body` may be a function, called only when the message leaves, for payloads
   * that depend on send order (Sparkplug seq). Rejects with a PublishError when the connection drops, the broker
   * refuses the message, or `signal` was aborted before the message got its slot.
   */
  publish(
    topic: string,
    body: Buffer | string | (() => Buffer),
    opts: IClientPublishOptions,
    signal?: AbortSignal,
    first = false,
  ): Promise<void> {
    if (!this.#ready && !first) return Promise.reject(new PublishError(this.notReadyReason(), true));
    if (signal?.aborted) return Promise.reject(new PublishError('the batch was given up', true));
    return new Promise<void>((resolve, reject) => {
      const gen = this.#gen;
      const go = () => this.#send(gen, topic, body, opts, resolve, reject);
      if (this.#permits > 0 && this.#waiters.length === 0) {
        this.#permits -= 1;
        go();
      } else {
        // No abort listener per waiter (thousands per batch): a given-up waiter is skipped when its turn comes,
        // and a lost connection rejects every waiter at once.
        this.#waiters.push({ go, reject, signal });
      }
    });
  }

  #send(
    gen: number,
    topic: string,
    body: Buffer | string | (() => Buffer),
    opts: IClientPublishOptions,
    resolve: () => void,
    reject: (err: Error) => void,
  ): void {
    const client = this.#client;
    if (gen !== this.#gen || !client) {
      reject(new PublishError(`the connection to the broker was lost${this.#reason()}`, true));
      return;
    }
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    this.#pending.add(fail);
    client.publish(topic, typeof body === 'function' ? body() : body, opts, (err) => {
      if (settled || gen !== this.#gen) return;
      settled = true;
      this.#pending.delete(fail);
      this.#release();
      if (!err) {
        this.counters.published += 1;
        resolve();
        return;
      }
      const code = (err as { code?: unknown }).code;
      const reason = typeof code === 'number' ? code : undefined;
      reject(
        new PublishError(
          `the broker refused the message on "${topic}": ${err.message}`,
          reason === undefined || !PERMANENT_REASONS.has(reason),
          reason,
        ),
      );
    });
  }

  #release(): void {
    for (let w = this.#waiters.shift(); w; w = this.#waiters.shift()) {
      if (w.signal?.aborted) {
        w.reject(new PublishError('the batch was given up', true));
        continue;
      }
      w.go();
      return;
    }
    this.#permits += 1;
  }

  /** Subscribes on the current connection (QoS 1). */
  async subscribe(topic: string): Promise<void> {
    const client = this.#client;
    if (!client) throw new PublishError(this.notReadyReason(), true);
    await client.subscribeAsync(topic, { qos: 1 });
  }

  /** Drops the current connection (its pending publishes fail); a new one follows after the backoff. */
  drop(): void {
    this.#client?.stream.destroy();
  }

  /** Closes for good: `last` (a Sparkplug NDEATH) is published first when connected, waited for at most 2 s. */
  async stop(last?: () => Promise<void>): Promise<void> {
    if (this.#ready && last) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        last().catch(() => undefined),
        new Promise<void>((r) => {
          timer = setTimeout(r, 2000);
        }),
      ]);
      clearTimeout(timer);
    }
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const client = this.#client;
    this.#client = undefined;
    this.#ready = false;
    this.#connecting = false;
    this.#settleWaiters(false);
    this.#failPending(new PublishError('the sink is stopping', true));
    if (!client) return;
    // A normal DISCONNECT, so the broker does not publish a will for a planned stop; destroyed if it hangs.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.end(true, () => resolve());
      }, 2000);
      client.end(false, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
