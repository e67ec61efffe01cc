// `plantgate run`: the daemon process. Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the config.
// An uncaught error is logged and exits 1 so systemd restarts the service; an invalid config exits 78.
import { Daemon } from '../daemon.js';
import { ConfigError } from '../errors.js';
import { SystemdNotifier } from '../health/sd-notify.js';
import { createLogger } from '../observe/logger.js';

export async function runCommand(configFile: string, opts: { logLevel?: string } = {}): Promise<number> {
  const log = createLogger({ level: opts.logLevel });
  const notifier = new SystemdNotifier();
  const daemon = new Daemon({ configFile, log, notifier });
  const fatal = (what: string) => (err: unknown) => {
    log.fatal({ err }, `${what}; exiting so that the service manager restarts plantgate.`);
    log.flush?.();
    process.exit(1);
  };
  process.on('uncaughtException', fatal('An uncaught error occurred'));
  process.on('unhandledRejection', fatal('An unhandled promise rejection occurred'));
  try {
    await daemon.start();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      log.error('The configuration is invalid; not starting (exit 78).');
      log.flush?.();
      return 78;
    }
    log.fatal({ err }, 'plantgate failed to start.');
    log.flush?.();
    try {
      await daemon.stop();
    } catch {
      // best effort
    }
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal: sig }, 'Stopping: sources first, then draining in-flight batches.');
      daemon.stop().then(
        () => {
          log.flush?.();
          resolve(0);
        },
        (err: unknown) => {
          log.error({ err }, 'Stopping failed.');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      daemon.reload().catch(fatal('Reloading failed unexpectedly'));
    });
  });
}
