// systemd readiness and watchdog notifications. Node has no Unix datagram sockets, so each notification runs
// the `systemd-notify` binary with --pid=<our pid>; the unit therefore sets NotifyAccess=all.
import { execFile } from 'node:child_process';

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  /** Path of the systemd-notify binary. */
  binary?: string;
  pid?: number;
}

export class SystemdNotifier {
  readonly #socket: string | undefined;
  readonly #binary: string;
  readonly #pid: number;
  readonly #watchdogUsec: number | undefined;
  #lastError: string | undefined;
  sent = 0;

  constructor(opts: NotifierOptions = {}) {
    const env = opts.env ?? process.env;
    this.#socket = env.NOTIFY_SOCKET || undefined;
    this.#binary = opts.binary ?? 'systemd-notify';
    this.#pid = opts.pid ?? process.pid;
    const usec = Number(env.WATCHDOG_USEC);
    const wpid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : this.#pid;
    this.#watchdogUsec = Number.isFinite(usec) && usec > 0 && wpid === this.#pid ? usec : undefined;
  }

  get enabled(): boolean {
    return this.#socket !== undefined;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Half the watchdog timeout, as sd_watchdog_enabled(3) recommends; undefined when no watchdog is set. */
  watchdogIntervalMs(): number | undefined {
    return this.#watchdogUsec === undefined
      ? undefined
      : Math.max(500, Math.floor(this.#watchdogUsec / 2000));
  }

  ready(status?: string): Promise<boolean> {
    return this.notify(status ? ['READY=1', `STATUS=${status}`] : ['READY=1']);
  }

  watchdog(): Promise<boolean> {
    return this.notify(['WATCHDOG=1']);
  }

  stopping(): Promise<boolean> {
    return this.notify(['STOPPING=1']);
  }

  reloading(): Promise<boolean> {
    return this.notify(['RELOADING=1']);
  }

  status(text: string): Promise<boolean> {
    return this.notify([`STATUS=${text}`]);
  }

  /** Sends the assignments; resolves false (and remembers why) instead of throwing. */
  notify(assignments: string[]): Promise<boolean> {
    if (!this.#socket) return Promise.resolve(false);
    return new Promise((resolve) => {
      execFile(
        this.#binary,
        [`--pid=${this.#pid}`, ...assignments],
        { env: { ...process.env, NOTIFY_SOCKET: this.#socket }, timeout: 5000 },
        (err, _stdout, stderr) => {
          if (err) {
            this.#lastError = `${this.#binary} failed: ${stderr.trim() || err.message}`;
            resolve(false);
          } else {
            this.sent += 1;
            resolve(true);
          }
        },
      );
    });
  }
}
