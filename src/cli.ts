#!/usr/bin/env node
// The `plantgate` command line: run the daemon, check a config, print the schema, talk to a running daemon,
// start simulators and the demo. Exit codes: 0 success, 1 runtime failure, 2 usage error, 78 invalid config.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, CONFIG: 78 } as const;

type Argv = Record<string, unknown> & { _: Array<string | number> };

async function main(): Promise<number> {
  let exitCode: number = EXIT.OK;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const parser = yargs(hideBin(process.argv))
    .scriptName('plantgate')
    .usage('$0 <command> [options]')
    .command(
      'check-config',
      'Validate a plant configuration file and print a summary, or every error as FILE:LINE:COL key.path: message.',
      (y) =>
        y
          .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Path to the YAML file.' })
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
          .positional('kind', { choices: ['receiver', 'opcua', 'modbus', 'mqtt'] as const, demandOption: true })
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
