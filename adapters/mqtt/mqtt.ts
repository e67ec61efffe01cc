// The `mqtt` source: subscribes with a persistent session, maps each message to samples (or a quarantine entry)
// and sends the QoS 1 PUBACK (QoS 2: the PUBREC) only after the context reports them durable, in arrival order.
// While the journal blocks, in-flight messages pile up to `max_in_flight`; then the client stops reading and the
// broker holds the rest. Sparkplug B subscriptions go through SparkplugMapper, which may ask for a Rebirth.
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { doubled } from '../../src/kit/backoff.js';
import { PlantgateError } from '../../src/kit/errors.js';
import type { RawSample } from '../../src/model/records.js';
import type { Adapter, AdapterContext, AdapterEnv, ComponentHealth, ComponentState } from '../kit/types.js';
import { AckQueue, type InFlight } from './ack-queue.js';
import { clientOptions } from './client-options.js';
import type { ResolvedMqttSourceConfig } from './config.js';
import { KeepaliveGuard } from './keepalive.js';
import { type MapResult, rawText, SubscriptionMapper } from './mapping.js';
import { type Reject, SparkplugMapper } from './sparkplug.js';
import { SparkplugHost } from './sparkplug-host.js';

/** Samples gathered from messages of the same tick are emitted together; a batch is cut at this size. */
const MAX_BATCH_SAMPLES = 2000;
/** Topics whose route (levels, subscription) is remembered; cleared when full. */
const ROUTE_CACHE = 1024;

/**
 * Handed to MQTT.js's handleMessage callback: its QoS 1 path then skips the PUBACK and moves on to the next
 * packet (mqtt 5.16 lib/handlers/publish.js). The adapter sends the PUBACK itself once the message is durable.
 */
const DEFER_ACK = Object.freeze(new Error('acknowledgement deferred until the message is durable'));

/**
 * QoS 2: MQTT.js sends the PUBREC as soon as its customHandleAcks hook answers without an error, before the
 * message is processed (mqtt 5.16 lib/handlers/publish.js). Answering with this error instead makes it move on
 * without a PUBREC (it reports the error on the client's 'error' event, where the adapter ignores this one). The
 * adapter sends the PUBREC itself once the message is durable; the PUBREL that follows finds nothing in MQTT.js'
 * incoming store and is answered with a PUBCOMP by MQTT.js (lib/handlers/pubrel.js).
 */
const DEFER_PUBREC = Object.freeze(new Error('PUBREC deferred until the message is durable'));

/** MQTT.js internals the adapter relies on, pinned by the contract tests in mqtt.test.ts (QoS 2: sparkplug.test.ts). */
interface ClientInternals {
  _writePacket(
    packet: { cmd: 'puback' | 'pubrec'; messageId: number; reasonCode?: number },
    cb?: () => void,
  ): void;
}

type Mapper = SubscriptionMapper | SparkplugMapper;

/** Connack return/reason codes that mean "this broker does not speak the requested protocol version". */
const UNSUPPORTED_PROTOCOL = new Set([1, 0x84]);

export class MqttAdapter implements Adapter {
  readonly #cfg: ResolvedMqttSourceConfig;
  readonly #env: AdapterEnv;
  readonly #mappers: Mapper[];
  /** Rebirth requests and edge-node health of the sparkplug_b subscriptions. */
  readonly #sp = new SparkplugHost();
  #ctx: AdapterContext | undefined;
  #client: MqttClient | undefined;
  /** Keeps the connection alive while reading is paused (see keepalive.ts). */
  #guard: KeepaliveGuard | undefined;
  #queue: AckQueue;
  #protocol: 4 | 5;
  #state: ComponentState = 'stopped';
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #detail: string | undefined;
  #needSubscribe = true;
  #reconnectDelay: number;
  #batch: { samples: RawSample[]; entries: InFlight[] } | undefined;
  #flushScheduled = false;
  #pending = new Set<Promise<unknown>>();
  /** Topic levels and the subscription that takes them, by topic: a plant's topics recur in every message. */
  readonly #routes = new Map<string, { levels: string[]; mapper: Mapper | undefined }>();
  #lastSampleAt: number | undefined;
  #lastError: string | undefined;
  #lastErrorAt: number | undefined;
  #counters = {
    messages: 0,
    redelivered: 0,
    samples_emitted: 0,
    payloads_quarantined: 0,
    emit_failures: 0,
    connects: 0,
    connection_losses: 0,
    read_pauses: 0,
    keepalive_pings: 0,
    paused_periods: 0,
  };

  constructor(cfg: ResolvedMqttSourceConfig, env: AdapterEnv) {
    this.#cfg = cfg;
    this.#env = env;
    this.#mappers = cfg.subscriptions.map((s) => {
      if (s.payload !== 'sparkplug_b') return new SubscriptionMapper(s);
      const m = new SparkplugMapper(s, this.#sp.counters);
      this.#sp.add(m);
      return m;
    });
    this.#protocol = cfg.protocol_version;
    this.#reconnectDelay = cfg.reconnect.initial;
    this.#queue = this.#newQueue();
  }

  get clientId(): string {
    return this.#cfg.client_id ?? `plantgate-${this.#env.gatewayId}-${this.#cfg.id}`;
  }

  #newQueue(): AckQueue {
    return new AckQueue(this.#cfg.max_in_flight, {
      ack: (messageId, conn, cmd) => {
        const c = this.#client;
        if (!c?.connected || c.stream !== conn) return false;
        (c as unknown as ClientInternals)._writePacket({ cmd, messageId, reasonCode: 0 });
        return true;
      },
      burst: (phase) => {
        // One socket write for a whole burst of PUBACKs (a group commit settles hundreds at once).
        const stream = this.#client?.stream as { cork?: () => void; uncork?: () => void } | undefined;
        if (phase === 'begin') stream?.cork?.();
        else stream?.uncork?.();
      },
      failed: (conn) => {
        // The broker redelivers what was not acknowledged only on a new connection, so force one (unless shutting down).
        const c = this.#client;
        if (this.#stopping || this.#ctx?.signal.aborted || !c || c.stream !== conn) return;
        this.#ctx?.log.warn('A message could not be made durable; reconnecting so the broker redelivers it.');
        c.stream.destroy();
      },
    });
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.#client)
      throw new PlantgateError('INTERNAL', `MQTT source "${this.#cfg.id}" is already started.`);
    this.#ctx = ctx;
    this.#stopping = false;
    this.#stopped = undefined;
    this.#needSubscribe = true;
    this.#queue = this.#newQueue();
    const options = clientOptions(this.#cfg, this.clientId);
    this.#state = 'starting';
    this.#connect(options);
  }

  #connect(base: IClientOptions): void {
    const cfg = this.#cfg;
    const options: IClientOptions = { ...base, protocolVersion: this.#protocol };
    if (this.#protocol === 5) {
      options.properties = {
        sessionExpiryInterval: cfg.clean_start
          ? 0
          : Math.min(0xffffffff, Math.round(cfg.session_expiry / 1000)),
        // The broker sends at most this many unacknowledged QoS 1 messages; the rest wait in the session.
        receiveMaximum: cfg.max_in_flight,
      };
    }
    const client = mqtt.connect(cfg.url, options);
    this.#client = client;
    this.#guard?.dispose();
    this.#guard = new KeepaliveGuard(client, cfg.keepalive, this.#counters);
    client.handleMessage = (packet, callback) => this.#onMessage(packet, callback);
    // Read at every PUBLISH, so replacing it after construction works for MQTT 3.1.1 and 5 alike.
    client.options.customHandleAcks = (_topic, _message, packet, done) => {
      if (packet.qos !== 2) done(0);
      else this.#onMessage(packet, () => done(DEFER_PUBREC));
    };
    client.on('connect', (connack) => {
      this.#counters.connects += 1;
      this.#state = 'connected';
      this.#reconnectDelay = cfg.reconnect.initial;
      client.options.reconnectPeriod = cfg.reconnect.initial;
      if (this.#needSubscribe || !connack.sessionPresent) this.#subscribe(client);
      else this.#detail = undefined;
    });
    client.on('reconnect', () => {
      // Exponential backoff: MQTT.js reads reconnectPeriod each time it schedules the next attempt.
      this.#reconnectDelay = doubled(this.#reconnectDelay, {
        initialMs: cfg.reconnect.initial,
        maxMs: cfg.reconnect.max,
      });
      client.options.reconnectPeriod = this.#reconnectDelay;
    });
    client.on('close', () => {
      if (this.#stopping) return;
      if (this.#state === 'connected') {
        this.#counters.connection_losses += 1;
        this.#ctx?.log.warn({ url: cfg.url }, 'The connection to the MQTT broker was lost; reconnecting.');
      }
      if (this.#state !== 'down') this.#state = 'reconnecting';
    });
    client.on('error', (err: Error & { code?: number | string }) => {
      if (err === DEFER_PUBREC) return;
      this.#noteError(err.message);
      if (
        this.#protocol === 5 &&
        typeof err.code === 'number' &&
        UNSUPPORTED_PROTOCOL.has(err.code) &&
        !this.#stopping
      ) {
        // Brokers such as aedes speak MQTT 3.1.1 only. Fall back rather than never connect; say so in health.
        this.#ctx?.log.warn(
          { url: cfg.url },
          'The broker refused MQTT 5; connecting with MQTT 3.1.1 instead (set protocol_version: 4 to make this explicit).',
        );
        this.#protocol = 4;
        this.#detail = 'broker does not support MQTT 5; using MQTT 3.1.1';
        client.removeAllListeners();
        client.on('error', () => {});
        client.end(true);
        this.#connect(base);
        return;
      }
      if (typeof err.code === 'number') {
        // A refused CONNECT (bad credentials, not authorized): MQTT.js retries with our backoff; flag it loudly.
        this.#state = 'down';
        this.#detail = `broker refused the connection: ${err.message}`;
        this.#ctx?.log.error(
          { err, url: cfg.url },
          'The MQTT broker refused the connection; retrying with backoff.',
        );
      }
    });
  }

  #subscribe(client: MqttClient): void {
    const subs: Record<string, { qos: 0 | 1 | 2; rh?: number; nl?: boolean }> = {};
    for (const s of this.#cfg.subscriptions) {
      // rh 1: retained messages only for a new subscription, so a re-subscribe does not replay them. nl: a
      // Sparkplug subscription covers the group's NCMD topics, where our own Rebirth requests go.
      subs[s.topic] =
        this.#protocol === 5
          ? { qos: s.qos, rh: 1, ...(s.payload === 'sparkplug_b' ? { nl: true } : {}) }
          : { qos: s.qos };
    }
    client.subscribe(subs, (err, granted) => {
      const refused = (granted ?? [])
        .filter((g) => g.qos !== 0 && g.qos !== 1 && g.qos !== 2)
        .map((g) => g.topic);
      if (err || refused.length > 0) {
        const what = err ? err.message : `refused: ${refused.join(', ')}`;
        this.#detail = `subscription failed (${what}); nothing arrives on those topics`;
        this.#noteError(this.#detail);
        this.#ctx?.log.error(
          { err, refused },
          'The MQTT broker did not accept the subscriptions; retrying on the next connection.',
        );
        this.#needSubscribe = true;
        return;
      }
      this.#needSubscribe = false;
      if (this.#protocol === this.#cfg.protocol_version) this.#detail = undefined;
    });
  }

  #noteError(message: string): void {
    this.#lastError = message;
    this.#lastErrorAt = Date.now();
  }

  #onMessage(packet: IPublishPacket, callback: (err?: Error) => void): void {
    const ctx = this.#ctx;
    const client = this.#client;
    if (this.#stopping || !ctx || !client) {
      // Not processed, not acknowledged: the broker redelivers it in the next session.
      callback(DEFER_ACK);
      return;
    }
    this.#counters.messages += 1;
    if (packet.dup) this.#counters.redelivered += 1;
    const entry = this.#queue.push(
      packet.qos > 0 ? packet.messageId : undefined,
      client.stream,
      packet.qos === 2 ? 'pubrec' : 'puback',
    );
    this.#process(ctx, packet, entry);
    if (this.#queue.full) {
      // Stop reading: TCP back-pressure (and receiveMaximum on MQTT 5) make the broker hold the rest.
      this.#counters.read_pauses += 1;
      this.#flush();
      const guard = this.#guard;
      guard?.pause();
      this.#queue.onSpace(() => {
        guard?.resume();
        callback(DEFER_ACK);
      });
    } else callback(DEFER_ACK);
  }

  #process(ctx: AdapterContext, packet: IPublishPacket, entry: InFlight): void {
    const topic = packet.topic;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    let result: MapResult;
    try {
      let route = this.#routes.get(topic);
      if (route === undefined) {
        const levels = topic.split('/');
        route = { levels, mapper: this.#mappers.find((m) => m.matches(levels)) };
        if (this.#routes.size >= ROUTE_CACHE) this.#routes.clear();
        this.#routes.set(topic, route);
      }
      const { levels, mapper } = route;
      if (mapper instanceof SparkplugMapper) {
        this.#processSparkplug(ctx, mapper, topic, levels, payload, entry);
        return;
      }
      result = mapper
        ? mapper.map(topic, levels, payload, this.#cfg.max_payload)
        : {
            ok: false,
            reason: 'unexpected_topic',
            detail: `no subscription of this source matches topic "${topic}"`,
          };
    } catch (err) {
      result = {
        ok: false,
        reason: 'unparseable',
        detail: `payload could not be read: ${(err as Error).message}`,
      };
    }
    if (result.ok) {
      this.#addToBatch(result.samples, entry);
      return;
    }
    this.#counters.payloads_quarantined += 1;
    this.#track(
      ctx.reject(rawText(payload), result.reason, result.detail, topic).then(
        () => this.#queue.settle(entry, true),
        (err: unknown) => this.#emitFailed(err, [entry]),
      ),
    );
  }

  #processSparkplug(
    ctx: AdapterContext,
    mapper: SparkplugMapper,
    topic: string,
    levels: readonly string[],
    payload: Uint8Array,
    entry: InFlight,
  ): void {
    const out = mapper.map(topic, levels, payload, this.#cfg.max_payload, Date.now());
    if (out.rebirth) {
      const { group, node } = out.rebirth;
      this.#sp.requestRebirth(this.#client, group, node, mapper.cfg.rebirth_interval, (m) =>
        this.#noteError(m),
      );
    }
    if (out.rejects.length === 0) {
      if (out.samples.length > 0) this.#addToBatch(out.samples, entry);
      // Nothing to keep (a command, a stale NDEATH, nulls without an earlier value): acknowledged at once.
      else this.#queue.settle(entry, true);
      return;
    }
    // Samples and quarantine entries of one message: the acknowledgement waits for both. Earlier messages'
    // samples go first, so the journal keeps arrival order.
    this.#flush();
    this.#counters.payloads_quarantined += out.rejects.length;
    // The topic goes into the detail too: the quarantine entry keeps the detail, not the address.
    const writes: Array<Promise<unknown>> = out.rejects.map((r: Reject) =>
      ctx.reject(r.raw, r.reason, `${r.detail} (topic ${topic})`, topic),
    );
    if (out.samples.length > 0) {
      writes.push(
        ctx.emit(out.samples).then(() => {
          this.#counters.samples_emitted += out.samples.length;
          this.#lastSampleAt = Date.now();
        }),
      );
    }
    this.#track(
      Promise.all(writes).then(
        () => this.#queue.settle(entry, true),
        (err: unknown) => this.#emitFailed(err, [entry]),
      ),
    );
  }

  #addToBatch(samples: RawSample[], entry: InFlight): void {
    this.#batch ??= { samples: [], entries: [] };
    const b = this.#batch;
    for (const s of samples) b.samples.push(s);
    b.entries.push(entry);
    if (b.samples.length >= MAX_BATCH_SAMPLES) this.#flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  #flush(): void {
    const b = this.#batch;
    const ctx = this.#ctx;
    if (!b || !ctx) return;
    this.#batch = undefined;
    this.#track(
      ctx.emit(b.samples).then(
        () => {
          this.#counters.samples_emitted += b.samples.length;
          this.#lastSampleAt = Date.now();
          for (const e of b.entries) this.#queue.settle(e, true);
        },
        (err: unknown) => this.#emitFailed(err, b.entries),
      ),
    );
  }

  #emitFailed(err: unknown, entries: readonly InFlight[]): void {
    this.#counters.emit_failures += 1;
    if (!this.#stopping && !this.#ctx?.signal.aborted) {
      this.#noteError(err instanceof Error ? err.message : String(err));
      this.#ctx?.log.warn(
        { err },
        'Samples of MQTT messages could not be made durable; they stay unacknowledged.',
      );
    }
    for (const e of entries) this.#queue.settle(e, false);
  }

  #track(p: Promise<unknown>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  async stop(): Promise<void> {
    if (this.#stopped) return this.#stopped;
    this.#stopping = true;
    this.#stopped = (async () => {
      this.#flush();
      // Wait for in-flight emits so their PUBACKs still go out; the rest is redelivered next time.
      await this.#queue.whenIdle();
      await Promise.allSettled([...this.#pending]);
      const client = this.#client;
      if (client) {
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => client.end(true, {}, () => resolve()), 5000);
          client.end(!client.connected, {}, () => {
            clearTimeout(force);
            resolve();
          });
        });
        client.removeAllListeners();
        client.on('error', () => {});
      }
      this.#guard?.dispose();
      this.#guard = undefined;
      this.#client = undefined;
      this.#state = 'stopped';
    })();
    return this.#stopped;
  }

  health(): ComponentHealth {
    const h: ComponentHealth = {
      state: this.#state,
      counters: {
        ...this.#counters,
        acked: this.#queue.acked,
        unacked_for_redelivery: this.#queue.notAcked,
        in_flight: this.#queue.size,
      },
    };
    const details = this.#detail !== undefined ? [this.#detail] : [];
    const nodes = this.#sp.active ? this.#sp.report(h) : undefined;
    if (nodes !== undefined) details.push(nodes);
    if (details.length > 0) h.detail = details.join('; ');
    if (this.#lastSampleAt !== undefined) h.last_sample_at = this.#lastSampleAt;
    if (this.#lastError !== undefined) h.last_error = this.#lastError;
    if (this.#lastErrorAt !== undefined) h.last_error_at = this.#lastErrorAt;
    return h;
  }
}
