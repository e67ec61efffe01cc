// Terminal safety for text the gateway did not write: receiver error bodies, device and broker strings,
// ids from files. Printed raw, an ANSI escape sequence in a receiver's answer would recolour, move or clear
// the operator's terminal (or hide text); every human-form printer passes such text through `printable`.

// C0 and C1 control characters (ESC, BEL, CR, backspace, CSI ...), DEL, and the bidirectional formatting
// characters that can make text display in another order than it reads (Trojan Source).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** The text with every control character written as a visible escape (`\x1b`, `\n`, `\u{202e}`), on one line. */
export function printable(text: unknown): string {
  const s = typeof text === 'string' ? text : String(text);
  return s.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const n = c.codePointAt(0) as number;
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
  });
}
