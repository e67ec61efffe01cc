// The `plantgate` commands that need neither a running daemon nor a plant device: `demo`, `check-config`,
// `schema` and `sim` (the simulators standalone). Only the yargs definitions; the work is in demo.ts,
// src/config/commands.ts and simulators/*/cli.ts, loaded when the command runs.
import type { Argv as Yargs } from 'yargs';
import type { Argv, CommandKit } from './command-kit.js';
import { SIM_OPTIONS, simOptionProblem } from './sim-options.js';

export function localCommands(y: Yargs, kit: CommandKit): Yargs {
  const { setExit, usage } = kit;
  return y
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
          .option('for', { type: 'number', describe: 'Stop by itself after this many seconds.' })
          .option('port-base', {
            type: 'number',
            describe:
              'Use ports N..N+4 (receiver, MQTT, OPC UA, Modbus, health) instead of the fixed ones; 0 picks free ports and prints them.',
          })
          .option('state-dir', {
            type: 'string',
            describe: 'Where the demo keeps the daemon state and log (default .tmp/demo; emptied at start).',
          }),
      async (argv) => {
        const { demoCommand } = await import('./demo.js');
        setExit(
          await demoCommand({
            config: argv.config,
            forSeconds: argv.for,
            portBase: argv['port-base'],
            stateDir: argv['state-dir'],
          }),
        );
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
            describe: 'Path to the YAML file (required unless --diff).',
          })
          .option('diff', {
            type: 'string',
            array: true,
            nargs: 2,
            describe:
              'Compare two files and say what the change does (signals, units, ranges, what each sink receives), each line marked affects data, affects delivery or cosmetic: --diff OLD.yaml NEW.yaml.',
          })
          .option('plan', { type: 'string', describe: 'Also print the Modbus read plan of this source id.' })
          .option('secrets', {
            type: 'boolean',
            default: true,
            describe:
              'Check that secrets (*_env, *_file) resolve. --no-secrets checks everything else, on a workstation without the plant secrets.',
          })
          .option('env-file', {
            type: 'string',
            describe:
              'Read KEY=VALUE lines from this file into the environment first, as systemd EnvironmentFile= does (e.g. /etc/plantgate/plantgate.env).',
          }),
      async (argv) => {
        if (argv.diff !== undefined) {
          const [a, b] = argv.diff;
          if (argv.diff.length !== 2 || a === undefined || b === undefined)
            return usage('check-config', '--diff takes two files: --diff OLD.yaml NEW.yaml');
          const { diffCommand } = await import('../config/history-commands.js');
          return setExit(await diffCommand({}, a, b, false));
        }
        if (argv.config === undefined)
          return usage('check-config', 'name the file with -c FILE (or compare two with --diff OLD NEW)');
        const { checkConfigCommand } = await import('../config/commands.js');
        setExit(
          await checkConfigCommand(argv.config, {
            plan: argv.plan,
            // yargs reads --no-secrets as secrets=false.
            noSecrets: argv.secrets === false,
            envFile: argv['env-file'],
          }),
        );
      },
    )
    .command(
      'config <action>',
      'The history of applied configurations: history, show <hash>, diff <a> <b>.',
      (y) => configCommands(y, kit),
    )
    .command(
      'schema',
      'Print the JSON Schema of the configuration file (for editors).',
      (y) => y,
      async () => {
        const { schemaCommand } = await import('../config/commands.js');
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
          .options(SIM_OPTIONS.options)
          .group(SIM_OPTIONS.groups.receiver, 'Receiver options:')
          .group(SIM_OPTIONS.groups.opcua, 'OPC UA options:')
          .group(SIM_OPTIONS.groups.modbus, 'Modbus options:')
          .group(SIM_OPTIONS.groups.mqtt, 'MQTT options:')
          .group(SIM_OPTIONS.groups.common, 'Options of every simulator:')
          .strict(false),
      async (argv) => {
        const problem = simOptionProblem(String(argv.kind), argv as Argv);
        if (problem) return usage(`sim ${argv.kind}`, problem);
        const mod = (await import(`../../simulators/${argv.kind}/cli.js`)) as {
          runStandalone(args: Argv): Promise<number>;
        };
        setExit(await mod.runStandalone(argv as Argv));
      },
    );
}

/** `plantgate config history|show|diff`: read the state directory's history; no daemon needed. */
function configCommands(y: Yargs, kit: CommandKit): Yargs {
  const { setExit } = kit;
  const target = (y: Yargs) =>
    y
      .option('config', {
        alias: 'c',
        type: 'string',
        default: '/etc/plantgate/plant.yaml',
        describe: 'The plant configuration whose storage.dir holds the history.',
      })
      .option('state-dir', { type: 'string', describe: 'The state directory itself (instead of -c).' })
      .option('json', { type: 'boolean', default: false, describe: 'Print JSON.' });
  const t = (argv: Argv) => ({
    config: argv.config as string | undefined,
    stateDir: argv['state-dir'] as string | undefined,
  });
  return y
    .command(
      'history',
      'List the applied configurations, newest first: hash, time, start or reload, file, owner, mtime, approver.',
      target,
      async (argv) => {
        const { historyCommand } = await import('../config/history-commands.js');
        setExit(await historyCommand(t(argv), argv.json));
      },
    )
    .command(
      'show <hash>',
      'Print one applied configuration (effective, secrets as references) by a prefix of its hash.',
      (y) => target(y).positional('hash', { type: 'string', demandOption: true }),
      async (argv) => {
        const { showCommand } = await import('../config/history-commands.js');
        setExit(await showCommand(t(argv), argv.hash, argv.json));
      },
    )
    .command(
      'diff <a> <b>',
      'What changes from a to b (each a file or a hash prefix from the history), in plant terms.',
      (y) =>
        target(y)
          .positional('a', { type: 'string', demandOption: true })
          .positional('b', { type: 'string', demandOption: true }),
      async (argv) => {
        const { diffCommand } = await import('../config/history-commands.js');
        setExit(await diffCommand(t(argv), argv.a, argv.b, true));
      },
    )
    .demandCommand(1, 'Name an action: history, show <hash> or diff <a> <b>.');
}
