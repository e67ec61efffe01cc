// The one condition wait of the tests and their harnesses: tests never sleep for a fixed time, they poll a check
// until it holds or a deadline passes. It imports nothing (no test runner, no product code), so every folder's
// tests, the simulators' tests and the harnesses that run from dist/ (adapters/modbus/test-harness.ts) share it.

export interface WaitOptions {
  /** Fails after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between two checks (default 10 ms). */
  intervalMs?: number;
  /** State to attach to a timeout (receiver counts, recent log lines ...): says more in CI than the timeout alone. */
  detail?: () => unknown;
}

/** What a check returns when it holds: any truthy value. */
export type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/** Longest rendering of the last value in a timeout message (the state is shown whole, as asked for). */
const VALUE_MAX = 2000;

function show(v: unknown, max = Number.POSITIVE_INFINITY): string {
  let s: string;
  if (v instanceof Error) s = `${v.name}: ${v.message}`;
  else if (typeof v === 'string') s = JSON.stringify(v);
  else {
    try {
      // JSON.stringify returns undefined for undefined and functions; BigInt and cycles throw.
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = String(v);
    }
  }
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

/**
 * Calls `check` (sync or async) until it returns a truthy value, and returns that value. A check that throws is
 * called again (a daemon not listening yet, a file not written yet); at the deadline the error names `what`, the
 * last value or error the check gave, and `opts.detail()`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  opts: WaitOptions = {},
): Promise<Truthy<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let last: { value: unknown } | { error: unknown };
  for (;;) {
    try {
      const v = await check();
      if (v) return v as Truthy<T>;
      last = { value: v };
    } catch (error) {
      last = { error };
    }
    if (Date.now() > deadline) {
      let msg = `timed out after ${timeoutMs} ms waiting for ${what}`;
      msg +=
        'error' in last
          ? `; last error: ${show(last.error, VALUE_MAX)}`
          : `; last value: ${show(last.value, VALUE_MAX)}`;
      if (opts.detail) {
        try {
          msg += `; state: ${show(await opts.detail())}`;
        } catch (err) {
          msg += `; state unavailable: ${show(err)}`;
        }
      }
      throw new Error(msg, 'error' in last ? { cause: last.error } : undefined);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
