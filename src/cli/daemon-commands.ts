// The `plantgate` commands about the daemon: `run` starts it; `status`, `queue`, `quarantine` and
// `dead-letters` ask the running one through its admin socket. Only the yargs definitions and the checks of
// option combinations live here; the work is in run.ts and ops.ts, loaded when the command runs so that the
// CLI starts fast whatever the command.
import type { Argv } from 'yargs';
import { cliArgs, cliCoerce, KNOWN_REASONS } from '../health/admin-args.js';
import { type CommandKit, DEFAULT_CONFIG } from './command-kit.js';

function withConfig<T>(y: Argv<T>) {
  return y.option('config', {
    alias: 'c',
    type: 'string',
    default: DEFAULT_CONFIG,
    describe: 'The configuration of the running daemon (to find its admin socket).',
  });
}

async function ops(
  config: string,
  action: string,
  args: Parameters<typeof import('./ops.js').opsCommand>[2],
): Promise<number> {
  const { opsCommand } = await import('./ops.js');
  return opsCommand(config, action, args);
}

/** The options among `names` given on the command line (a boolean counts only when true). */
function optionsGiven(argv: Record<string, unknown>, names: readonly string[]): string[] {
  return names.filter((n) => argv[n] !== undefined && argv[n] !== false);
}

export function daemonCommands(y: Argv, kit: CommandKit): Argv {
  const { setExit, usage } = kit;
  return y
    .command(
      'run',
      'Run the gateway daemon (what the systemd service starts).',
      (y) =>
        y
          .option('config', {
            alias: 'c',
            type: 'string',
            default: DEFAULT_CONFIG,
            describe: 'Path to the YAML file.',
          })
          .option('log-level', {
            type: 'string',
            choices: ['trace', 'debug', 'info', 'warn', 'error'] as const,
            describe: 'Log level of the JSON log on stdout (default info, or PLANTGATE_LOG_LEVEL).',
          }),
      async (argv) => {
        const { runCommand } = await import('./run.js');
        setExit(await runCommand(argv.config, { logLevel: argv['log-level'] }));
      },
    )
    .command(
      'status',
      'Show what the running daemon is doing: sources, sinks, journal, quarantine, ledger.',
      (y) =>
        withConfig(y).option('json', {
          type: 'boolean',
          default: false,
          describe: 'Print the /status document as JSON instead of the human form.',
        }),
      async (argv) => setExit(await ops(argv.config, 'status', { json: argv.json })),
    )
    .command(
      'queue <action>',
      'Journal and per-sink backlog figures of the running daemon.',
      (y) =>
        withConfig(y)
          .positional('action', {
            choices: ['stats'] as const,
            demandOption: true,
            describe: 'stats: journal size, per-sink backlog and ledger, quarantine and dead letters.',
          })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'Print the figures as a JSON document instead of the human form.',
          }),
      async (argv) => setExit(await ops(argv.config, `queue ${argv.action}`, { json: argv.json })),
    )
    .command(
      'quarantine <action>',
      'Inspect, export, replay (re-run normalize and validate with the current config) or purge quarantined samples.',
      (y) =>
        withConfig(y)
          .positional('action', {
            choices: ['list', 'show', 'export', 'replay', 'purge'] as const,
            demandOption: true,
            describe:
              'list: one page of entries; show: one entry with its raw sample; export: every entry as NDJSON on stdout; replay, purge: the entries named by --id, --reason or --all.',
          })
          .option('reason', {
            type: 'string',
            coerce: cliCoerce('reason', cliArgs.reason),
            describe: `Only entries with this reason code: ${KNOWN_REASONS.join(', ')}.`,
          })
          .option('source', {
            type: 'string',
            coerce: cliCoerce('source', cliArgs.source),
            describe:
              'Only entries of this source id (with --reason or --all for replay, purge); an unknown id is an error that lists the valid ones.',
          })
          .option('owner', {
            type: 'string',
            coerce: cliCoerce('owner', cliArgs.owner),
            describe:
              'Only entries this team owns, e.g. quality (with --reason or --all for replay, purge); an unknown owner is an error that lists the valid ones.',
          })
          .option('id', {
            type: 'string',
            array: true,
            coerce: cliCoerce('id', cliArgs.ids),
            describe: 'Entry id(s), as `quarantine list` prints them (show: exactly one).',
          })
          .option('all', { type: 'boolean', describe: 'Every entry (replay, purge).' })
          .option('limit', {
            type: 'string',
            coerce: cliCoerce('limit', cliArgs.limit),
            describe: 'list: at most this many entries per page (1..10000, default 50).',
          })
          .option('after', {
            type: 'string',
            coerce: cliCoerce('after', cliArgs.after),
            describe: 'list: the next page, after this entry id (printed as "more: add --after N").',
          })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'list: print the page as a JSON document instead of the human form.',
          }),
      async (argv) => {
        const action = argv.action;
        const ids = argv.id as number[] | undefined;
        const given = optionsGiven(argv, [
          'reason',
          'source',
          'owner',
          'id',
          'all',
          'limit',
          'after',
          'json',
        ]);
        const allowed: Record<string, string[]> = {
          list: ['reason', 'source', 'owner', 'limit', 'after', 'json'],
          show: ['id'],
          export: ['reason', 'source', 'owner'],
          replay: ['reason', 'source', 'owner', 'id', 'all'],
          purge: ['reason', 'source', 'owner', 'id', 'all'],
        };
        const stray = given.filter((o) => !allowed[action]?.includes(o));
        if (stray.length > 0)
          return usage(
            `quarantine ${action}`,
            `${stray.map((o) => `--${o}`).join(', ')} does not apply here`,
          );
        if (action === 'replay' || action === 'purge') {
          const named = [ids !== undefined, argv.reason !== undefined, argv.all === true].filter(
            Boolean,
          ).length;
          if (named !== 1)
            return usage(
              `quarantine ${action}`,
              'name what to act on with exactly one of --id, --reason or --all',
            );
          if (ids !== undefined && (argv.source !== undefined || argv.owner !== undefined))
            return usage(`quarantine ${action}`, '--source and --owner narrow --reason or --all, not --id');
        }
        if (action === 'show' && ids?.length !== 1) return usage('quarantine show', 'give exactly one --id');
        setExit(
          await ops(argv.config, `quarantine ${action}`, {
            reason: argv.reason,
            source: argv.source,
            owner: argv.owner,
            ids,
            id: ids?.[0],
            all: argv.all,
            limit: argv.limit,
            after: argv.after,
            json: argv.json,
          }),
        );
      },
    )
    .command(
      'trace <what>',
      'Did this reach the ERP, and when? Where a record id, a journal seq or a batch id is (journal, dead letters) and, per sink, which batch carried it, when it was acknowledged, after how many attempts, with which trace id.',
      (y) =>
        withConfig(y)
          .positional('what', {
            type: 'string',
            demandOption: true,
            describe:
              'A record id (32 hex digits), a journal seq (a number), or a batch id (<gateway>:<sink>:<first>-<last>, the Idempotency-Key the receiver got).',
          })
          .option('json', { type: 'boolean', default: false, describe: 'Print the answer as JSON.' }),
      async (argv) => {
        setExit(await ops(argv.config, 'trace', { query: String(argv.what), json: argv.json }));
      },
    )
    .command(
      'dead-letters <action>',
      'List, replay (resend with the original batch id) or purge batches a sink rejected permanently.',
      (y) =>
        withConfig(y)
          .positional('action', {
            choices: ['list', 'replay', 'purge'] as const,
            demandOption: true,
            describe:
              'list: one page of dead-lettered batches in sequence order; replay, purge: the batch named by --batch, or --all.',
          })
          .option('batch', {
            type: 'string',
            coerce: cliCoerce('batch', cliArgs.batch),
            describe: 'Batch id, as `dead-letters list` prints it (replay, purge).',
          })
          .option('sink', {
            type: 'string',
            coerce: cliCoerce('sink', cliArgs.sink),
            describe:
              'Only the dead letters of this sink id (an unknown id is an error that lists the valid ones).',
          })
          .option('owner', {
            type: 'string',
            coerce: cliCoerce('owner', cliArgs.owner),
            describe: 'list: only the dead letters this team owns, e.g. erp-team.',
          })
          .option('all', {
            type: 'boolean',
            describe: 'Every dead letter, or every one of --sink (replay, purge).',
          })
          .option('limit', {
            type: 'string',
            coerce: cliCoerce('limit', cliArgs.limit),
            describe: 'list: at most this many batches per page (1..10000, default 50).',
          })
          .option('after', {
            type: 'string',
            coerce: cliCoerce('batch', cliArgs.batch),
            describe: 'list: the next page, after this batch id (printed as "more: add --after ID").',
          })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'list: print the page as a JSON document instead of the human form.',
          }),
      async (argv) => {
        const action = argv.action;
        const given = optionsGiven(argv, ['batch', 'sink', 'owner', 'all', 'limit', 'after', 'json']);
        const allowed: Record<string, string[]> = {
          list: ['sink', 'owner', 'limit', 'after', 'json'],
          replay: ['batch', 'sink', 'all'],
          purge: ['batch', 'sink', 'all'],
        };
        const stray = given.filter((o) => !allowed[action]?.includes(o));
        if (stray.length > 0)
          return usage(
            `dead-letters ${action}`,
            `${stray.map((o) => `--${o}`).join(', ')} does not apply here`,
          );
        if (action !== 'list' && (argv.batch !== undefined) === (argv.all === true))
          return usage(`dead-letters ${action}`, 'name what to act on with exactly one of --batch or --all');
        setExit(
          await ops(argv.config, `dead-letters ${action}`, {
            batch: argv.batch,
            sink: argv.sink,
            owner: argv.owner,
            all: argv.all,
            limit: argv.limit,
            after: argv.after,
            json: argv.json,
          }),
        );
      },
    );
}
