// The configuration fingerprint: a SHA-256 of the effective configuration (after defaults and path resolution),
// with every secret replaced by its reference (`env:CENTRAL_TOKEN`, `file:/etc/plantgate/erp.token`) and keys in
// canonical order. Comments, key order, quoting and anything else that does not change the parsed result leave it
// unchanged; a secret's value never enters it, so it can be shown, logged and sent with every batch.
import { createHash } from 'node:crypto';
import { Secret } from './kit/primitives.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** `--no-secrets` marks references it did not resolve; the reference itself is the same either way. */
const NOT_CHECKED_SUFFIX = ' (not checked)';

/**
 * The effective configuration as plain JSON, keys sorted at every level, secrets as their references. What the
 * fingerprint hashes and what the history keeps.
 */
export function effectiveConfig(value: unknown): JsonValue {
  if (value instanceof Secret) {
    const ref = value.origin.endsWith(NOT_CHECKED_SUFFIX)
      ? value.origin.slice(0, -NOT_CHECKED_SUFFIX.length)
      : value.origin;
    return { secret: ref };
  }
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(effectiveConfig);
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    // Parsed sections are plain objects; anything else (a RegExp, a URL) is hashed as its text.
    if (proto !== Object.prototype && proto !== null) return String(value);
    const out: { [key: string]: JsonValue } = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      // An absent optional and an explicit undefined are the same configuration.
      if (v === undefined || typeof v === 'function') continue;
      out[key] = effectiveConfig(v);
    }
    return out;
  }
  return String(value);
}

/** `sha256:<hex>` of the canonical JSON of an effective configuration (already canonical or not). */
export function fingerprintOf(effective: JsonValue): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(effective)).digest('hex')}`;
}

/** The fingerprint of a parsed configuration (what check-config prints and the daemon shows on /status). */
export function configFingerprint(config: unknown): string {
  return fingerprintOf(effectiveConfig(config));
}
