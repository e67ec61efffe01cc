// What the side stores share beside the records: the age pass over quarantine and dead letters, the episodes of
// byte-bound drops (one warning per episode, `dropping_since` on /status), their stats, and the derived-event
// state (`s!` keys), which a reader sees as soon as it is put, before its commit is synced.
import { PlantgateError } from '../kit/errors.js';
import type { Draft, Episode, JournalCore, Op } from './core.js';
import { dropOldDeadLetters } from './dead-letters.js';
import { dropOldQuarantine } from './quarantine.js';
import type { KeptBound, KeptStats, StateWrite } from './types.js';

/** A quarantine or dead-letter store counts as dropping at its bound for this long after its last byte-bound drop. */
const KEPT_EPISODE_MS = 10 * 60_000;

type Which = 'quarantine' | 'dead_letters';

/** True when the oldest quarantine entry or dead letter may have turned older than its bound's max_age. */
export function keptAgeCheckDue(core: JournalCore, now: number): boolean {
  const due = (next: number | undefined, b: KeptBound) =>
    (b.maxAgeMs ?? 0) > 0 && next !== undefined && now >= next;
  return due(core.qAgeNextAt, core.qBound) || due(core.dlAgeNextAt, core.dlBound);
}

/** Drops quarantine entries and dead letters older than their `max_age`. */
export async function keptAgePass(
  core: JournalCore,
  draft: Draft,
  ops: Op[],
  removedQ: Set<number>,
  removedDl: Set<string>,
): Promise<void> {
  const now = Date.now();
  const qAge = core.qBound.maxAgeMs ?? 0;
  if (qAge > 0 && core.qAgeNextAt !== undefined && now >= core.qAgeNextAt)
    await dropOldQuarantine(core, draft, ops, removedQ, 'max_age', { cutoff: now - qAge });
  const dlAge = core.dlBound.maxAgeMs ?? 0;
  if (dlAge > 0 && core.dlAgeNextAt !== undefined && now >= core.dlAgeNextAt)
    await dropOldDeadLetters(core, draft, ops, removedDl, 'max_age', { cutoff: now - dlAge });
}

/** After a synced commit (its meta installed): ends or starts/extends the drop episodes. */
export function installKeptEpisodes(core: JournalCore, draft: Draft): void {
  // Room made otherwise (replay, purge, age) ends an episode; a byte-bound drop in the same commit starts one.
  if (draft.keptFreed.q) core.qEpisode = undefined;
  if (draft.keptFreed.dl) core.dlEpisode = undefined;
  if (draft.keptDrops.q > 0)
    core.qEpisode = noteKeptDrops(core, 'quarantine', core.qEpisode, draft.keptDrops.q);
  if (draft.keptDrops.dl > 0)
    core.dlEpisode = noteKeptDrops(core, 'dead_letters', core.dlEpisode, draft.keptDrops.dl);
}

/** Starts or extends an episode of byte-bound drops; one warning per episode and at most one per 10 minutes. */
function noteKeptDrops(core: JournalCore, which: Which, ep: Episode | undefined, n: number): Episode {
  const now = Date.now();
  const bound = which === 'quarantine' ? core.qBound : core.dlBound;
  const next = ep && episodeActive(ep, now) ? ep : { since: now, last: now, logged: 0 };
  next.last = now;
  if (now - next.logged >= KEPT_EPISODE_MS) {
    next.logged = now;
    const m = core.meta;
    const what = which === 'quarantine' ? 'quarantine entries' : 'dead-letter batches';
    const dropped = which === 'quarantine' ? m.q_dropped.max_bytes : m.dl_dropped.max_bytes;
    core.log.warn(
      {
        [which]: { bytes: which === 'quarantine' ? m.q_bytes : m.dl_bytes, max_bytes: bound.maxBytes },
        dropped_now: n,
        dropped_total: dropped ?? 0,
        when_full: bound.whenFull,
      },
      `The ${which === 'quarantine' ? 'quarantine' : 'dead-letter store'} is at its bound (storage.${which}.max_bytes ${bound.maxBytes}); ${
        bound.whenFull === 'drop_oldest' ? `its oldest ${what} are dropped` : `new ${what} are dropped`
      } and counted. Replay or purge them, or raise the bound.`,
    );
  }
  return next;
}

function episodeActive(ep: { since: number; last: number } | undefined, now: number): boolean {
  return ep !== undefined && now - ep.last < KEPT_EPISODE_MS;
}

export function keptStats(core: JournalCore, which: Which): KeptStats {
  const m = core.meta;
  const b = which === 'quarantine' ? core.qBound : core.dlBound;
  const ep = which === 'quarantine' ? core.qEpisode : core.dlEpisode;
  const active = episodeActive(ep, Date.now());
  return {
    bytes: which === 'quarantine' ? m.q_bytes : m.dl_bytes,
    max_bytes: b.maxBytes,
    ...((b.maxAgeMs ?? 0) > 0 ? { max_age_ms: b.maxAgeMs } : {}),
    when_full: b.whenFull,
    dropped: { ...(which === 'quarantine' ? m.q_dropped : m.dl_dropped) },
    ...(active && ep ? { dropping_since: ep.since } : {}),
  };
}

/** Derived-event state: what is pending or being committed first, then the store. */
export async function getState<T>(core: JournalCore, key: string): Promise<T | undefined> {
  const db = core.openDb();
  const pending = core.states.get(key) ?? core.inflightStates.get(key);
  const v =
    pending ??
    (await db.get(`s!${key}`).catch((err: unknown) => {
      throw core.wrapDbError(err, 'getState');
    }));
  return v === undefined ? undefined : (JSON.parse(v) as T);
}

/**
 * Puts a state value into the commit the caller enqueues next, in the same tick: the commit loop takes the staged
 * states and the queued requests together, so both are in one synced batch. A rejection when the value is not
 * JSON; undefined when staged (or nothing to stage).
 */
export function stageState(core: JournalCore, state: StateWrite | undefined): Promise<never> | undefined {
  if (!state) return undefined;
  const json = JSON.stringify(state.value);
  if (json === undefined)
    return Promise.reject(new PlantgateError('INTERNAL', `State "${state.key}" is not JSON.`));
  core.states.set(state.key, json);
  return undefined;
}
