// The `check-config` and `schema` commands: a one-line summary or every problem as
// FILE:LINE:COL key.path: message, with the exit codes systemd and CI rely on (0 valid, 78 invalid).
import { approversFileOf, verifyApproval } from './approval.js';
import { readEnvFile } from './env-file.js';
import { buildJsonSchema, jsonSchemaText } from './json-schema.js';
import { formatIssue, loadConfig } from './load.js';
import { adapterFor } from './schema.js';

export { buildJsonSchema };

const EXIT_OK = 0;
const EXIT_USAGE = 2;
const EXIT_CONFIG = 78;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export interface CheckConfigOptions {
  plan?: string | undefined;
  /** Everything but the resolution of secrets (a workstation without the plant's secrets). */
  noSecrets?: boolean | undefined;
  /** KEY=VALUE file read on top of the environment, as systemd's EnvironmentFile= (the service's view). */
  envFile?: string | undefined;
}

export async function checkConfigCommand(file: string, opts: CheckConfigOptions = {}): Promise<number> {
  let env: NodeJS.ProcessEnv = process.env;
  if (opts.envFile !== undefined) {
    const read = await readEnvFile(opts.envFile);
    if (!read.ok) {
      process.stderr.write(`${read.message}\n`);
      return EXIT_CONFIG;
    }
    // As under systemd, the file's values win over the caller's environment.
    env = { ...process.env, ...read.vars };
  }
  const res = await loadConfig(file, { env, skipSecrets: opts.noSecrets === true });
  // Warnings: valid, but probably not meant. Printed, never a reason to refuse the file.
  for (const w of res.warnings ?? [])
    process.stderr.write(`${formatIssue({ ...w, message: `warning: ${w.message}` })}\n`);
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
  if (res.warnings.length > 0) parts.push(plural(res.warnings.length, 'warning'));
  const unchecked = res.secretsNotChecked.length;
  const secretsNote = opts.noSecrets
    ? `; secrets not checked (--no-secrets): ${unchecked === 0 ? 'none referenced' : `${plural(unchecked, 'reference')} (${res.secretsNotChecked.join(', ')})`}`
    : '';
  process.stdout.write(`${file}: OK: ${parts.join(', ')}${secretsNote}\n`);
  // The same fingerprint /status shows and every batch carries (Plantgate-Config) once the daemon runs this file.
  process.stdout.write(`fingerprint: ${res.fingerprint}\n`);
  // With the approval gate on, say whether the daemon would accept this file as signed now (never a failure here:
  // the file is checked before it is signed).
  const approvers = approversFileOf(config);
  if (approvers !== undefined && res.source !== undefined) {
    const approval = await verifyApproval(res.file, res.source, [approvers]);
    if (approval.ok)
      process.stdout.write(`approval: signed by ${approval.approval.identity} (${approval.approval.key})\n`);
    else process.stderr.write(`${file}: warning: not approved yet: ${approval.message}\n`);
  }

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
