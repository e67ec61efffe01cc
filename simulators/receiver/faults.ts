// The receiver's fault injection: which faults are active, how a fault command changes them, and which of them
// a batch request runs into. Counted faults (`count`, `reset: N`) are used up here, one per request that meets
// them, so the HTTP handler only asks and acts.
import type { ActiveFaults, FaultCommand } from './types.js';
import type { WireBatch } from './wire.js';

/** An injected status answer for one request. */
export interface StatusFault {
  code: number;
  headers: Record<string, string>;
}

export class FaultState {
  #faults: ActiveFaults = {};

  /** A copy of the active faults (the caller may keep or change it). */
  snapshot(): ActiveFaults {
    return structuredClone(this.#faults);
  }

  /** Applies a fault command; given keys replace current ones. Throws on a status that is no HTTP status. */
  set(f: FaultCommand): void {
    if (f.clear) this.#faults = {};
    if (f.status !== undefined) {
      if (!Number.isInteger(f.status) || f.status < 100 || f.status > 599)
        throw new Error('status must be an HTTP status code');
      const s: NonNullable<ActiveFaults['status']> = { code: f.status };
      if (f.count !== undefined) s.remaining = f.count;
      if (f.for_ms !== undefined) s.until = Date.now() + f.for_ms;
      if (f.retry_after !== undefined) s.retry_after = String(f.retry_after);
      if (f.location !== undefined) s.location = f.location;
      if (f.only_batch !== undefined) s.only_batch = f.only_batch;
      this.#faults.status = s;
    }
    if (f.slow_ms !== undefined) {
      if (f.slow_ms > 0) this.#faults.slow_ms = f.slow_ms;
      else delete this.#faults.slow_ms;
    }
    if (f.slow_only_batch !== undefined) {
      if (f.slow_only_batch === null) delete this.#faults.slow_only_batch;
      else this.#faults.slow_only_batch = f.slow_only_batch;
    }
    if (f.reset !== undefined) {
      if (f.reset === true) this.#faults.reset = {};
      else if (typeof f.reset === 'number' && f.reset > 0) this.#faults.reset = { remaining: f.reset };
      else delete this.#faults.reset;
    }
    if (f.reject_records !== undefined) this.#faults.reject_records = [...f.reject_records];
    if (f.reject_if !== undefined) this.#faults.reject_if = { ...f.reject_if };
  }

  /** Whether this request's connection is to be reset; uses up one of a counted reset fault. */
  takeReset(): boolean {
    const reset = this.#faults.reset;
    if (!reset) return false;
    if (reset.remaining !== undefined && --reset.remaining <= 0) delete this.#faults.reset;
    return true;
  }

  /** How long to hold the answer to this body back (0: not at all). */
  slowMsFor(raw: Buffer): number {
    const ms = this.#faults.slow_ms;
    if (!ms) return 0;
    const only = this.#faults.slow_only_batch;
    if (only === undefined) return ms;
    // The batch id sits near the start of a contract body; a cheap search is enough for a fault filter.
    return raw.subarray(0, 4096).includes(`"batch_id":${JSON.stringify(only)}`) ? ms : 0;
  }

  /**
   * The injected status answer for a batch with this id, if the status fault applies to it; uses up one of a
   * counted fault, and drops a timed one that has run out.
   */
  takeStatus(batchId: string | undefined): StatusFault | undefined {
    const sf = this.#faults.status;
    if (sf && sf.until !== undefined && Date.now() >= sf.until) delete this.#faults.status;
    else if (sf && (sf.only_batch === undefined || sf.only_batch === batchId)) {
      if (sf.remaining !== undefined && --sf.remaining <= 0) delete this.#faults.status;
      const headers: Record<string, string> = {};
      if (sf.retry_after !== undefined) headers['retry-after'] = sf.retry_after;
      if (sf.location !== undefined) headers.location = sf.location;
      return { code: sf.code, headers };
    }
    return undefined;
  }

  /** Why reject_records / reject_if refuse this batch, or undefined when they do not. */
  rejectedBy(batch: WireBatch): string | undefined {
    const ids = this.#faults.reject_records;
    const cond = this.#faults.reject_if;
    if (!ids && !cond) return undefined;
    const idSet = ids ? new Set(ids) : undefined;
    for (const r of batch.records) {
      if (idSet?.has(r.id)) return `record ${r.id} is refused`;
      if (cond && (cond.signal !== undefined || cond.type !== undefined)) {
        const sigOk = cond.signal === undefined || r.signal === cond.signal;
        const typeOk = cond.type === undefined || r.type === cond.type;
        if (sigOk && typeOk) return `record ${r.id} matches reject_if`;
      }
    }
    return undefined;
  }
}
