#!/usr/bin/env node
// The `plantgate` command line: run the daemon, check a config, print the schema, talk to a running daemon,
// start simulators and the demo. Exit codes: 0 success, 1 runtime failure, 2 usage error, 78 invalid config.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { SIM_OPTIONS, simOptionProblem } from './cli/sim-options.js';
import { CliArgumentError, cliArgs, cliCoerce, KNOWN_REASONS } from './health/admin-args.js';

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
  const usage = (command: string, message: string) => {
    process.stderr.write(`plantgate ${command}: ${message}\n`);
    setExit(EXIT.USAGE);
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
            describe: 'Log level of the JSON log on stdout (default info, or PLANTGATE_LOG_LEVEL).',
          }),
      async (argv) => {
        const { runCommand } = await import('./cli/run.js');
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
        const given = optionsGiven(argv, ['reason', 'source', 'id', 'all', 'limit', 'after', 'json']);
        const allowed: Record<string, string[]> = {
          list: ['reason', 'source', 'limit', 'after', 'json'],
          show: ['id'],
          export: ['reason', 'source'],
          replay: ['reason', 'source', 'id', 'all'],
          purge: ['reason', 'source', 'id', 'all'],
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
          if (ids !== undefined && argv.source !== undefined)
            return usage(`quarantine ${action}`, '--source narrows --reason or --all, not --id');
        }
        if (action === 'show' && ids?.length !== 1) return usage('quarantine show', 'give exactly one --id');
        setExit(
          await ops(argv.config, `quarantine ${action}`, {
            reason: argv.reason,
            source: argv.source,
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
        const given = optionsGiven(argv, ['batch', 'sink', 'all', 'limit', 'after', 'json']);
        const allowed: Record<string, string[]> = {
          list: ['sink', 'limit', 'after', 'json'],
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
            all: argv.all,
            limit: argv.limit,
            after: argv.after,
            json: argv.json,
          }),
        );
      },
    )
    .command(
      'opcua <action> <source>',
      'OPC UA: browse a server (nodes, types, values and ready-to-paste signal lines), or list/trust the rejected server certificates of a source.',
      (y) =>
        y
          .positional('action', { choices: ['browse', 'trust', 'rejected'] as const, demandOption: true })
          .positional('source', {
            type: 'string',
            demandOption: true,
            describe: 'The opcua source id (browse also takes an endpoint, opc.tcp://host:port).',
          })
          .option('config', { alias: 'c', type: 'string', default: DEFAULT_CONFIG })
          .option('thumbprint', { type: 'string', describe: 'Only the certificate with this thumbprint.' })
          .option('path', {
            type: 'string',
            describe: 'browse: start at this browse path, e.g. "Objects/1:Line" (default Objects).',
          })
          .option('depth', { type: 'number', default: 3, describe: 'browse: levels below the start node.' }),
      async (argv) => {
        if (argv.action === 'browse') {
          const { opcuaBrowseCommand } = await import('./cli/opcua-browse.js');
          setExit(await opcuaBrowseCommand(argv.config, argv.source, { path: argv.path, depth: argv.depth }));
          return;
        }
        const { opcuaCommand } = await import('./cli/opcua.js');
        setExit(await opcuaCommand(argv.config, argv.action, argv.source, argv.thumbprint));
      },
    )
    .command(
      'modbus <action> <source> <register>',
      'Read one Modbus address with the connection settings of a source (directly from the device, not through the daemon): the raw registers and the decoded value.',
      (y) =>
        y
          .positional('action', {
            choices: ['read'] as const,
            demandOption: true,
            describe: 'read: one read request, then print the registers, the value and a signals: line.',
          })
          .positional('source', { type: 'string', demandOption: true, describe: 'The modbus source id.' })
          .positional('register', {
            type: 'string',
            demandOption: true,
            describe: 'As in the config: holding:100, input:0, coil:5, discrete:3, or Modicon 40101.',
          })
          .option('config', {
            alias: 'c',
            type: 'string',
            default: DEFAULT_CONFIG,
            describe: 'Path to the YAML file.',
          })
          .option('unit', {
            type: 'number',
            describe: "Unit id (default: the source's unit_id or only device).",
          })
          .option('type', {
            type: 'string',
            choices: [
              'bool',
              'int16',
              'uint16',
              'int32',
              'uint32',
              'int64',
              'uint64',
              'float32',
              'float64',
              'string',
            ] as const,
            describe: 'How to decode the registers (default uint16; bool for coils and discrete inputs).',
          })
          .option('order', {
            type: 'string',
            choices: ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const,
            describe: 'Byte order of multi-register values.',
          })
          .option('word-order', {
            type: 'string',
            choices: ['big', 'little'] as const,
            describe: 'little = low word first (CDAB).',
          })
          .option('byte-order', {
            type: 'string',
            choices: ['big', 'little'] as const,
            describe: 'little = bytes swapped in each register (BADC).',
          })
          .option('bit', {
            type: 'number',
            describe: 'One bit (0..15) of a 16-bit register, read as a boolean.',
          })
          .option('length', { type: 'number', describe: 'For --type string: the number of registers.' })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'Print the result as a JSON document.',
          }),
      async (argv) => {
        const { modbusReadCommand } = await import('./cli/modbus.js');
        setExit(
          await modbusReadCommand(argv.config, argv.source, argv.register, {
            unit: argv.unit,
            type: argv.type,
            order: argv.order,
            wordOrder: argv['word-order'],
            byteOrder: argv['byte-order'],
            bit: argv.bit,
            length: argv.length,
            json: argv.json,
          }),
        );
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
        const { demoCommand } = await import('./cli/demo.js');
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
        const { checkConfigCommand } = await import('./config/commands.js');
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
    .fail((msg, err) => {
      // A value an option's rules refuse is a usage error like a missing argument; anything else is a failure.
      // yargs rethrows an error of a `coerce` as a YError with the same message.
      if (err && err.name !== 'YError' && !(err instanceof CliArgumentError)) throw err;
      process.stderr.write(`plantgate: ${msg ?? err?.message}\nRun "plantgate --help" for usage.\n`);
      exitCode = EXIT.USAGE;
      throw new UsageError(msg);
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    if (err instanceof UsageError) return EXIT.USAGE;
    // The reader of stdout is gone (`plantgate quarantine export | head`): that is the reader's choice.
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return EXIT.OK;
    process.stderr.write(`plantgate: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.FAILURE;
  }
  return exitCode;
}

class UsageError extends Error {}

/** The options among `names` given on the command line (a boolean counts only when true). */
function optionsGiven(argv: Record<string, unknown>, names: readonly string[]): string[] {
  return names.filter((n) => argv[n] !== undefined && argv[n] !== false);
}

/**
 * `plantgate schema | head -1`: once the reader has closed the pipe, a write fails with EPIPE, which Node would
 * raise as an uncaught error with a stack trace. The output is not wanted any more: exit quietly with 0.
 * Not for `run` and `demo`, which own their stdout handling (the daemon logs through pino; stop is graceful).
 */
function quietOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(EXIT.OK);
      if (stream !== process.stderr) process.stderr.write(`plantgate: cannot write output: ${err.message}\n`);
      process.exit(EXIT.FAILURE);
    });
  }
}

const command = hideBin(process.argv)[0];
if (command !== 'run' && command !== 'demo') quietOnClosedPipe();

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`plantgate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = EXIT.FAILURE;
  },
);
