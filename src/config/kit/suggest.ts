// "Did you mean" for configuration messages: the closest allowed word by edit distance, so a typo in a key,
// a type, a time zone or a signal name comes back with the word the engineer most likely meant; and a signal
// name that breaks the naming rule comes back fixed.
import { DEFAULT_SIGNAL_NAMING } from './primitives.js';

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  const at = (i: number, j: number) => d[i * cols + j] as number;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * cols + j] = v;
    }
  }
  return at(rows - 1, cols - 1);
}

/**
 * The candidate closest to `word`, or undefined when none is close enough to be a plausible typo.
 * Case differences count as half an edit, so "europe/paris" finds "Europe/Paris" before "Europe/Parix".
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  const lower = word.toLowerCase();
  for (const c of candidates) {
    if (c === word) continue;
    const score = editDistance(lower, c.toLowerCase()) + (editDistance(word, c) > 0 ? 0.5 : 0);
    // A third of the longer word may differ (at least 2 edits), so "polling_interval" finds "poll_interval"
    // but "id" does not turn into "url".
    const limit = Math.max(2, Math.floor(Math.max(word.length, c.length) / 3)) + 0.5;
    if (score <= limit && score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

/** `; did you mean "x"?` or an empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const hit = closest(word, candidates);
  return hit === undefined ? '' : `; did you mean "${hit}"?`;
}

/** A short human list: `"a", "b" or "c"` (or `and`), cut after `max` items. */
export function quoteList(items: readonly string[], max = 12, conj: 'or' | 'and' = 'or'): string {
  const shown = items.slice(0, max).map((s) => `"${s}"`);
  const rest = items.length - shown.length;
  if (rest > 0) return `${shown.join(', ')} and ${rest} more`;
  if (shown.length <= 1) return shown.join('');
  return `${shown.slice(0, -1).join(', ')} ${conj} ${shown[shown.length - 1]}`;
}

/** The signal naming rule in words, for messages. */
export function describeRule(rule: string): string {
  if (rule === DEFAULT_SIGNAL_NAMING) {
    return 'lowercase letters, digits and "_" in at least two segments separated by dots, starting with a letter, e.g. "lyon.press1.hydraulic_pressure"';
  }
  return `the pattern ${rule}`;
}

/** A name that follows the rule and stays close to what was written, or undefined. */
export function suggestSignalName(name: string, rule: RegExp, site: string): string | undefined {
  let s = name
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[/\\:]+/g, '.')
    .replace(/[^a-z0-9_.]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/\.+/g, '.')
    .replace(/(^|\.)_+/g, '$1')
    .replace(/_+(\.|$)/g, '$1')
    .replace(/^\.+|\.+$/g, '');
  if (!rule.test(s) && !s.includes('.')) s = `${site}.${s}`;
  return s !== name && rule.test(s) ? s : undefined;
}
