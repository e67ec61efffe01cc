// One 'abort' listener per signal, fanning out to every pending operation that watches it. Callers pass the same
// long-lived signal (a source's, a forwarder's) to many concurrent appends and waits; a listener per call made Node
// print MaxListenersExceededWarning under load (issue 11.13) although nothing leaked.

export class AbortFanout {
  readonly #watched = new Map<AbortSignal, { listener: () => void; callbacks: Set<() => void> }>();

  /**
   * Calls `onAbort` once if `signal` aborts while watched. Returns the function that stops watching; the signal's
   * single listener is removed when its last watcher stops, so nothing stays attached to a long-lived signal.
   */
  watch(signal: AbortSignal, onAbort: () => void): () => void {
    let entry = this.#watched.get(signal);
    if (!entry) {
      const callbacks = new Set<() => void>();
      const listener = () => {
        this.#watched.delete(signal);
        for (const cb of [...callbacks]) cb();
      };
      entry = { listener, callbacks };
      this.#watched.set(signal, entry);
      signal.addEventListener('abort', listener, { once: true });
    }
    // A wrapper makes every watch distinct even when the same function is watched twice.
    const cb = () => onAbort();
    entry.callbacks.add(cb);
    const e = entry;
    return () => {
      if (!e.callbacks.delete(cb) || e.callbacks.size > 0) return;
      if (this.#watched.get(signal) === e) {
        this.#watched.delete(signal);
        signal.removeEventListener('abort', e.listener);
      }
    };
  }

  /** Signals with a listener attached now (for tests). */
  get size(): number {
    return this.#watched.size;
  }
}
