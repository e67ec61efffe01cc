// What /status says of a sink's rate limit: whether it holds batches back now (`rate-limited`), the estimated
// time until the backlog is drained at the limit, and the words for the sink's detail line. Pure functions of the
// limiter's snapshot, kept beside sink-health.ts, which decides the state.
import type { RateLimitSnapshot } from './rate-limit.js';

/** A sink counts as rate-limited for this long after an attempt last waited for tokens. */
const RATE_LIMITED_FOR_MS = 2000;

export type RateLimitHealth = RateLimitSnapshot & { limited: boolean; drain_eta_s?: number };

function fmtSeconds(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 360) / 10} h`;
}

/**
 * Limited means an attempt waited for tokens within the last RATE_LIMITED_FOR_MS. The drain estimate divides
 * the backlog by the limit less the rate records keep arriving at (`inputRate`: what was delivered plus what the
 * backlog grew by, from the sink's growth samples), so a sink whose input alone exceeds its limit says so instead.
 */
export function rateLimitHealth(
  snap: RateLimitSnapshot | undefined,
  backlog: number,
  inputRate: () => number,
): RateLimitHealth | undefined {
  if (!snap) return undefined;
  const limited = snap.last_wait_at !== undefined && Date.now() - snap.last_wait_at <= RATE_LIMITED_FOR_MS;
  const out: RateLimitHealth = { ...snap, limited };
  if (limited && snap.records_per_s !== undefined && backlog > 0) {
    const net = snap.records_per_s - inputRate();
    if (net > 0) out.drain_eta_s = Math.ceil(backlog / net);
  }
  return out;
}

/** The detail line of a rate-limited sink: its limits and how long the backlog will take. */
export function limitedDetail(limit: RateLimitHealth | undefined, backlog: number): string {
  const parts: string[] = [];
  if (limit?.records_per_s !== undefined) parts.push(`${limit.records_per_s} records/s`);
  if (limit?.requests_per_s !== undefined) parts.push(`${limit.requests_per_s} requests/s`);
  const pace = `rate-limited to ${parts.join(' and ')}`;
  if (backlog === 0) return `${pace}; delivering`;
  if (limit?.drain_eta_s !== undefined) {
    return `${pace}; a backlog of ${backlog} records drains in about ${fmtSeconds(limit.drain_eta_s)}`;
  }
  return limit?.records_per_s !== undefined
    ? `${pace}; records arrive at least as fast as the limit lets them out, so the backlog of ${backlog} records does not shrink`
    : `${pace}; a backlog of ${backlog} records`;
}
