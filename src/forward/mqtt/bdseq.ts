// The Sparkplug birth/death sequence number (bdSeq, 0-255) of the edge node: incremented for every connection and
// kept in a small file next to the journal, so the NDEATH a broker publishes for a killed process (its will)
// never carries the bdSeq of the connection that replaced it. Written before the CONNECT that announces it.
import { randomInt } from 'node:crypto';
import { open, readFile, rename } from 'node:fs/promises';

export class BdSeqStore {
  readonly #file: string | undefined;
  #last: number | undefined;

  /** Without a file (a sink built outside the daemon), the first bdSeq is random and kept in memory only. */
  constructor(file?: string) {
    this.#file = file;
  }

  /** The bdSeq of the next connection: one more than the last one handed out (or stored), modulo 256. */
  async next(): Promise<number> {
    if (this.#last === undefined) this.#last = await this.#read();
    const n = ((this.#last ?? randomInt(256) - 1) + 1) & 0xff;
    this.#last = n;
    if (this.#file !== undefined) await this.#write(this.#file, n);
    return n;
  }

  async #read(): Promise<number | undefined> {
    if (this.#file === undefined) return undefined;
    try {
      const v = (JSON.parse(await readFile(this.#file, 'utf8')) as { bd_seq?: unknown }).bd_seq;
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255 ? v : undefined;
    } catch {
      // Missing or damaged: a random start is as good as any, the next write repairs it.
      return undefined;
    }
  }

  async #write(file: string, n: number): Promise<void> {
    const tmp = `${file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(`${JSON.stringify({ bd_seq: n })}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  }
}
