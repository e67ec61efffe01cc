// Test helper for Modbus RTU over a real serial device: socat makes a pseudo-terminal whose path (a symlink
// to /dev/pts/N) the adapter opens through `serialport`, exactly as it opens /dev/ttyUSB0. Its other side is
// either a TCP peer that speaks RTU frames (the Modbus simulator's RTU-over-TCP port), or a second pty (a pty
// pair, a null-modem cable) that another RTU implementation or the LineTap opens as a serial device. The
// LineTap stands where the device is, between two ptys (a pair to the adapter, one joined to the simulator):
// it timestamps the frames and can corrupt answers. Killing socat is unplugging the adapter: the pty closes
// under the open port and the path disappears; starting it again on the same path is plugging it back in.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { constants, existsSync, openSync, realpathSync } from 'node:fs';
import { ReadStream } from 'node:tty';
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

/** A pty at `device` joined to its other side (a TCP port or a second pty) while plugged in. */
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

// raw, echo=0: bytes pass unchanged in both directions, as on a serial line.
const pty = (path: string) => `pty,raw,echo=0,link=${path}`;

/** A line run by one socat between `addresses`; `paths` are the pty links it makes. */
async function socatLine(device: string, addresses: [string, string], paths: string[]): Promise<SerialLine> {
  let child: ChildProcess | undefined;
  let err = '';
  const line: SerialLine = {
    device,
    async plug() {
      if (child) return;
      err = '';
      const c = spawn('socat', addresses, { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      c.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const made = () => paths.every((p) => existsSync(p));
      await waitFor('socat to create the pty', () => made() || c.exitCode !== null, 10_000);
      if (!made()) throw new Error(`socat did not create ${paths.join(' and ')}: ${err}`);
    },
    async unplug() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      // SIGTERM: socat closes the pty and removes the link, like the kernel removing /dev/ttyUSB0.
      c.kill('SIGTERM');
      await exited;
      await waitFor('the device path to disappear', () => paths.every((p) => !existsSync(p)), 10_000);
    },
    pts() {
      return realpathSync(device);
    },
  };
  lines.add(line);
  await line.plug();
  return line;
}

/** A pty at `device` joined to the RTU-over-TCP listener at 127.0.0.1:`port`. */
export function serialLine(device: string, port: number): Promise<SerialLine> {
  return socatLine(device, [pty(device), `tcp:127.0.0.1:${port}`], [device]);
}

/**
 * Two ptys joined back to back, a null-modem cable: what is written to one is read from the other. `device`
 * is the adapter's end, `peer` the end a device (pymodbus, the LineTap) opens; unplugging removes both.
 */
export function ptyPair(device: string, peer: string): Promise<SerialLine> {
  return socatLine(device, [pty(device), pty(peer)], [device, peer]);
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
 * A device-side relay: `device` -> pty pair A (socat) -> the tap -> pty B -> socat -> the simulator's RTU
 * port. It opens its two pty ends as a program opens serial devices, timestamps the bytes of each direction
 * (high-resolution, ms) and can flip a data byte of the next answers, so the CRC no longer matches, as noise
 * on an RS-485 pair would.
 */
export interface LineTap {
  /** The path the adapter opens (pair A's other end). */
  readonly device: string;
  /** Frames in order; a new frame starts whenever the direction changes. */
  readonly frames: TapFrame[];
  /** Answers whose byte was flipped so far. */
  readonly corrupted: number;
  /** Flips one data byte in each of the next `n` answers. */
  corruptNext(n: number): void;
  close(): Promise<void>;
}

/** Opens a pty end for reading and writing, as a program opens a serial device (socat made it raw). */
function openEnd(path: string): ReadStream {
  // O_NOCTTY: the pty must not become the test process's controlling terminal.
  return new ReadStream(openSync(path, constants.O_RDWR | constants.O_NOCTTY));
}

export async function lineTap(device: string, simPort: number): Promise<LineTap> {
  const frames: TapFrame[] = [];
  let corruptPending = 0;
  let corrupted = 0;
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  // Pair A: the adapter's device and the tap's end; pair B: the tap's end of a pty whose other side is the
  // simulator's RTU port.
  const a = await ptyPair(device, `${device}.tap`);
  const b = await serialLine(`${device}.sim`, simPort);
  const adapterSide = openEnd(`${device}.tap`);
  const simSide = openEnd(`${device}.sim`);
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
  adapterSide.on('data', (d: Buffer) => {
    note('request', d.length);
    answerOffset = 0;
    corruptThis = false;
    simSide.write(d);
  });
  simSide.on('data', (d: Buffer) => {
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
    adapterSide.write(out);
  });
  // An end closing under the tap (its line unplugged) is the test's doing, not an error of the tap.
  adapterSide.on('error', () => {});
  simSide.on('error', () => {});
  return {
    device,
    frames,
    get corrupted() {
      return corrupted;
    },
    corruptNext(n: number) {
      corruptPending += n;
    },
    async close() {
      adapterSide.destroy();
      simSide.destroy();
      await Promise.all([a.unplug(), b.unplug()]);
    },
  };
}

/** The terminal settings of `device` as `stty -a` prints them (speed, parity, stop bits, ...). */
export function sttyOf(device: string): string {
  return execFileSync('stty', ['-a', '-F', device], { encoding: 'utf8' });
}
