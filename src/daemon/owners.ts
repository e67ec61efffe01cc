// Who owns an exception: `owner:` on a signal, else on its source, else the gateway's `owner` (default
// "unassigned"); a sink's dead letters belong to the sink's owner, else the gateway's. Built once per applied
// configuration from the adapters' own declarations, so a pattern-named MQTT signal gets its pattern's owner.
import { adapterFor, type PlantConfig } from '../config/schema.js';

export interface Owners {
  /** The owner of a sample of `signal` (when known) from `sourceId`. */
  sample(sourceId: string, signal?: string): string;
  /** The owner of a sink's dead letters. */
  sink(sinkId: string): string;
  /** Every owner the configuration names (the default included), sorted. */
  readonly names: readonly string[];
  /** The gateway's owner: of whatever names none. */
  readonly fallback: string;
}

/** A `*` in a declared pattern stands for one dotted segment (SignalDeclarations). */
function patternRegex(pattern: string): RegExp {
  const esc = pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${esc.join('[^.]+')}$`);
}

export function ownersOf(cfg: PlantConfig): Owners {
  const fallback = cfg.gateway.owner ?? 'unassigned';
  const sources = new Map<string, string>();
  const exact = new Map<string, string>();
  const patterns: Array<{ re: RegExp; owner: string }> = [];
  const names = new Set<string>([fallback]);
  for (const s of cfg.sources) {
    const sourceOwner = s.owner ?? fallback;
    sources.set(s.id, sourceOwner);
    names.add(sourceOwner);
    const decl = adapterFor(s.type)?.declarations(s);
    for (const x of decl?.exact ?? []) {
      if (x.owner === undefined) continue;
      exact.set(`${s.id}\u0000${x.name}`, x.owner);
      names.add(x.owner);
    }
    for (const p of decl?.patterns ?? []) {
      if (p.spec.owner === undefined) continue;
      patterns.push({ re: patternRegex(`${s.id}\u0000${p.pattern}`), owner: p.spec.owner });
      names.add(p.spec.owner);
    }
  }
  for (const e of cfg.events ?? []) if (e.owner !== undefined) names.add(e.owner);
  const sinks = new Map<string, string>();
  for (const k of cfg.sinks) {
    const o = k.owner ?? fallback;
    sinks.set(k.id, o);
    names.add(o);
  }
  return {
    sample(sourceId, signal) {
      if (signal !== undefined) {
        const key = `${sourceId}\u0000${signal}`;
        const hit = exact.get(key) ?? patterns.find((p) => p.re.test(key))?.owner;
        if (hit !== undefined) return hit;
      }
      return sources.get(sourceId) ?? fallback;
    },
    sink: (sinkId) => sinks.get(sinkId) ?? fallback,
    names: [...names].sort(),
    fallback,
  };
}
