// An in-memory state store for the derive transform, for tests and tools that run without a journal. Values
// go through JSON both ways, exactly like the journal's getState/putState, so what survives here survives there.
import { DERIVE_STATE_KEY, type DeriveStateStore } from './derive.js';

export class MemoryStateStore implements DeriveStateStore {
  readonly #values = new Map<string, string>();

  async get<T>(key: string): Promise<T | undefined> {
    const text = this.#values.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async put(key: string, value: unknown): Promise<void> {
    this.#values.set(key, JSON.stringify(value));
  }

  /** Stores a Deriver snapshot under DERIVE_STATE_KEY, as the daemon's commit does. */
  async commit(snapshot: Record<string, unknown>): Promise<void> {
    await this.put(DERIVE_STATE_KEY, snapshot);
  }

  keys(): string[] {
    return [...this.#values.keys()];
  }
}
