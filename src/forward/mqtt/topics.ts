// Topic templates of the `mqtt` sink (format json): a unified-namespace layout such as "{site}/{path}" for
// readings and "{site}/events/{type}" for events. Templates are checked when the configuration loads (unknown
// placeholders, wildcards); what a placeholder expands to is checked per record, since a signal name or an event
// type may hold characters a topic name cannot (a `+` or `#`), and such a record must fail alone, not the process.
import type { CanonicalRecord } from '../../model/records.js';

/** The placeholders each template may hold, and what they expand to. */
export const READING_PLACEHOLDERS = ['site', 'gateway', 'sink', 'source', 'signal', 'path'] as const;
export const EVENT_PLACEHOLDERS = ['site', 'gateway', 'sink', 'type', 'subject'] as const;

const PLACEHOLDER_RE = /\{([^{}]*)\}/g;

/** Problems of a template as written, in words for a config error; empty when it is fine. */
export function templateProblems(template: string, allowed: readonly string[]): string[] {
  const problems: string[] = [];
  const unknown = [...template.matchAll(PLACEHOLDER_RE)]
    .map((m) => m[1] as string)
    .filter((name) => !allowed.includes(name));
  if (unknown.length > 0) {
    problems.push(
      `unknown placeholder ${unknown.map((u) => `{${u}}`).join(', ')}; the placeholders here are ${allowed.map((a) => `{${a}}`).join(', ')}`,
    );
  }
  const literal = template.replace(PLACEHOLDER_RE, 'x');
  if (/[{}]/.test(literal)) problems.push('unbalanced "{" or "}": a placeholder is written "{name}"');
  if (/[+#]/.test(literal)) {
    problems.push('a topic name cannot hold "+" or "#" (those are for subscriptions); remove them');
  }
  if (literal.includes('\u0000')) problems.push('a topic name cannot hold a NUL character');
  if (template.startsWith('$')) problems.push('topics starting with "$" are reserved for the broker');
  if (template.length === 0) problems.push('a topic template cannot be empty');
  return problems;
}

export interface TopicContext {
  site: string;
  gateway: string;
  sink: string;
}

/** A compiled template: the literal parts and the placeholder names between them. */
export class TopicTemplate {
  readonly #parts: string[];
  readonly #names: string[];

  constructor(template: string) {
    this.#parts = [];
    this.#names = [];
    let last = 0;
    for (const m of template.matchAll(PLACEHOLDER_RE)) {
      this.#parts.push(template.slice(last, m.index));
      this.#names.push(m[1] as string);
      last = (m.index as number) + m[0].length;
    }
    this.#parts.push(template.slice(last));
  }

  expand(values: Readonly<Record<string, string>>): string {
    let out = this.#parts[0] as string;
    for (let i = 0; i < this.#names.length; i++) {
      out += (values[this.#names[i] as string] ?? '') + (this.#parts[i + 1] as string);
    }
    return out;
  }
}

/** Why an expanded topic cannot be published to, or undefined when it can. */
export function topicNameProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'the topic is empty';
  if (topic.includes('+') || topic.includes('#')) return 'a topic name cannot hold "+" or "#"';
  if (topic.includes('\u0000')) return 'a topic name cannot hold a NUL character';
  if (topic.startsWith('$')) return 'topics starting with "$" are reserved for the broker';
  if (Buffer.byteLength(topic) > 65_535) return 'the topic is longer than 65535 bytes';
  return undefined;
}

/** Builds the topic of each record from the two templates. */
export class RecordTopics {
  readonly #reading: TopicTemplate;
  readonly #event: TopicTemplate;
  readonly #ctx: TopicContext;

  constructor(readingTemplate: string, eventTemplate: string, ctx: TopicContext) {
    this.#reading = new TopicTemplate(readingTemplate);
    this.#event = new TopicTemplate(eventTemplate);
    this.#ctx = ctx;
  }

  /** The topic of a record, or the reason it has none. */
  topicOf(record: CanonicalRecord): { topic: string } | { problem: string } {
    const c = this.#ctx;
    const topic =
      record.kind === 'reading'
        ? this.#reading.expand({
            site: c.site,
            gateway: c.gateway,
            sink: c.sink,
            source: record.source.id,
            signal: record.signal,
            path: record.signal.replaceAll('.', '/'),
          })
        : this.#event.expand({
            site: c.site,
            gateway: c.gateway,
            sink: c.sink,
            type: record.type,
            subject: record.subject,
          });
    const problem = topicNameProblem(topic);
    return problem === undefined ? { topic } : { problem: `topic "${topic}": ${problem}` };
  }
}
