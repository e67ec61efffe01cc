// The linked signal: follows its parent, fires at its deadline (even across garbage collections), and detaches.
import { describe, expect, it } from 'vitest';
import { linkedSignal } from './abort.js';

describe('linkedSignal', () => {
  it('aborts when the parent aborts, not as a timeout', () => {
    const parent = new AbortController();
    const l = linkedSignal(parent.signal, 10_000);
    parent.abort(new Error('stop'));
    expect(l.signal.aborted).toBe(true);
    expect(l.timedOut()).toBe(false);
    l.dispose();
  });

  it('aborts at its deadline and says so', async () => {
    const l = linkedSignal(new AbortController().signal, 30);
    const t0 = Date.now();
    await new Promise((resolve) => l.signal.addEventListener('abort', resolve, { once: true }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(l.timedOut()).toBe(true);
    l.dispose();
  });

  it('starts aborted under an aborted parent', () => {
    const parent = new AbortController();
    parent.abort();
    expect(linkedSignal(parent.signal, 5).signal.aborted).toBe(true);
  });

  it('detaches from the parent on dispose', () => {
    const parent = new AbortController();
    const l = linkedSignal(parent.signal, 10_000);
    l.dispose();
    parent.abort();
    expect(l.signal.aborted).toBe(false);
  });
});
