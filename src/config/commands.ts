// The `check-config` and `schema` commands: a one-line summary or every problem as
// FILE:LINE:COL key.path: message, with the exit codes systemd and CI rely on (0 valid, 78 invalid).
import { buildJsonSchema, jsonSchemaText } from './json-schema.js';
import { formatIssue, loadConfig } from './load.js';
import { adapterFor } from './schema.js';

export { buildJsonSchema };

const EXIT_OK = 0;
const EXIT_USAGE = 2;
const EXIT_CONFIG = 78;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export async function checkConfigCommand(
  file: string,
  opts: { plan?: string | undefined } = {},
): Promise<number> {
  const res = await loadConfig(file);
  if (!res.ok) {
    for (const i of res.issues) process.stderr.write(`${formatIssue(i)}\n`);
    process.stderr.write(`${file}: invalid: ${plural(res.issues.length, 'problem')}; nothing was started.\n`);
    return EXIT_CONFIG;
  }
  const { config, signals } = res;
  const byType = new Map<string, number>();
  for (const s of config.sources) byType.set(s.type, (byType.get(s.type) ?? 0) + 1);
  const types = [...byType].map(([t, n]) => `${t} ${n}`).join(', ');
  const exact = signals.reduce((n, s) => n + s.declarations.exact.length, 0);
  const patterns = signals.reduce((n, s) => n + s.declarations.patterns.length, 0);
  const parts = [
    `${plural(config.sources.length, 'source')} (${types})`,
    `${plural(exact, 'signal')}${patterns > 0 ? ` (+${plural(patterns, 'pattern')})` : ''}`,
    plural(config.events.length, 'event'),
    plural(config.sinks.length, 'sink'),
  ];
  process.stdout.write(`${file}: OK: ${parts.join(', ')}\n`);

  if (opts.plan !== undefined) {
    const source = config.sources.find((s) => s.id === opts.plan);
    if (!source) {
      const ids = config.sources.map((s) => s.id).join(', ');
      process.stderr.write(`${file}: no source has the id "${opts.plan}"; sources: ${ids}.\n`);
      return EXIT_USAGE;
    }
    const def = adapterFor(source.type);
    if (!def?.describePlan) {
      process.stderr.write(
        `${file}: source "${source.id}" is a ${source.type} source, which has no plan to print.\n`,
      );
      return EXIT_USAGE;
    }
    process.stdout.write(`${def.describePlan(source).replace(/\n?$/, '\n')}`);
  }
  return EXIT_OK;
}

export async function schemaCommand(): Promise<number> {
  process.stdout.write(jsonSchemaText());
  return EXIT_OK;
}
