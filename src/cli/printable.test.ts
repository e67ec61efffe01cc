// Unit test of the one escaping function every human-form printer uses (issue 11.17).
import { describe, expect, it } from 'vitest';
import { printable } from './printable.js';

describe('printable', () => {
  it('writes ANSI escapes, other controls and bidi overrides as visible escapes, on one line', () => {
    expect(printable('\u001b[31mred\u001b[0m')).toBe('\\x1b[31mred\\x1b[0m');
    expect(printable('a\nb\r\tc\u0007\u0000\u007f\u009b')).toBe('a\\nb\\r\\tc\\x07\\x00\\x7f\\x9b');
    expect(printable('abc\u202edef\u2066')).toBe('abc\\u{202e}def\\u{2066}');
  });

  it('keeps ordinary text, including non-ASCII letters and symbols, unchanged', () => {
    const text = 'HTTP 400: Ungültiger Wert für „temp“ — 25 °C ✓ 温度';
    expect(printable(text)).toBe(text);
    expect(printable(42)).toBe('42');
  });
});
