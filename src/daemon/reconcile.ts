// What a reload does to the running sources and sinks: one pure diff of the running configuration against the
// new file, so the rule "restart what changed, keep what did not" is written once and unit-tested, and the
// daemon only applies it. It lives in src/daemon/ (the daemon's own parts that are not wiring), not in a
// component's room: only the daemon runs components.

/** A stable text of a config section (bigints as decimal text), to tell changed sections from unchanged ones. */
export function configKey(section: unknown): string {
  return JSON.stringify(section, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

export interface ReconcilePlan<C extends { id: string }> {
  /** Running ids the new file no longer has (in running order). */
  stop: string[];
  /** New sections of running ids whose section changed: stop the old one, then start this (in file order). */
  restart: C[];
  /** New sections of ids not running (in file order). */
  start: C[];
  /** Running ids whose section is unchanged: left running untouched (in file order). */
  keep: string[];
}

/**
 * Compares the sections running now (by id) with the sections of the new file. Ids are unique in a valid file
 * (the loader checks); were one repeated, its last section would count.
 */
export function reconcile<C extends { id: string }>(
  running: ReadonlyMap<string, C>,
  next: readonly C[],
): ReconcilePlan<C> {
  const wanted = new Map(next.map((c) => [c.id, c]));
  const plan: ReconcilePlan<C> = { stop: [], restart: [], start: [], keep: [] };
  for (const id of running.keys()) if (!wanted.has(id)) plan.stop.push(id);
  for (const [id, c] of wanted) {
    const now = running.get(id);
    if (now === undefined) plan.start.push(c);
    else if (configKey(now) === configKey(c)) plan.keep.push(id);
    else plan.restart.push(c);
  }
  return plan;
}

/** The plan in the words a reload reports: `<kind> <id> removed|changed|added`. */
export function describePlan(kind: string, plan: ReconcilePlan<{ id: string }>): string[] {
  return [
    ...plan.stop.map((id) => `${kind} ${id} removed`),
    ...plan.restart.map((c) => `${kind} ${c.id} changed`),
    ...plan.start.map((c) => `${kind} ${c.id} added`),
  ];
}
