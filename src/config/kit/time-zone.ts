// IANA time zone names checked at load (luxon/Intl), canonicalised, and a near miss comes back with the
// zone the engineer most likely meant ("Europe/Pari" -> "Europe/Paris").
import { IANAZone } from 'luxon';
import { z } from 'zod';
import { didYouMean } from './suggest.js';

let zones: string[] | undefined;

function knownZones(): string[] {
  if (!zones) {
    const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
    zones = [...(intl.supportedValuesOf?.('timeZone') ?? []), 'UTC'];
  }
  return zones;
}

/** Undefined when `tz` is a valid IANA zone, else a sentence with the closest valid name. */
export function checkTimeZone(tz: string): string | undefined {
  if (IANAZone.isValidZone(tz)) return undefined;
  const hint = didYouMean(tz, knownZones());
  return hint
    ? `unknown time zone "${tz}"${hint}`
    : `unknown time zone "${tz}"; expected an IANA name such as "Europe/Paris", "America/Chicago" or "UTC"`;
}

/** The zone's canonical spelling as Intl reports it ("europe/paris" -> "Europe/Paris"). */
export function canonicalTimeZone(tz: string): string {
  return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
}

/** An IANA time zone name; becomes its canonical spelling. */
export const ianaTimeZone = z
  .string()
  .superRefine((tz, ctx) => {
    const problem = checkTimeZone(tz);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform((tz) => canonicalTimeZone(tz));
