// Keeps classic-level's native iterator buffers from piling up. A closed iterator keeps the entries of its last
// read step (up to the step's byte limit) in native memory until V8 collects its small JavaScript handle, and V8
// sees none of that memory, so with a steady heap it may not collect for minutes while reads leave hundreds of MB
// behind. The journal reports what each closed iterator leaves, and past a threshold a full collection runs.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/** Native bytes left behind by closed iterators after which a collection runs. */
const THRESHOLD = 32 * 1024 * 1024;
/** Bytes of an iterator cache slot: a pair of std::string headers, kept as reserved capacity. */
export const ENTRY_OVERHEAD = 64;

let pending = 0;
let scheduled = false;
let gcFn: (() => void) | null | undefined;
let collections = 0;

function collector(): (() => void) | null {
  if (gcFn !== undefined) return gcFn;
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') {
    gcFn = existing as () => void;
    return gcFn;
  }
  try {
    // Exposes `gc` only inside a fresh context: nothing changes for the rest of the process.
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    gcFn = typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    gcFn = null;
  }
  return gcFn;
}

let observing = false;

/** A full collection the process ran by itself frees the same handles: nothing to force then. */
function observeMajorCollections(): void {
  if (observing) return;
  observing = true;
  try {
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as { detail?: { kind?: number } }).detail?.kind;
        if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) pending = 0;
      }
    });
    obs.observe({ entryTypes: ['gc'] });
    // Never keeps the process alive (the observer holds no handle), but be explicit about intent.
    (obs as unknown as { unref?: () => void }).unref?.();
  } catch {
    // Without GC events the threshold alone decides.
  }
}

/**
 * Records that a closed iterator or a written batch still holds about `bytes` of native memory until its handle is
 * collected.
 */
export function noteIteratorGarbage(bytes: number): void {
  observeMajorCollections();
  pending += bytes;
  if (pending < THRESHOLD || scheduled) return;
  scheduled = true;
  setImmediate(() => {
    scheduled = false;
    pending = 0;
    const gc = collector();
    if (gc) {
      gc();
      collections++;
    }
  });
}

/** Collections triggered so far (for tests and benchmarks). */
export function nativeGarbageCollections(): number {
  return collections;
}
