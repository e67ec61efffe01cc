// The `mqtt` sink: one QoS 1 message per record to a central broker, as canonical JSON on a unified-namespace topic
// (MQTT 5 adds record_id and batch_id user properties), or as a Sparkplug B edge node (sparkplug-node.ts). A batch
// is acknowledged only when every PUBACK arrived; a lost connection fails it retryably and the forwarder resends it
// whole, so delivery is at least once and receivers de-duplicate on the record id.
import { join } from 'node:path';
import type { IClientOptions, IClientPublishOptions } from 'mqtt';
import type { Logger } from 'pino';
import { resolvedPassword } from '../../config/kit/password-auth.js';
import { readPem } from '../../config/kit/tls.js';
import { ConfigError } from '../../kit/errors.js';
import type { Batch, Sink, SinkEnv, WriteOutcome } from '../kit/types.js';
import { BdSeqStore } from './bdseq.js';
import { DEFAULT_EVENT_TOPIC, DEFAULT_READING_TOPIC, type ResolvedMqttSinkConfig } from './config.js';
import { Link } from './link.js';
import { publishAll, type Send } from './publish-all.js';
import { SparkplugNode } from './sparkplug-node.js';
import { RecordTopics } from './topics.js';

/** How long a write waits for a connection being set up before it reports the sink as not connected. */
const READY_WAIT_MS = 5000;

export function defaultClientId(gatewayId: string, sinkId: string): string {
  // "sink-" keeps it apart from an MQTT source of the same id, whose default is plantgate-<gateway>-<source>.
  return `plantgate-${gatewayId}-sink-${sinkId}`;
}

export class MqttSink implements Sink {
  readonly id: string;
  readonly #cfg: ResolvedMqttSinkConfig;
  readonly #env: SinkEnv;
  readonly #log: Logger;
  #link: Link | undefined;
  #node: SparkplugNode | undefined;
  #topics: RecordTopics | undefined;

  constructor(config: ResolvedMqttSinkConfig, env: SinkEnv) {
    this.id = config.id;
    this.#cfg = config;
    this.#env = env;
    this.#log = env.log;
  }

  get clientId(): string {
    return this.#cfg.client_id ?? defaultClientId(this.#env.gatewayId, this.#cfg.id);
  }

  /** Counters of the connection and, for Sparkplug, of births and rebirth requests. */
  counters(): Record<string, number> {
    return { ...(this.#link?.counters ?? {}), ...(this.#node?.counters ?? {}) };
  }

  /** Reads the password and TLS files (ConfigError when missing) and starts connecting; it does not wait. */
  async start(): Promise<void> {
    if (this.#link) return;
    const cfg = this.#cfg;
    const sparkplug = cfg.format === 'sparkplug_b';
    const clean = cfg.clean_start ?? sparkplug;
    const base: IClientOptions = {
      clientId: this.clientId,
      protocolVersion: cfg.protocol_version,
      clean,
      keepalive: Math.max(1, Math.round(cfg.keepalive / 1000)),
      connectTimeout: cfg.connect_timeout,
      resubscribe: false,
      rejectUnauthorized: true,
    };
    if (cfg.protocol_version === 5) {
      base.properties = {
        sessionExpiryInterval: clean ? 0 : Math.min(0xffffffff, Math.round(cfg.session_expiry / 1000)),
      };
    }
    if (cfg.auth) {
      base.username = cfg.auth.username;
      const password = this.#password();
      if (password !== undefined) base.password = password;
    }
    if (cfg.tls) {
      const read = (path: string, what: string) => {
        try {
          return readPem(path, `TLS ${what}`);
        } catch (err) {
          throw new ConfigError(`MQTT sink "${cfg.id}": ${(err as Error).message}.`, { cause: err });
        }
      };
      if (cfg.tls.ca_file) base.ca = read(cfg.tls.ca_file, 'CA');
      if (cfg.tls.cert_file) base.cert = read(cfg.tls.cert_file, 'client certificate');
      if (cfg.tls.key_file) base.key = read(cfg.tls.key_file, 'client key');
      if (cfg.tls.servername) base.servername = cfg.tls.servername;
    }

    let node: SparkplugNode | undefined;
    const link = new Link({
      url: cfg.url,
      base,
      reconnect: cfg.reconnect,
      maxInflight: cfg.max_inflight_messages,
      log: this.#log,
      ...(sparkplug
        ? {
            beforeConnect: () => (node as SparkplugNode).beforeConnect(),
            onConnect: () => (node as SparkplugNode).onConnect(),
            onMessage: (topic: string, payload: Buffer) => node?.onMessage(topic, payload),
          }
        : {}),
    });
    if (sparkplug && cfg.sparkplug) {
      const stateDir = this.#env.stateDir;
      node = new SparkplugNode({
        groupId: cfg.sparkplug.group_id,
        nodeId: cfg.sparkplug.edge_node_id ?? this.#env.gatewayId,
        link,
        bdSeq: new BdSeqStore(
          stateDir !== undefined ? join(stateDir, `sink-${cfg.id}.sparkplug.json`) : undefined,
        ),
        declared: this.#env.declared ?? (() => []),
        timeoutMs: cfg.timeout,
      });
      this.#node = node;
    } else {
      this.#topics = new RecordTopics(
        cfg.topic ?? DEFAULT_READING_TOPIC,
        cfg.event_topic ?? DEFAULT_EVENT_TOPIC,
        { site: this.#env.site, gateway: this.#env.gatewayId, sink: cfg.id },
      );
    }
    this.#link = link;
    link.start();
  }

  #password(): string | undefined {
    return resolvedPassword(this.#cfg.auth, `MQTT sink "${this.#cfg.id}"`);
  }

  async write(batch: Batch, signal: AbortSignal): Promise<WriteOutcome> {
    const link = this.#link;
    if (!link) return { ok: false, retryable: true, error: 'the sink is not started' };
    if (!(await link.waitReady(signal, READY_WAIT_MS))) {
      return { ok: false, retryable: true, error: link.notReadyReason() };
    }
    if (this.#node) return this.#node.write(batch, signal);
    return this.#writeJson(link, batch, signal);
  }

  #writeJson(link: Link, batch: Batch, signal: AbortSignal): Promise<WriteOutcome> | WriteOutcome {
    const topics = this.#topics as RecordTopics;
    const v5 = this.#cfg.protocol_version === 5;
    const retain = this.#cfg.retain;
    const sends: Send[] = [];
    // Every topic is checked before anything is sent: a batch with a record that has no valid topic is refused
    // whole (a dead letter naming the record), so a replay after the fix sends the batch as it was.
    for (const entry of batch.entries) {
      const t = topics.topicOf(entry.record);
      if ('problem' in t) {
        return {
          ok: false,
          retryable: false,
          error: `record ${entry.record.id} cannot be published: ${t.problem}. Change topic/event_topic (or the name), then replay the dead letter.`,
        };
      }
      const opts: IClientPublishOptions = { qos: 1, retain };
      if (v5) {
        opts.properties = {
          contentType: 'application/json',
          payloadFormatIndicator: true,
          userProperties: { record_id: entry.record.id, batch_id: batch.batch_id },
        };
      }
      const body = entry.json ?? JSON.stringify(entry.record);
      sends.push((s) => link.publish(t.topic, body, opts, s));
    }
    return publishAll(link, sends, signal, this.#cfg.timeout);
  }

  async stop(): Promise<void> {
    const link = this.#link;
    this.#link = undefined;
    if (!link) return;
    const node = this.#node;
    await link.stop(node ? () => node.publishDeath() : undefined);
  }
}
