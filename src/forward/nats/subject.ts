// The subject template of a `nats` sink (`plant.{gateway}.{kind}`): which placeholders exist, the check the schema
// runs on a template, and its rendering for one batch. A subject is fixed per batch (one message per batch), so
// every placeholder names something a whole batch shares.

/** Placeholders a subject template may use, with what they stand for (also the schema's description). */
export const SUBJECT_PLACEHOLDERS = {
  gateway: 'the gateway id (gateway.id)',
  site: 'the site (gateway.site)',
  sink: 'this sink id',
  kind: 'the record kind of the batch (reading or event); needs select.kinds with exactly one kind',
} as const;

export type SubjectPlaceholder = keyof typeof SUBJECT_PLACEHOLDERS;
export type SubjectValues = Record<SubjectPlaceholder, string>;

const PLACEHOLDER_RE = /\{([^{}]*)\}/g;
/** A NATS subject token: no whitespace, no `.` inside, no wildcard; `>` and `*` only subscribe, never publish. */
const TOKEN_RE = /^[^\s.*>{}]+$/;

/** The placeholders a template uses, in order, once each. */
export function placeholdersOf(template: string): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER_RE)) {
    const name = m[1] as string;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/**
 * Undefined when `template` can make a subject to publish to, else a sentence saying what to write instead.
 * Checked on the template with every placeholder standing for one token, since their values are only known when
 * the daemon runs (renderSubject checks those).
 */
export function subjectTemplateProblem(template: string): string | undefined {
  const known = Object.keys(SUBJECT_PLACEHOLDERS);
  for (const name of placeholdersOf(template)) {
    if (!known.includes(name)) {
      return `unknown placeholder {${name}} in the subject; use ${known.map((k) => `{${k}}`).join(', ')}`;
    }
  }
  const rest = template.replace(PLACEHOLDER_RE, 'x');
  if (/[{}]/.test(rest)) return 'unbalanced "{" or "}" in the subject; placeholders are written {name}';
  for (const token of rest.split('.')) {
    if (token === '')
      return 'empty token in the subject (a leading, trailing or doubled "."), e.g. "plant.{gateway}"';
    if (token === '*' || token === '>' || /[*>]/.test(token)) {
      return 'wildcards ("*", ">") cannot be published to; write a concrete subject, e.g. "plant.{gateway}.{kind}"';
    }
    if (/\s/.test(token)) return 'the subject contains whitespace; NATS subjects are tokens separated by "."';
  }
  return undefined;
}

/**
 * The subject for one batch. A value that is not one NATS token (a site "Lyon Nord", a dot in it) would change
 * the subject's shape, so it is an error naming the value and the placeholder: fix the gateway section, or use
 * a literal in the template.
 */
export function renderSubject(template: string, values: SubjectValues): string {
  return template.replace(PLACEHOLDER_RE, (_, name: string) => {
    const v = values[name as SubjectPlaceholder];
    if (v === undefined) throw new Error(`unknown placeholder {${name}} in the subject`);
    if (!TOKEN_RE.test(v)) {
      throw new Error(
        `{${name}} is ${JSON.stringify(v)}, which is not one NATS subject token (no ".", space, "*" or ">"); write that part of the subject literally`,
      );
    }
    return v;
  });
}

/**
 * The config-wide check of a `nats` sink against the gateway section: the subject renders with this gateway's id
 * and site (a site "Lyon Nord" cannot fill {site}). Undefined for other sink kinds and when it renders; meant
 * for src/config/checks.ts, so check-config reports it at its key rather than the daemon at start.
 */
export function natsSubjectIssue(
  sink: { type: string; id: string; subject?: unknown; select?: { kinds?: readonly string[] | undefined } },
  gateway: { id: string; site: string },
): { path: string[]; message: string } | undefined {
  if (sink.type !== 'nats' || typeof sink.subject !== 'string') return undefined;
  try {
    renderSubject(sink.subject, {
      gateway: gateway.id,
      site: gateway.site,
      sink: sink.id,
      kind: sink.select?.kinds?.length === 1 ? (sink.select.kinds[0] as string) : 'reading',
    });
    return undefined;
  } catch (err) {
    return { path: ['subject'], message: (err as Error).message };
  }
}
