#!/usr/bin/env node
// The `plantgate` command line: run the daemon, check a config, print the schema, talk to a running daemon,
// start simulators and the demo. Exit codes: 0 success, 1 runtime failure, 2 usage error, 78 invalid config.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, CONFIG: 78 } as const;

type Argv = Record<string, unknown> & { _: Array<string | number> };

const DEFAULT_CONFIG = '/etc/plantgate/plant.yaml';

function withConfig<T>(y: import('yargs').Argv<T>) {
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
  args: Parameters<typeof import('./cli/ops.js').opsCommand>[2],
): Promise<number> {
  const { opsCommand } = await import('./cli/ops.js');
  return opsCommand(config, action, args);
}

async function main(): Promise<number> {
  let exitCode: number = EXIT.OK;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const parser = yargs(hideBin(process.argv))
    .scriptName('plantgate')
    .usage('$0 <command> [options]')
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
          }),
      async (argv) => {
        const { runCommand } = await import('./cli/run.js');
        setExit(await runCommand(argv.config, { logLevel: argv['log-level'] }));
      },
    )
    .command(
      'status',
      'Show what the running daemon is doing: sources, sinks, journal, quarantine, ledger.',
      (y) => withConfig(y).option('json', { type: 'boolean', default: false }),
      async (argv) => setExit(await ops(argv.config, 'status', { json: argv.json })),
    )
    .command(
      'queue <action>',
      'Journal and per-sink backlog figures of the running daemon.',
      (y) => withConfig(y).positional('action', { choices: ['stats'] as const, demandOption: true }),
      async (argv) => setExit(await ops(argv.config, `queue ${argv.action}`, {})),
    )
    .command(
      'quarantine <action>',
      'Inspect, export, replay (re-run normalize and validate with the current config) or purge quarantined samples.',
      (y) =>
        withConfig(y)
          .positional('action', {
            choices: ['list', 'show', 'export', 'replay', 'purge'] as const,
            demandOption: true,
          })
          .option('reason', { type: 'string', describe: 'Only entries with this reason code.' })
          .option('id', { type: 'number', array: true, describe: 'Entry id(s).' })
          .option('all', { type: 'boolean', describe: 'Every entry (replay, purge).' })
          .option('limit', { type: 'number', default: 50 })
          .option('json', { type: 'boolean', default: false }),
      async (argv) => {
        const ids = argv.id as number[] | undefined;
        if ((argv.action === 'replay' || argv.action === 'purge') && !ids && !argv.reason && !argv.all) {
          process.stderr.write(
            `plantgate quarantine ${argv.action}: name what to act on with --id, --reason or --all\n`,
          );
          return setExit(EXIT.USAGE);
        }
        if (argv.action === 'show' && !ids?.[0]) {
          process.stderr.write('plantgate quarantine show: give --id\n');
          return setExit(EXIT.USAGE);
        }
        setExit(
          await ops(argv.config, `quarantine ${argv.action}`, {
            reason: argv.reason,
            ids,
            id: ids?.[0],
            all: argv.all,
            limit: argv.limit,
            json: argv.json,
          }),
        );
      },
    )
    .command(
      'dead-letters <action>',
      'List, replay (resend with the original batch id) or purge batches a sink rejected permanently.',
      (y) =>
        withConfig(y)
          .positional('action', { choices: ['list', 'replay', 'purge'] as const, demandOption: true })
          .option('batch', { type: 'string', describe: 'Batch id.' })
          .option('sink', { type: 'string', describe: 'Only this sink.' })
          .option('all', { type: 'boolean' })
          .option('json', { type: 'boolean', default: false }),
      async (argv) => {
        if (argv.action !== 'list' && !argv.batch && !argv.all) {
          process.stderr.write(
            `plantgate dead-letters ${argv.action}: name what to act on with --batch or --all\n`,
          );
          return setExit(EXIT.USAGE);
        }
        setExit(
          await ops(argv.config, `dead-letters ${argv.action}`, {
            batch: argv.batch,
            sink: argv.sink,
            all: argv.all,
            json: argv.json,
          }),
        );
      },
    )
    .command(
      'opcua <action> <source>',
      'OPC UA server certificates: list the rejected ones, or trust the rejected one(s) of a source.',
      (y) =>
        y
          .positional('action', { choices: ['trust', 'rejected'] as const, demandOption: true })
          .positional('source', { type: 'string', demandOption: true, describe: 'The opcua source id.' })
          .option('config', { alias: 'c', type: 'string', default: DEFAULT_CONFIG })
          .option('thumbprint', { type: 'string', describe: 'Only the certificate with this thumbprint.' }),
      async (argv) => {
        const { opcuaCommand } = await import('./cli/opcua.js');
        setExit(await opcuaCommand(argv.config, argv.action, argv.source, argv.thumbprint));
      },
    )
    .command(
      'demo',
      'Start the bundled simulators, a receiver and the daemon on config/demo.yaml; Ctrl-C stops everything.',
      (y) =>
        y
          .option('config', {
            alias: 'c',
            type: 'string',
            describe: 'Demo configuration (default config/demo.yaml).',
          })
          .option('for', { type: 'number', describe: 'Stop by itself after this many seconds.' }),
      async (argv) => {
        const { demoCommand } = await import('./cli/demo.js');
        setExit(await demoCommand({ config: argv.config, forSeconds: argv.for }));
      },
    )
    .command(
      'check-config',
      'Validate a plant configuration file and print a summary, or every error as FILE:LINE:COL key.path: message.',
      (y) =>
        y
          .option('config', {
            alias: 'c',
            type: 'string',
            demandOption: true,
            describe: 'Path to the YAML file.',
          })
          .option('plan', { type: 'string', describe: 'Also print the Modbus read plan of this source id.' }),
      async (argv) => {
        const { checkConfigCommand } = await import('./config/commands.js');
        setExit(await checkConfigCommand(argv.config, { plan: argv.plan }));
      },
    )
    .command(
      'schema',
      'Print the JSON Schema of the configuration file (for editors).',
      (y) => y,
      async () => {
        const { schemaCommand } = await import('./config/commands.js');
        setExit(await schemaCommand());
      },
    )
    .command(
      'sim <kind>',
      'Run a simulator standalone: receiver, opcua, modbus or mqtt.',
      (y) =>
        y
          .positional('kind', {
            choices: ['receiver', 'opcua', 'modbus', 'mqtt'] as const,
            demandOption: true,
          })
          .strict(false),
      async (argv) => {
        const mod = (await import(`../simulators/${argv.kind}/cli.js`)) as {
          runStandalone(args: Argv): Promise<number>;
        };
        setExit(await mod.runStandalone(argv as Argv));
      },
    )
    .demandCommand(1, 'Name a command; see --help.')
    .strict()
    .help()
    .version()
    .fail((msg, err, y) => {
      if (err) throw err;
      process.stderr.write(`${y.help() ? '' : ''}${msg}\nRun "plantgate --help" for usage.\n`);
      exitCode = EXIT.USAGE;
      throw new UsageError(msg);
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    if (err instanceof UsageError) return EXIT.USAGE;
    process.stderr.write(`plantgate: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.FAILURE;
  }
  return exitCode;
}

class UsageError extends Error {}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`plantgate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = EXIT.FAILURE;
  },
);
