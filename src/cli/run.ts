// `plantgate run`: the daemon process. Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the config.
// An uncaught error is logged and exits 1 so systemd restarts the service; an invalid config (including a
// health port or admin socket another process holds) exits 78 so systemd does not restart-loop.
//
// Exit is explicit: once stop() has resolved (or its hard deadline passed) the process calls process.exit,
// because a handle some library left open (a serial port that never answered, a socket whose peer is gone)
// would otherwise keep the event loop, the journal's LOCK and the device alive after "plantgate stopped".
// A second SIGTERM/SIGINT while stopping exits at once: the journal then holds the cursors as last persisted.
// Started with an IPC channel (by `plantgate demo`), the daemon also stops when that channel closes, so a
// demo that dies, however it dies, never leaves a daemon behind.
import { Daemon } from '../daemon.js';
import { SystemdNotifier } from '../health/sd-notify.js';
import { ConfigError } from '../kit/errors.js';
import { createLogger } from '../observe/logger.js';

/** Added to the drain deadline for everything else stop() does (sources, journal close). */
const STOP_GRACE_MS = 5_000;
/** How long the final log flush may take before exiting anyway (stdout may be a pipe nobody reads). */
const FLUSH_TIMEOUT_MS = 1_000;

export interface RunOptions {
  logLevel?: string;
  /** Deadline for draining in-flight batches on stop; stop() as a whole gets this plus a grace. */
  stopDeadlineMs?: number;
}

export async function runCommand(configFile: string, opts: RunOptions = {}): Promise<number> {
  const log = createLogger({ level: opts.logLevel });
  const notifier = new SystemdNotifier();
  const drainMs = opts.stopDeadlineMs ?? envMs('PLANTGATE_STOP_DEADLINE_MS') ?? 10_000;
  const daemon = new Daemon({ configFile, log, notifier, stopDeadlineMs: drainMs });
  const hardDeadlineMs = drainMs + STOP_GRACE_MS;

  const exitNow = async (code: number): Promise<never> => {
    await flush(log);
    process.exit(code);
  };
  const fatal = (what: string) => (err: unknown) => {
    log.fatal({ err }, `${what}; exiting so that the service manager restarts plantgate.`);
    void exitNow(1);
  };
  process.on('uncaughtException', fatal('An uncaught error occurred'));
  process.on('unhandledRejection', fatal('An unhandled promise rejection occurred'));

  let stopping = false;
  /** Stops the daemon within the hard deadline and exits with `code` (1 when stopping failed or hung). */
  const stopAndExit = async (code: number, why: Record<string, unknown>): Promise<never> => {
    stopping = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), hardDeadlineMs);
    });
    let result: 'ok' | 'timeout' | 'error';
    try {
      result = await Promise.race([daemon.stop().then(() => 'ok' as const), deadline]);
    } catch (err) {
      log.error({ err, ...why }, 'Stopping failed; exiting with the cursors as last persisted.');
      result = 'error';
    }
    clearTimeout(timer);
    if (result === 'timeout') {
      log.error(
        { deadline_ms: hardDeadlineMs, ...why },
        'plantgate did not stop within its deadline; exiting now with the cursors as last persisted.',
      );
    }
    return exitNow(result === 'ok' ? code : 1);
  };

  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      log.warn(
        { signal: sig },
        'Second stop signal: exiting at once; the journal holds the cursors as last persisted.',
      );
      void exitNow(1);
      return;
    }
    log.info({ signal: sig }, 'Stopping: sources first, then draining in-flight batches.');
    void stopAndExit(0, { signal: sig });
  };
  // Installed before start(), so a SIGTERM during a slow start stops what has started instead of killing
  // the process mid-write.
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  if (process.channel) {
    // The parent (the demo) is gone when its IPC channel closes; the channel itself must not keep us alive.
    process.channel.unref();
    process.once('disconnect', () => {
      if (stopping) return;
      log.warn('The parent process is gone (IPC channel closed); stopping.');
      void stopAndExit(0, { reason: 'parent gone' });
    });
  }

  try {
    await daemon.start();
  } catch (err) {
    if (stopping) return new Promise<number>(() => {}); // a signal arrived during start: stopAndExit exits
    stopping = true;
    const code = err instanceof ConfigError ? 78 : 1;
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      log.error({ code: err.code }, `The configuration is invalid; not starting (exit 78): ${err.message}`);
    } else {
      log.fatal({ err }, 'plantgate failed to start.');
    }
    // Whatever started (journal, health port) is stopped so the LOCK is released before exiting.
    return stopAndExit(code, { reason: 'start failed' });
  }
  if (stopping) return new Promise<number>(() => {});
  process.on('SIGHUP', () => {
    if (stopping) return;
    daemon.reload().catch(fatal('Reloading failed unexpectedly'));
  });
  // Resolved never: every way out of a running daemon goes through stopAndExit / exitNow.
  return new Promise<number>(() => {});
}

function envMs(name: string): number | undefined {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/** Flushes pino's asynchronous stdout buffer, but never waits long on a pipe whose reader is gone. */
function flush(log: ReturnType<typeof createLogger>): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, FLUSH_TIMEOUT_MS);
    timer.unref();
    try {
      log.flush((err?: Error) => {
        void err;
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}
