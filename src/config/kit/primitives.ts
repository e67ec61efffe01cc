// Building blocks every component schema uses: durations, sizes, secret references, signal names, units,
// time zones. Each is a zod schema whose input is what a controls engineer writes in YAML.
import { z } from 'zod';

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const DURATION_FACTORS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `1s`, `1.5m`, `2h`, `1d` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (DURATION_FACTORS[m[2] as string] as number));
}

const DURATION_EXPECTED =
  'expected a duration such as "500ms", "1s", "1m" or "2h" (a number followed by ms, s, m, h or d)';

/** A duration such as `500ms`, `1s`, `1m`, `2h`; becomes milliseconds. */
export const duration = z
  // A bare number (`interval: 5`) has no unit; say so instead of "expected string".
  .string({
    error: (iss) =>
      iss.input === undefined ? undefined : `${DURATION_EXPECTED}, got ${JSON.stringify(iss.input)}`,
  })
  .refine((s) => parseDuration(s) !== undefined, {
    error: (iss) => `${DURATION_EXPECTED}, got ${JSON.stringify(iss.input)}`,
  })
  .transform((s) => parseDuration(s) as number);

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/;
const SIZE_FACTORS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

/** Parses `2GiB`, `512MiB`, `100MB`, `4096` (bytes) into bytes; undefined when malformed. */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? Math.floor(text) : undefined;
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * (SIZE_FACTORS[m[2] ?? 'B'] as number));
}

/** A size such as `2GiB`, `512MiB`, `100MB` or a plain number of bytes; becomes bytes. */
export const size = z
  .union([z.string(), z.number()], {
    error: (iss) =>
      iss.input === undefined
        ? undefined
        : `expected a size such as "2GiB", "512MiB", "100MB" or a number of bytes, got ${JSON.stringify(iss.input)}`,
  })
  .refine((s) => parseSize(s) !== undefined, {
    error: (iss) =>
      `expected a size such as "2GiB", "512MiB", "100MB" or a number of bytes, got ${JSON.stringify(iss.input)}`,
  })
  .transform((s) => parseSize(s) as number);

/**
 * A secret value resolved from the environment or a file at load time. It never prints itself:
 * JSON, string conversion and util.inspect all give `[redacted]`.
 */
export class Secret {
  readonly #value: string;
  readonly origin: string;
  constructor(value: string, origin: string) {
    this.#value = value;
    this.origin = origin;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Secret(${this.origin})`;
  }
}

/** Default canonical signal naming rule: lowercase dotted path with at least two segments. */
export const DEFAULT_SIGNAL_NAMING = '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)+$';

/** Identifier for sources, sinks and the gateway: lowercase letters, digits, `-` and `_`. */
export const componentId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
  message: 'expected an id of lowercase letters, digits, "-" or "_" (at most 63 characters), e.g. "press-1"',
});

/** The team that owns what goes wrong with a component: its quarantine entries, dead letters, exception events. */
export const ownerName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
    message: 'expected a team name of lowercase letters, digits, "-" or "_", e.g. "quality" or "erp-team"',
  })
  .describe(
    'Team that owns the exceptions of this part (quarantine entries, dead letters), e.g. "quality", "maintenance", "controls", "erp-team"; inherited downward when absent.',
  );

/**
 * False when a URL carries a user or password: a secret there would sit in the YAML in clear and travel into every
 * place the URL is shown. True for text that is no URL at all (each schema reports that in its own words).
 */
export function urlHasNoCredentials(s: string): boolean {
  try {
    const u = new URL(s);
    return u.username === '' && u.password === '';
  } catch {
    return true;
  }
}
