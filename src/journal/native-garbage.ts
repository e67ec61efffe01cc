// Keeps classic-level's native iterator buffers from piling up. A closed iterator keeps the entries of its last
// read step (up to the step's byte limit) in native memory until V8 collects its small JavaScript handle, and V8
// sees none of that memory, so with a steady heap it may not collect for minutes while reads leave hundreds of MB
// behind. The journal reports what each closed iterator leaves, and past a threshold a full collection runs.
// Forcing one needs `gc`, which only `node --expose-gc` provides: the launcher (packaging/plantgate.sh, which the
// systemd unit runs), the demo, the edge harness and `npm run bench` start node with it. Turning the flag on after
// start (v8.setFlagsFromString) is what Node documents as unsafe, so without the flag (`node dist/src/cli.js` by
// hand, the npm bin) nothing is forced and V8's own major collections, observed here anyway, free the handles.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import type { Logger } from 'pino';

/** Native bytes left behind by closed iterators after which a collection runs. */
const THRESHOLD = 32 * 1024 * 1024;
/** Bytes of an iterator cache slot: a pair of std::string headers, kept as reserved capacity. */
export const ENTRY_OVERHEAD = 64;

let pending = 0;
let scheduled = false;
let collections = 0;
let modeLogged = false;

/** The collector `node --expose-gc` installs, or null: looked up when needed, never turned on here. */
function collector(): (() => void) | null {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (gc as () => void) : null;
}

/** Whether this process can force a collection (it was started with --expose-gc). */
export function forcedCollections(): boolean {
  return collector() !== null;
}

/**
 * Says once per process, at info, when collections cannot be forced: a daemon started without --expose-gc (`node
 * dist/src/cli.js` by hand) still works, but its native memory after long reads waits for V8's own collections.
 */
export function logCollectionMode(log: Logger): void {
  if (modeLogged || forcedCollections()) return;
  modeLogged = true;
  log.info(
    'Forced garbage collections are off (node was started without --expose-gc): the native buffers of closed ' +
      "journal iterators are freed by V8's own major collections, later than with the flag.",
  );
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
  const gc = collector();
  // Without `gc` the observer above resets the count whenever V8 collects by itself.
  if (!gc) return;
  scheduled = true;
  setImmediate(() => {
    scheduled = false;
    pending = 0;
    gc();
    collections++;
  });
}

/** Collections triggered so far (for tests and benchmarks). */
export function nativeGarbageCollections(): number {
  return collections;
}
