// The `nats` sink: publishes one batch as one JetStream message (the plantgate.batch.v1 document the HTTP sink
// POSTs) with `Nats-Msg-Id: <batch id>`, and reports success only on the stream's PubAck. A PubAck flagged
// duplicate is success too: the stream already holds that batch (a resend after a lost PubAck). The connection is
// opened in the background and reconnects forever; while it is down, writes fail fast as retryable with the reason,
// so /status shows the sink retrying. It never retries by itself (the forwarder does) and never logs a secret.
import {
  type ConnectionOptions,
  connect,
  type JetStreamClient,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
} from 'nats';
import type { Logger } from 'pino';
import { ConfigError } from '../../kit/errors.js';
import type { Batch, Sink, WriteOutcome } from '../kit/types.js';
import { buildBatchBody, WIRE_SCHEMA } from '../kit/wire.js';
import { classifyPublishError, noStreamAdvice } from './classify.js';
import type { NatsSinkConfig } from './config.js';
import { connectPlan, reconnectDelay } from './connect.js';
import { checkStream } from './stream-check.js';
import { renderSubject } from './subject.js';

/** Headers of every message besides Nats-Msg-Id: what a consumer reads without parsing the body. */
export const RECORDS_HEADER = 'Plantgate-Records';
export const SCHEMA_HEADER = 'Plantgate-Schema';
export const CONFIG_HEADER = 'Plantgate-Config';
/** Room for the NATS headers next to the body: both count against the server's max_payload. */
const HEADER_ROOM = 512;
const DUPLICATE_LOG_INTERVAL_MS = 60_000;

export interface NatsSinkOptions {
  config: NatsSinkConfig;
  gatewayId: string;
  site: string;
  /** pino child {component:'sink', kind:'nats', id}. */
  log: Logger;
  /** The running configuration's fingerprint, sent as the `Plantgate-Config` header as the HTTP sink does. */
  configFingerprint?: (() => string | undefined) | undefined;
}

export interface NatsSinkStats {
  published: number;
  /** PubAcks flagged duplicate: the stream already held the batch (dedupe by Nats-Msg-Id at work). */
  duplicates: number;
  connected: boolean;
  server?: string | undefined;
}

export class NatsSink implements Sink {
  readonly id: string;
  readonly #cfg: NatsSinkConfig;
  readonly #gateway: { id: string; site: string };
  readonly #log: Logger;
  readonly #subject: string;
  readonly #configFingerprint: (() => string | undefined) | undefined;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  #connecting: Promise<void> | undefined;
  #connected = false;
  /** Bumped by every start() and stop(): a connection attempt of an earlier life closes what it opens. */
  #life = 0;
  /** When the connection was lost (or first tried): the reconnection backoff grows with this outage's age. */
  #outageSince = Date.now();
  #lastConnError: string | undefined;
  #maxPayload: number | undefined;
  #published = 0;
  #duplicates = 0;
  #duplicatesLogged = 0;
  #duplicateLogAt = 0;
  #noStreamAlarm = false;
  /** Ends the wait between two first-connect rounds early, on stop(). */
  #wake: (() => void) | undefined;

  constructor(opts: NatsSinkOptions) {
    this.id = opts.config.id;
    this.#cfg = opts.config;
    this.#gateway = { id: opts.gatewayId, site: opts.site };
    this.#log = opts.log;
    this.#configFingerprint = opts.configFingerprint;
    const kind = opts.config.select.kinds?.length === 1 ? (opts.config.select.kinds[0] as string) : '';
    try {
      this.#subject = renderSubject(opts.config.subject, {
        gateway: opts.gatewayId,
        site: opts.site,
        sink: opts.config.id,
        kind,
      });
    } catch (err) {
      throw new ConfigError(`Sink ${this.id}: subject "${opts.config.subject}": ${(err as Error).message}.`);
    }
  }

  get subject(): string {
    return this.#subject;
  }

  stats(): NatsSinkStats {
    return {
      published: this.#published,
      duplicates: this.#duplicates,
      connected: this.#connected,
      server: this.#nc?.getServer(),
    };
  }

  /**
   * Builds the connection options (ConfigError for a missing secret or TLS file) and starts connecting in the
   * background: the daemon starts while central is unreachable, and the batches wait in the journal.
   */
  async start(): Promise<void> {
    if (this.#connecting) return;
    this.#life += 1;
    this.#outageSince = Date.now();
    const plan = connectPlan(this.#cfg, `plantgate-${this.#gateway.id}-${this.id}`, () => this.#outageSince);
    if (plan.insecure) {
      this.#log.warn(
        { servers: this.#cfg.servers },
        'TLS certificate verification is OFF for this sink (tls.insecure_skip_verify); anyone on the path can read and alter the batches. Use tls.ca_file instead.',
      );
    }
    this.#connecting = this.#firstConnect(plan.options, this.#life);
  }

  /**
   * Tries every server, then waits (the same backoff as reconnection) and tries again until connected or stopped.
   * The client's own waitOnFirstConnect would retry too, but a connect() in progress cannot be cancelled by stop().
   */
  async #firstConnect(options: ConnectionOptions, life: number): Promise<void> {
    for (;;) {
      if (life !== this.#life) return;
      try {
        this.#onConnected(await connect(options), life);
        return;
      } catch (err) {
        this.#lastConnError = (err as Error).message;
        if ((err as { code?: string }).code === 'INVALID_OPTION') {
          this.#log.error({ err }, 'The NATS client refuses the connection options; the sink stays down.');
          return;
        }
      }
      const wait = reconnectDelay(
        Date.now() - this.#outageSince,
        this.#cfg.reconnect.initial,
        this.#cfg.reconnect.max,
      );
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, wait).unref();
      });
    }
  }

  #onConnected(nc: NatsConnection, life: number): void {
    if (life !== this.#life) {
      void nc.close();
      return;
    }
    this.#nc = nc;
    this.#js = nc.jetstream({ timeout: this.#cfg.timeout });
    this.#connected = true;
    this.#lastConnError = undefined;
    this.#log.info({ server: nc.getServer(), subject: this.#subject }, 'Connected to NATS.');
    this.#checkPayloadLimit(nc);
    void this.#watch(nc);
    if (this.#cfg.stream) {
      checkStream(nc, this.#cfg, this.#subject, this.#log).catch((err: unknown) => {
        this.#log.warn({ err }, 'The stream check could not run; publishing goes on.');
      });
    }
  }

  /** Follows the connection's state: writes are refused while it is down, and the reason is kept for /status. */
  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          if (this.#connected) {
            this.#connected = false;
            this.#outageSince = Date.now();
            this.#log.warn(
              { server: s.data },
              'Lost the NATS connection; reconnecting, batches wait in the journal.',
            );
          }
          break;
        case 'reconnect':
          this.#connected = true;
          this.#lastConnError = undefined;
          this.#log.info({ server: s.data }, 'Reconnected to NATS.');
          this.#checkPayloadLimit(nc);
          break;
        case 'error':
          this.#lastConnError = String(s.data);
          break;
        default:
          break;
      }
    }
  }

  #checkPayloadLimit(nc: NatsConnection): void {
    const max = nc.info?.max_payload;
    if (max === undefined || max === this.#maxPayload) return;
    this.#maxPayload = max;
    // A record is stored with ~40 bytes of key and header that the body does not carry, so a batch of more than a
    // dozen records has a body smaller than its stored size, which batch.max_bytes bounds.
    if (this.#cfg.batch.max_bytes > max) {
      this.#log.error(
        { max_payload: max, batch_max_bytes: this.#cfg.batch.max_bytes },
        `batch.max_bytes (${this.#cfg.batch.max_bytes}) is over the server's max_payload (${max} bytes): full batches would be dead-lettered. Set batch.max_bytes to at most ${max - HEADER_ROOM}.`,
      );
    }
  }

  async write(batch: Batch, signal: AbortSignal): Promise<WriteOutcome> {
    const js = this.#js;
    if (!js || !this.#connected) {
      const why = this.#lastConnError ? `; last error: ${this.#lastConnError}` : '';
      const since = Math.round((Date.now() - this.#outageSince) / 1000);
      return {
        ok: false,
        retryable: true,
        error: `not connected to NATS (${this.#cfg.servers.join(', ')}); reconnecting for ${since} s${why}`,
      };
    }
    const body = buildBatchBody(batch, this.#gateway, new Date().toISOString());
    const max = this.#maxPayload;
    if (max !== undefined && body.length + HEADER_ROOM > max) {
      // No resend can make it fit, and holding it would stop every later batch: dead letter, replayable once
      // batch.max_bytes is lowered or the server's max_payload raised.
      return {
        ok: false,
        retryable: false,
        error: `the batch is ${body.length} bytes, over the server's max_payload of ${max} (with headers); lower batch.max_bytes or raise max_payload, then replay the dead letter`,
      };
    }
    const h: MsgHdrs = natsHeaders();
    h.set(RECORDS_HEADER, String(batch.entries.length));
    h.set(SCHEMA_HEADER, WIRE_SCHEMA);
    const fingerprint = this.#configFingerprint?.();
    if (fingerprint !== undefined) h.set(CONFIG_HEADER, fingerprint);
    const t0 = performance.now();
    let onAbort: (() => void) | undefined;
    try {
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(new Error('aborted'));
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      });
      const ack = await Promise.race([
        js.publish(this.#subject, body, { msgID: batch.batch_id, headers: h, timeout: this.#cfg.timeout }),
        aborted,
      ]);
      this.#published += 1;
      if (ack.duplicate) this.#countDuplicate(batch.batch_id);
      if (this.#noStreamAlarm) {
        this.#noStreamAlarm = false;
        this.#log.info({ stream: ack.stream, subject: this.#subject }, 'The stream accepts batches again.');
      }
      return { ok: true, status: 200, latency_ms: performance.now() - t0 };
    } catch (err) {
      if (signal.aborted)
        return { ok: false, retryable: true, error: 'the publish was aborted (the forwarder is stopping)' };
      const outcome = classifyPublishError(err, {
        subject: this.#subject,
        stream: this.#cfg.stream?.name,
        timeoutMs: this.#cfg.timeout,
        records: batch.entries.length,
      });
      if (outcome.status === 503 && !this.#noStreamAlarm) {
        // Once per episode: retrying cannot create the stream, a person must (central owns its streams).
        this.#noStreamAlarm = true;
        this.#log.error(
          { subject: this.#subject },
          `${noStreamAdvice(this.#subject, this.#cfg.stream?.name)}.`,
        );
      }
      return outcome;
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  #countDuplicate(batchId: string): void {
    this.#duplicates += 1;
    const now = Date.now();
    if (now - this.#duplicateLogAt < DUPLICATE_LOG_INTERVAL_MS) return;
    this.#log.info(
      { batch_id: batchId, duplicates: this.#duplicates - this.#duplicatesLogged },
      'The stream already held resent batch(es) (a PubAck was lost earlier); Nats-Msg-Id de-duplication absorbed them.',
    );
    this.#duplicateLogAt = now;
    this.#duplicatesLogged = this.#duplicates;
  }

  async stop(): Promise<void> {
    this.#life += 1;
    this.#wake?.();
    const nc = this.#nc;
    this.#nc = undefined;
    this.#js = undefined;
    this.#connected = false;
    this.#connecting = undefined;
    if (!nc) return;
    // The forwarder aborted what was in flight; close() flushes and ends the reconnect loop.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      nc.close().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 5000);
      }),
    ]);
    if (timer) clearTimeout(timer);
  }
}
