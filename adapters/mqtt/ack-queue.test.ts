// The ordered acknowledgement queue: PUBACKs leave in arrival order whatever order messages become durable in,
// a failure stops acknowledgements on its connection, and the in-flight bound releases readers as it drains.
import { describe, expect, it } from 'vitest';
import { AckQueue } from './ack-queue.js';

function queue(limit = 10, live?: Set<object>) {
  const acks: number[] = [];
  const failed: object[] = [];
  const q = new AckQueue(limit, {
    ack: (id, conn) => {
      if (live && !live.has(conn)) return false;
      acks.push(id);
      return true;
    },
    failed: (conn) => failed.push(conn),
  });
  return { q, acks, failed };
}

describe('AckQueue', () => {
  it('acknowledges in arrival order when messages become durable out of order', () => {
    const { q, acks } = queue();
    const conn = {};
    const [a, b, c] = [q.push(1, conn), q.push(2, conn), q.push(3, conn)];
    q.settle(c, true);
    q.settle(b, true);
    expect(acks).toEqual([]);
    q.settle(a, true);
    expect(acks).toEqual([1, 2, 3]);
    expect(q.size).toBe(0);
  });

  it('skips QoS 0 entries and drops acknowledgements for a connection that is gone', () => {
    const live = new Set<object>();
    const { q, acks } = queue(10, live);
    const old = {};
    const cur = {};
    live.add(cur);
    const x = q.push(7, old);
    const y = q.push(undefined, cur);
    const z = q.push(8, cur);
    q.settle(z, true);
    q.settle(y, true);
    q.settle(x, true);
    expect(acks).toEqual([8]);
    expect(q.notAcked).toBe(1);
  });

  it('after a failure acknowledges nothing more on that connection, and reports it once', () => {
    const { q, acks, failed } = queue();
    const c1 = {};
    const c2 = {};
    const e = [q.push(1, c1), q.push(2, c1), q.push(3, c1), q.push(1, c2)];
    q.settle(e[1]!, false);
    q.settle(e[2]!, true);
    q.settle(e[0]!, true);
    q.settle(e[3]!, true);
    expect(acks).toEqual([1, 1]);
    expect(failed).toEqual([c1]);
  });

  it('holds readers at the limit and releases them as entries drain; whenIdle resolves when empty', async () => {
    const { q } = queue(2);
    const conn = {};
    const a = q.push(1, conn);
    const b = q.push(2, conn);
    expect(q.full).toBe(true);
    let released = 0;
    q.onSpace(() => released++);
    expect(released).toBe(0);
    let idle = false;
    const idleP = q.whenIdle().then(() => {
      idle = true;
    });
    q.settle(b, true);
    expect(released).toBe(0);
    q.settle(a, true);
    expect(released).toBe(1);
    await idleP;
    expect(idle).toBe(true);
  });

  it('stays correct across many entries (compaction)', () => {
    const { q, acks } = queue(100_000);
    const conn = {};
    const entries = Array.from({ length: 5000 }, (_, i) => q.push(i % 65535, conn));
    for (let i = entries.length - 1; i >= 0; i--) if (i % 2 === 1) q.settle(entries[i]!, true);
    for (let i = 0; i < entries.length; i += 2) q.settle(entries[i]!, true);
    expect(acks).toEqual(entries.map((_, i) => i % 65535));
  });
});
