// Acknowledge-after-persist bookkeeping: messages are processed concurrently, but a QoS 1 message's PUBACK
// (a QoS 2 message's PUBREC) goes out only once it and every message received before it on the same connection
// are durable, because MQTT 3.1.1 and 5 (§4.6) both require PUBACKs, and PUBRECs, in the order the PUBLISH
// packets arrived.

export type EntryState = 'pending' | 'ok' | 'failed';
export type AckCmd = 'puback' | 'pubrec';

export interface InFlight {
  /** Packet id for QoS 1 and 2, undefined for QoS 0 (nothing to acknowledge, but it still counts against the bound). */
  messageId: number | undefined;
  /** The acknowledgement the message gets: PUBACK (QoS 1) or PUBREC (QoS 2). */
  cmd: AckCmd;
  /** The connection it arrived on; a PUBACK is only meaningful on that same connection. */
  conn: object;
  state: EntryState;
}

export interface AckQueueHooks {
  /** Sends the PUBACK or PUBREC; returns false when the connection is gone (the broker will redeliver). */
  ack(messageId: number, conn: object, cmd: AckCmd): boolean;
  /** Called once per connection when one of its messages could not be made durable. */
  failed(conn: object): void;
  /** Brackets a burst of acknowledgements (e.g. to cork the socket so the burst leaves in one write). */
  burst?(phase: 'begin' | 'end'): void;
}

export class AckQueue {
  readonly #items: InFlight[] = [];
  #head = 0;
  readonly #hooks: AckQueueHooks;
  readonly #poisoned = new WeakSet<object>();
  readonly #idle: Array<() => void> = [];
  readonly #space: Array<() => void> = [];
  readonly #limit: number;
  acked = 0;
  notAcked = 0;

  constructor(limit: number, hooks: AckQueueHooks) {
    this.#limit = limit;
    this.#hooks = hooks;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  get full(): boolean {
    return this.size >= this.#limit;
  }

  push(messageId: number | undefined, conn: object, cmd: AckCmd = 'puback'): InFlight {
    const e: InFlight = { messageId, conn, cmd, state: 'pending' };
    this.#items.push(e);
    return e;
  }

  settle(e: InFlight, ok: boolean): void {
    if (e.state !== 'pending') return;
    e.state = ok ? 'ok' : 'failed';
    this.#drain();
  }

  /** Resolves once fewer than `limit` messages are in flight. */
  onSpace(fn: () => void): void {
    if (!this.full) fn();
    else this.#space.push(fn);
  }

  /** Resolves once nothing is in flight. */
  whenIdle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #drain(): void {
    const head = this.#items[this.#head];
    const bursting = head !== undefined && head.state !== 'pending' && this.#hooks.burst !== undefined;
    if (bursting) this.#hooks.burst?.('begin');
    try {
      this.#drainItems();
    } finally {
      if (bursting) this.#hooks.burst?.('end');
    }
    while (!this.full && this.#space.length > 0) (this.#space.shift() as () => void)();
    if (this.size === 0) for (const fn of this.#idle.splice(0)) fn();
  }

  #drainItems(): void {
    while (this.#head < this.#items.length) {
      const e = this.#items[this.#head] as InFlight;
      if (e.state === 'pending') break;
      this.#head += 1;
      if (e.state === 'failed' && !this.#poisoned.has(e.conn)) {
        // Later messages on this connection are not acknowledged either: an acknowledgement must never run
        // ahead of a message the broker still has to redeliver.
        this.#poisoned.add(e.conn);
        this.#hooks.failed(e.conn);
      }
      if (e.messageId === undefined) continue;
      if (e.state === 'ok' && !this.#poisoned.has(e.conn) && this.#hooks.ack(e.messageId, e.conn, e.cmd))
        this.acked += 1;
      else this.notAcked += 1;
    }
    // Compact now and then instead of shifting on every message.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
