// Keeps an MQTT connection alive while the source has stopped reading from it (max_in_flight reached, e.g. the
// journal is full with `when_full: block`), which MQTT.js' own keepalive cannot do on its own.
//
// The mechanism in MQTT.js 5.16 (lib/KeepaliveManager.js, lib/handlers/index.js): a timer ticks every
// keepalive/2; each tick counts, at 2 ticks (one keepalive without news) it sends a PINGREQ, at 3 ticks
// (1.5 x keepalive) it gives up: "Keepalive timeout", the socket is destroyed. The count restarts only when a
// PUBACK/SUBACK/PUBREL/AUTH or a PINGRESP is *handled*. Neither an incoming PUBLISH nor anything we send
// (our PUBACKs go out through _writePacket) restarts it. Packets are handled one at a time, in order: while the
// source withholds handleMessage's callback (reading paused), the broker's PINGRESP waits behind the unread
// messages, so the connection was declared dead every 1.5 x keepalive (45 s at the 30 s default) of a pause,
// then reconnected, and the broker redelivered everything in flight.
//
// The guard applies the same rule MQTT.js applies, with the evidence the source actually has:
// - the broker is alive while packets from it are being handled, or while we are not reading (then its
//   answers cannot reach us, and TCP holds them): each keepalive/2 that saw either restarts MQTT.js' count
//   (reschedulePing(true)), so MQTT.js times the connection out only after 1.5 x keepalive of reading with
//   nothing arriving, as before;
// - the broker must hear from us within its 1.5 x keepalive: when nothing was sent for keepalive/2 and the
//   count was restarted (so MQTT.js would not ping), the guard sends a PINGREQ. The gap between two packets we
//   send is therefore at most one keepalive. The PINGRESPs are read and handled once reading resumes.
// While reading is paused a broker that closes or resets the connection is noticed at the next PINGREQ write;
// one that vanishes silently (host power loss) is noticed when the kernel gives up retransmitting the PINGREQ
// (Linux default: about 15 minutes). Nothing is lost meanwhile: unacknowledged messages stay with the broker.
import type { MqttClient } from 'mqtt';

export interface KeepaliveGuardCounters {
  /** PINGREQs the guard sent because MQTT.js would not (reading paused, or only publishes arriving). */
  keepalive_pings: number;
  /** Half-keepalive periods during which reading was paused at some point. */
  paused_periods: number;
}

export class KeepaliveGuard {
  readonly #client: MqttClient;
  /** Half the keepalive in force (the guard's tick). */
  #halfMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** Withheld handleMessage callbacks: one per pause (a pause of a lost connection may outlive it). */
  #pauses = 0;
  #pausedSinceTick = false;
  #heardSinceTick = false;
  #lastSentAt = Date.now();
  readonly #counters: KeepaliveGuardCounters;
  readonly #onReceive = () => {
    this.#heardSinceTick = true;
  };
  readonly #onSend = () => {
    this.#lastSentAt = Date.now();
  };
  readonly #onConnect = () => this.#start();
  readonly #onClose = () => this.#stopTimer();

  /** `keepaliveMs`: the keepalive sent in CONNECT (MQTT.js uses the broker's Server Keep Alive if it sets one). */
  constructor(client: MqttClient, keepaliveMs: number, counters: KeepaliveGuardCounters) {
    this.#client = client;
    this.#counters = counters;
    this.#halfMs = Math.max(250, Math.ceil(keepaliveMs / 2));
    // 'packetreceive' is emitted before a packet is handled, 'packetsend' for every packet written (PUBACKs too).
    client.on('packetreceive', this.#onReceive);
    client.on('packetsend', this.#onSend);
    client.on('connect', this.#onConnect);
    client.on('close', this.#onClose);
  }

  /** The source stopped reading the connection (it withholds handleMessage's callback). */
  pause(): void {
    this.#pauses += 1;
    this.#pausedSinceTick = true;
  }

  /** The callback withheld by the matching pause() was called. */
  resume(): void {
    this.#pauses = Math.max(0, this.#pauses - 1);
  }

  get paused(): boolean {
    return this.#pauses > 0;
  }

  /** Detaches from the client (when it is replaced or the source stops). */
  dispose(): void {
    this.#stopTimer();
    this.#client.off('packetreceive', this.#onReceive);
    this.#client.off('packetsend', this.#onSend);
    this.#client.off('connect', this.#onConnect);
    this.#client.off('close', this.#onClose);
  }

  #start(): void {
    this.#stopTimer();
    this.#heardSinceTick = false;
    this.#pausedSinceTick = this.paused;
    this.#lastSentAt = Date.now();
    // A Server Keep Alive in the CONNACK (MQTT 5) replaces ours; MQTT.js reads it the same way. Keep-alive 0
    // switches it off on both sides: nothing to keep alive.
    const seconds = this.#client.keepalive;
    if (!(seconds > 0)) return;
    this.#halfMs = Math.max(250, Math.ceil((seconds * 1000) / 2));
    this.#timer = setInterval(() => this.#tick(), this.#halfMs);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const c = this.#client;
    if (!c.connected) return;
    const paused = this.paused || this.#pausedSinceTick;
    const alive = paused || this.#heardSinceTick;
    this.#pausedSinceTick = this.paused;
    this.#heardSinceTick = false;
    if (!alive) return; // MQTT.js' own count runs on: PINGREQ after one keepalive, timeout after 1.5.
    if (paused) this.#counters.paused_periods += 1;
    c.reschedulePing(true);
    // 0.9: a tick that fires a few ms early must not skip a ping (the next one is half a keepalive later).
    if (Date.now() - this.#lastSentAt >= this.#halfMs * 0.9) {
      this.#counters.keepalive_pings += 1;
      c.sendPing();
    }
  }
}
