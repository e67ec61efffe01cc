#!/usr/bin/env node
// The `plantgate` command line: run the daemon, check a config, print the schema, talk to a running daemon,
// start simulators and the demo. Exit codes: 0 success, 1 runtime failure, 2 usage error, 78 invalid config.
// Each command group's yargs definitions are in src/cli/*-commands.ts; this file wires them and owns the exit.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT } from './cli/command-kit.js';
import { daemonCommands } from './cli/daemon-commands.js';
import { deviceCommands } from './cli/device-commands.js';
import { localCommands } from './cli/local-commands.js';
import { CliArgumentError } from './health/admin-args.js';

async function main(): Promise<number> {
  let exitCode: number = EXIT.OK;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const usage = (command: string, message: string) => {
    process.stderr.write(`plantgate ${command}: ${message}\n`);
    setExit(EXIT.USAGE);
  };
  let parser = yargs(hideBin(process.argv)).scriptName('plantgate').usage('$0 <command> [options]');
  // In this order in --help.
  for (const group of [daemonCommands, deviceCommands, localCommands])
    parser = group(parser, { setExit, usage });
  parser = parser
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
