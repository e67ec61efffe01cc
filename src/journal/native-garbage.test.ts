// The native-garbage guard: past its threshold it runs a full collection, which frees closed iterators' buffers.
import { describe, expect, it } from 'vitest';
import { nativeGarbageCollections, noteIteratorGarbage } from './native-garbage.js';

describe('native garbage guard', () => {
  it('collects once enough native memory is waiting for collection, and not before', async () => {
    const before = nativeGarbageCollections();
    noteIteratorGarbage(1024);
    await new Promise((r) => setImmediate(r));
    expect(nativeGarbageCollections()).toBe(before);
    noteIteratorGarbage(64 * 1024 * 1024);
    await new Promise((r) => setImmediate(r));
    expect(nativeGarbageCollections()).toBe(before + 1);
  });
});
