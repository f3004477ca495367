/**
 * Text helpers shared by the reporters: escape-code stripping, display sanitising of step output, and
 * padding by terminal width.
 */
import stringWidth from 'string-width';
import stripAnsi from 'strip-ansi';
import { visible } from '../visible-text.js';

/** Control characters other than tab, newline and carriage return (ESC included). */
const CONTROL_PATTERN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g;

/** Removes every ANSI escape sequence and any stray control character (tab, `\n` and `\r` are kept). */
export function stripEscapes(text: string): string {
  return stripAnsi(text).replace(CONTROL_PATTERN, '');
}

/** The longest line, in characters, that the run state and the live view keep of a step's output. */
export const MAX_DISPLAY_LINE = 1024;

/**
 * One line of step output as a terminal would finally show it, safe to draw inside the live view:
 * a trailing `\r` dropped, only what follows the last `\r` kept (progress bars), escapes and control
 * characters removed, tabs expanded, and clipped to MAX_DISPLAY_LINE characters.
 */
export function sanitizeLine(line: string): string {
  let text = line.endsWith('\r') ? line.slice(0, -1) : line;
  const cr = text.lastIndexOf('\r');
  if (cr !== -1) text = text.slice(cr + 1);
  if (text.length > MAX_DISPLAY_LINE * 4) text = text.slice(0, MAX_DISPLAY_LINE * 4);
  text = stripEscapes(text);
  if (text.includes('\t')) text = text.replace(/\t/g, '    ');
  if (text.length > MAX_DISPLAY_LINE) text = text.slice(0, MAX_DISPLAY_LINE - 1) + '…';
  return text;
}

/** Hex digits of a key's digest shown where a key is named in short. */
export const SHORT_KEY_DIGITS = 12;

/**
 * A job cache key in short, for display: the first SHORT_KEY_DIGITS hex digits of its digest
 * (`sha256:ab12…` → `ab12cd34ef56`), or with `algorithm` those after the algorithm and an ellipsis
 * (`sha256:ab12cd34ef56…`). A key that is not `<algorithm>:<hex>` is shown whole, its control
 * characters escaped.
 */
export function shortKey(key: string, { algorithm = false }: { algorithm?: boolean } = {}): string {
  const match = /^([a-z0-9]+):([0-9a-f]+)$/i.exec(key);
  if (!match) return visible(key);
  const digits = match[2]!.slice(0, SHORT_KEY_DIGITS);
  if (!algorithm) return digits;
  return `${match[1]}:${digits}${match[2]!.length > SHORT_KEY_DIGITS ? '…' : ''}`;
}

/** Pads `text` with spaces to `width` terminal columns (escape codes and wide characters counted right). */
export function padEndWidth(text: string, width: number): string {
  const missing = width - widthOf(text);
  return missing > 0 ? text + ' '.repeat(missing) : text;
}

/** Printable ASCII: one column a character, no escape codes. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** The terminal width of `text` (a label or line of printable ASCII is as wide as it is long). */
export function widthOf(text: string): number {
  return PRINTABLE_ASCII.test(text) ? text.length : stringWidth(text);
}
