// The reload diff, table-driven: for a running set and a new file, what is stopped, restarted, started and kept,
// and the words the reload reports. A section counts as changed when any of its values differs (bigints too).
import { describe, expect, it } from 'vitest';
import { configKey, describePlan, reconcile } from './reconcile.js';

interface Section {
  id: string;
  url?: string;
  poll?: number;
  max?: bigint;
  signals?: Array<{ name: string }>;
}

const a: Section = { id: 'a', url: 'http://a', signals: [{ name: 'x' }] };
const b: Section = { id: 'b', url: 'http://b' };
const c: Section = { id: 'c', poll: 500 };

const table: Array<{
  name: string;
  running: Section[];
  next: Section[];
  stop: string[];
  restart: string[];
  start: string[];
  keep: string[];
  words: string[];
}> = [
  {
    name: 'nothing running, nothing wanted',
    running: [],
    next: [],
    stop: [],
    restart: [],
    start: [],
    keep: [],
    words: [],
  },
  {
    name: 'first start: everything is started',
    running: [],
    next: [a, b],
    stop: [],
    restart: [],
    start: ['a', 'b'],
    keep: [],
    words: ['sink a added', 'sink b added'],
  },
  {
    name: 'the same file again: everything kept',
    running: [a, b],
    next: [{ ...b }, { ...a, signals: [{ name: 'x' }] }],
    stop: [],
    restart: [],
    start: [],
    keep: ['b', 'a'],
    words: [],
  },
  {
    name: 'a removed section is stopped',
    running: [a, b, c],
    next: [b],
    stop: ['a', 'c'],
    restart: [],
    start: [],
    keep: ['b'],
    words: ['sink a removed', 'sink c removed'],
  },
  {
    name: 'a changed value restarts only that section',
    running: [a, b],
    next: [a, { ...b, url: 'http://b2' }],
    stop: [],
    restart: ['b'],
    start: [],
    keep: ['a'],
    words: ['sink b changed'],
  },
  {
    name: 'a change deep inside (a signal renamed) is a change',
    running: [a],
    next: [{ ...a, signals: [{ name: 'y' }] }],
    stop: [],
    restart: ['a'],
    start: [],
    keep: [],
    words: ['sink a changed'],
  },
  {
    name: 'an added key is a change',
    running: [b],
    next: [{ ...b, poll: 100 }],
    stop: [],
    restart: ['b'],
    start: [],
    keep: [],
    words: ['sink b changed'],
  },
  {
    name: 'a bigint value compares by its digits',
    running: [{ id: 'm', max: 18446744073709551615n }],
    next: [{ id: 'm', max: 18446744073709551614n }],
    stop: [],
    restart: ['m'],
    start: [],
    keep: [],
    words: ['sink m changed'],
  },
  {
    name: 'removed, changed, added and kept at once',
    running: [a, b, c],
    next: [{ id: 'd' }, { ...c, poll: 250 }, a],
    stop: ['b'],
    restart: ['c'],
    start: ['d'],
    keep: ['a'],
    words: ['sink b removed', 'sink c changed', 'sink d added'],
  },
  {
    name: 'an id moved to another kind of section (same id, other content) is restarted, not kept',
    running: [{ id: 'x', url: 'http://x' }],
    next: [{ id: 'x', poll: 1000 }],
    stop: [],
    restart: ['x'],
    start: [],
    keep: [],
    words: ['sink x changed'],
  },
];

describe('reconcile(running, next)', () => {
  for (const t of table) {
    it(t.name, () => {
      const plan = reconcile(new Map(t.running.map((s) => [s.id, s])), t.next);
      expect({
        stop: plan.stop,
        restart: plan.restart.map((s) => s.id),
        start: plan.start.map((s) => s.id),
        keep: plan.keep,
      }).toEqual({ stop: t.stop, restart: t.restart, start: t.start, keep: t.keep });
      expect(describePlan('sink', plan)).toEqual(t.words);
      // Every running id is stopped, restarted or kept; every wanted id is restarted, started or kept.
      const running = new Set(t.running.map((s) => s.id));
      expect(new Set([...plan.stop, ...plan.restart.map((s) => s.id), ...plan.keep])).toEqual(running);
      const wanted = new Set(t.next.map((s) => s.id));
      expect(
        new Set([...plan.start.map((s) => s.id), ...plan.restart.map((s) => s.id), ...plan.keep]),
      ).toEqual(wanted);
    });
  }

  it('hands back the new sections to start and restart, not the running ones', () => {
    const changed = { ...b, url: 'http://b2' };
    const plan = reconcile(new Map([['b', b]]), [changed, c]);
    expect(plan.restart[0]).toBe(changed);
    expect(plan.start[0]).toBe(c);
  });

  it('is pure: neither input is changed', () => {
    const running = new Map([['a', a]]);
    const next = [b];
    const before = configKey({ running: [...running], next });
    reconcile(running, next);
    expect(configKey({ running: [...running], next })).toBe(before);
  });
});
