// A bounded map for the pipeline's caches and per-signal state: memory stays bounded however many distinct
// keys (signal names, hours) arrive. Approximate LRU with two generations (the scheme of quick-lru): a hit
// in the young map costs one Map lookup, unlike a strict LRU that must reorder on every hit.

export class LruCache<K, V> {
  readonly #max: number;
  readonly #generation: number;
  #young = new Map<K, V>();
  #old = new Map<K, V>();
  #evictions = 0;

  /** Holds at most `maxEntries`; entries not used during the last two generations are dropped first. */
  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 2)
      throw new RangeError('maxEntries must be an integer >= 2');
    this.#max = maxEntries;
    this.#generation = Math.floor(maxEntries / 2);
  }

  /** Returns the value and keeps it among the recently used. */
  get(key: K): V | undefined {
    const v = this.#young.get(key);
    if (v !== undefined) return v;
    const old = this.#old.get(key);
    if (old === undefined) return undefined;
    // Used again: promote it so the next generation change does not drop it.
    this.#old.delete(key);
    this.#insertYoung(key, old);
    return old;
  }

  set(key: K, value: V): void {
    if (this.#young.has(key)) {
      this.#young.set(key, value);
      return;
    }
    this.#old.delete(key);
    this.#insertYoung(key, value);
  }

  #insertYoung(key: K, value: V): void {
    if (this.#young.size >= this.#generation) {
      // The young generation is full: it becomes the old one, and what was old (unused since) is dropped.
      this.#evictions += this.#old.size;
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }

  delete(key: K): boolean {
    return this.#young.delete(key) || this.#old.delete(key);
  }

  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }

  get maxEntries(): number {
    return this.#max;
  }

  /** How many entries were dropped by the bound since creation. */
  get evictions(): number {
    return this.#evictions;
  }
}
