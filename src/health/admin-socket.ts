// Where the admin socket goes and whether the daemon may take it, checked at start before anything runs: a
// directory the service user cannot write, or a live daemon already answering on the path, is a configuration
// error (exit 78 with the path, no restart loop), never a crash or a stolen socket.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '../kit/errors.js';
import { pidNote, unixSocketAnswers, unixSocketOwners } from './port-owner.js';

/** `admin.socket`, or `<storage.dir>/admin.sock` when it is not set. */
export function adminSocketPath(cfg: { admin?: { socket?: string }; storage: { dir: string } }): string {
  return cfg.admin?.socket ?? join(cfg.storage.dir, 'admin.sock');
}

/** A live daemon on our admin socket path would otherwise lose its socket to us (the file is replaced). */
export async function checkAdminSocketFree(socketPath: string): Promise<void> {
  // A directory the service user cannot create or write (e.g. /run/plantgate without the unit's
  // RuntimeDirectory=) is a configuration problem: exit 78 with the path, not a crash and a restart loop.
  const socketDir = dirname(socketPath);
  try {
    mkdirSync(socketDir, { recursive: true });
    accessSync(socketDir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError(
      `cannot create the admin socket in ${socketDir} (${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code}); create that directory for the service user (systemd: RuntimeDirectory=plantgate for /run/plantgate) or set admin.socket`,
      { cause: err },
    );
  }
  if (await unixSocketAnswers(socketPath)) {
    throw new ConfigError(
      `the admin socket ${socketPath} is in use by another process${pidNote(unixSocketOwners(socketPath))}; stop that daemon or set admin.socket`,
    );
  }
}
