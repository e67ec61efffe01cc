// Maps a key path such as `sources.1.signals.0.unit` back to a line and column in the YAML file, falling
// back to the nearest node that exists (a missing key is reported where its parent mapping starts).
import { type Document, isAlias, isMap, isPair, isScalar, isSeq, type LineCounter, type Node } from 'yaml';

export type KeyPath = ReadonlyArray<string | number>;

export interface Position {
  line: number;
  col: number;
}

function hasRange(n: unknown): n is Node & { range: [number, number, number] } {
  return typeof n === 'object' && n !== null && Array.isArray((n as { range?: unknown }).range);
}

export class YamlPositions {
  readonly #doc: Document;
  readonly #lc: LineCounter;

  constructor(doc: Document, lc: LineCounter) {
    this.#doc = doc;
    this.#lc = lc;
  }

  /** 1-based position of `offset` in the file. */
  at(offset: number): Position {
    const p = this.#lc.linePos(offset);
    return { line: p.line, col: p.col };
  }

  /**
   * Position of the value at `path`, or of its key when `key` is true (unknown keys are shown at the key).
   * Anything that does not exist in the file resolves to its nearest existing parent.
   */
  locate(path: KeyPath, opts: { key?: boolean } = {}): Position {
    let node: unknown = this.#doc.contents;
    let best: unknown = node;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      if (isAlias(node)) node = node.resolve(this.#doc);
      let next: unknown;
      let keyNode: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
        if (!pair) break;
        keyNode = pair.key;
        next = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
        if (next === undefined) break;
      } else {
        break;
      }
      const last = i === path.length - 1;
      if (last && opts.key && hasRange(keyNode)) return this.#pos(keyNode);
      // `key:` with nothing after it has no value node with a useful range: point at the key.
      if (!hasRange(next) || (isScalar(next) && next.value === null && hasRange(keyNode))) {
        best = hasRange(keyNode) ? keyNode : best;
        node = next;
        if (!hasRange(next)) break;
        continue;
      }
      best = next;
      node = next;
    }
    return hasRange(best) ? this.#pos(best) : { line: 1, col: 1 };
  }

  #pos(n: Node & { range: [number, number, number] }): Position {
    return this.at(n.range[0]);
  }
}

function keyText(k: unknown): string | undefined {
  if (isScalar(k)) return String(k.value);
  return typeof k === 'string' || typeof k === 'number' ? String(k) : undefined;
}
