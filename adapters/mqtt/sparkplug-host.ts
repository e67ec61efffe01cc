// The Sparkplug B host duties of one `mqtt` source that are not per message: asking edge nodes for a Rebirth
// (rate-limited per node) and summing up the edge nodes of every sparkplug_b subscription for /status.
import type { MqttClient } from 'mqtt';
import type { ComponentHealth } from '../kit/types.js';
import {
  MAX_NODES,
  newSparkplugCounters,
  rebirthPayload,
  rebirthTopic,
  type SparkplugMapper,
} from './sparkplug.js';

/** Dead edge nodes named in the health detail. */
const DETAIL_NAMES = 5;

export class SparkplugHost {
  readonly counters = newSparkplugCounters();
  readonly #mappers: SparkplugMapper[] = [];
  /** When each edge node was last asked for a Rebirth, by "group/node". */
  readonly #rebirthAt = new Map<string, number>();

  add(m: SparkplugMapper): void {
    this.#mappers.push(m);
  }

  get active(): boolean {
    return this.#mappers.length > 0;
  }

  /**
   * Publishes `Node Control/Rebirth` = true to an edge node, at most once per `interval` ms per node. QoS 0 as
   * Sparkplug prescribes for commands: a lost request is repeated at the next message that cannot be resolved.
   */
  requestRebirth(
    client: MqttClient | undefined,
    group: string,
    node: string,
    interval: number,
    onError: (message: string) => void,
  ): void {
    const key = `${group}/${node}`;
    const now = Date.now();
    const last = this.#rebirthAt.get(key);
    if ((last !== undefined && now - last < interval) || !client?.connected) {
      this.counters.rebirths_suppressed += 1;
      return;
    }
    if (this.#rebirthAt.size >= MAX_NODES) this.#rebirthAt.clear();
    this.#rebirthAt.set(key, now);
    this.counters.rebirths_requested += 1;
    client.publish(rebirthTopic(group, node), Buffer.from(rebirthPayload(now)), { qos: 0 }, (err) => {
      if (err) onError(`Rebirth request to ${key} failed: ${err.message}`);
    });
  }

  /** Adds the Sparkplug counters to `h` and returns the sentence about dead edge nodes, if any. */
  report(h: ComponentHealth): string | undefined {
    let online = 0;
    const dead: string[] = [];
    for (const m of this.#mappers) {
      const n = m.nodeStates();
      online += n.online;
      dead.push(...n.dead);
    }
    h.counters = {
      ...h.counters,
      ...this.counters,
      sparkplug_nodes_online: online,
      sparkplug_nodes_dead: dead.length,
    };
    if (dead.length === 0) return undefined;
    dead.sort();
    const more = dead.length > DETAIL_NAMES ? ` and ${dead.length - DETAIL_NAMES} more` : '';
    // "offline" makes /status count the source as degraded while an edge node is dead.
    return `Sparkplug edge node${dead.length > 1 ? 's' : ''} offline (NDEATH): ${dead.slice(0, DETAIL_NAMES).join(', ')}${more}`;
  }
}
