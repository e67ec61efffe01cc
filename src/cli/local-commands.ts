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
            demandOption: true,
            describe: 'Path to the YAML file.',
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
