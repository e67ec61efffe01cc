// Test helper for Modbus RTU over a real serial device: socat makes a pseudo-terminal whose path (a symlink to
// /dev/pts/N) the adapter opens through `serialport`, exactly as it opens /dev/ttyUSB0, and joins it to a TCP
// peer that speaks RTU frames: the Modbus simulator's RTU-over-TCP port, or a LineTap in front of it that
// timestamps the frames and can corrupt answers. Killing socat is unplugging the adapter: the pty closes under
// the open port and the path disappears; starting it again on the same path is plugging it back in.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { waitFor } from './test-harness.js';

function hasSocat(): boolean {
  try {
    execFileSync('socat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const SOCAT = hasSocat();
export const NO_SOCAT = 'socat is not installed (apt-get install -y socat): it makes the pseudo-tty';

/** A pty at `device` joined to 127.0.0.1:`port` while plugged in. */
export interface SerialLine {
  readonly device: string;
  /** Creates the pty and its path (again); resolves once the path exists. */
  plug(): Promise<void>;
  /** Ends socat: the pty closes under whoever has it open and the path is removed. */
  unplug(): Promise<void>;
  /** The /dev/pts/N the path points to now. */
  pts(): string;
}

const lines = new Set<SerialLine>();

export async function serialLine(device: string, port: number): Promise<SerialLine> {
  let child: ChildProcess | undefined;
  let err = '';
  const line: SerialLine = {
    device,
    async plug() {
      if (child) return;
      err = '';
      // raw, echo=0: bytes pass unchanged in both directions, as on a serial line.
      const c = spawn('socat', [`pty,raw,echo=0,link=${device}`, `tcp:127.0.0.1:${port}`], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child = c;
      c.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
      });
      await waitFor('socat to create the pty', () => existsSync(device) || c.exitCode !== null, 10_000);
      if (!existsSync(device)) throw new Error(`socat did not create ${device}: ${err}`);
    },
    async unplug() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      // SIGTERM: socat closes the pty and removes the link, like the kernel removing /dev/ttyUSB0.
      c.kill('SIGTERM');
      await exited;
      await waitFor('the device path to disappear', () => !existsSync(device), 10_000);
    },
    pts() {
      return realpathSync(device);
    },
  };
  lines.add(line);
  await line.plug();
  return line;
}

/** Unplugs every line made so far (for afterEach). */
export async function unplugAll(): Promise<void> {
  const all = [...lines];
  lines.clear();
  await Promise.all(all.map((l) => l.unplug().catch(() => {})));
}

/** One request or answer as it passed the tap: when its first and last bytes went through. */
export interface TapFrame {
  dir: 'request' | 'answer';
  firstAt: number;
  lastAt: number;
  bytes: number;
}

/**
 * A TCP relay between socat and the simulator's RTU port, standing where the device is: it timestamps the
 * bytes of each direction (high-resolution, ms) and can flip a data byte of the next answers, so the CRC no
 * longer matches, as noise on an RS-485 pair would.
 */
export interface LineTap {
  readonly port: number;
  /** Frames in order; a new frame starts whenever the direction changes. */
  readonly frames: TapFrame[];
  /** Answers whose byte was flipped so far. */
  readonly corrupted: number;
  /** Flips one data byte in each of the next `n` answers. */
  corruptNext(n: number): void;
  close(): Promise<void>;
}

export async function lineTap(targetPort: number): Promise<LineTap> {
  const frames: TapFrame[] = [];
  const sockets = new Set<Socket>();
  let corruptPending = 0;
  let corrupted = 0;
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  const server: Server = createServer((client) => {
    const upstream = connect({ port: targetPort, host: '127.0.0.1' });
    sockets.add(client);
    sockets.add(upstream);
    // Bytes of the answer in progress, to find its first data byte (after unit, function and byte count).
    let answerOffset = 0;
    let corruptThis = false;
    const note = (dir: TapFrame['dir'], n: number) => {
      const t = now();
      const last = frames.at(-1);
      if (last && last.dir === dir) {
        last.lastAt = t;
        last.bytes += n;
      } else frames.push({ dir, firstAt: t, lastAt: t, bytes: n });
    };
    client.on('data', (d: Buffer) => {
      note('request', d.length);
      answerOffset = 0;
      corruptThis = false;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      note('answer', d.length);
      let out = d;
      if (answerOffset === 0 && corruptPending > 0) {
        corruptPending -= 1;
        corruptThis = true;
      }
      const at = 3 - answerOffset;
      if (corruptThis && at >= 0 && at < d.length) {
        out = Buffer.from(d);
        out[at] = (out[at] as number) ^ 0x5a;
        corrupted += 1;
        corruptThis = false;
      }
      answerOffset += d.length;
      client.write(out);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close);
    client.on('close', close);
    upstream.on('error', close);
    upstream.on('close', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('the line tap has no address');
  return {
    port: addr.port,
    frames,
    get corrupted() {
      return corrupted;
    },
    corruptNext(n: number) {
      corruptPending += n;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The terminal settings of `device` as `stty -a` prints them (speed, parity, stop bits, ...). */
export function sttyOf(device: string): string {
  return execFileSync('stty', ['-a', '-F', device], { encoding: 'utf8' });
}
