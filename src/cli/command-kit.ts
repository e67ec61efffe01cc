// What the command modules of the `plantgate` CLI share: exit codes, the default config path and the two
// callbacks through which a handler reports its outcome. Kept apart so each module of yargs definitions
// (daemon-commands.ts, device-commands.ts, local-commands.ts) imports it without importing src/cli.ts, which
// runs the program when loaded.

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, CONFIG: 78 } as const;

export type Argv = Record<string, unknown> & { _: Array<string | number> };

export const DEFAULT_CONFIG = '/etc/plantgate/plant.yaml';

/** Given by src/cli.ts to every command module. */
export interface CommandKit {
  /** The process exit code once the command finished. */
  setExit(code: number): void;
  /** A usage error of `plantgate <command>`: printed on stderr, exit code 2. */
  usage(command: string, message: string): void;
}
