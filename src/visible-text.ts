/**
 * User-supplied text made safe to print on a terminal: control characters (newline, carriage return,
 * ESC, BEL, the C1 controls, Unicode line separators and bidirectional overrides) are shown as escapes
 * (`\n`, `\x1b`, `\u202e`), the way JSON shows them, so that a name or a value quoted in a message can
 * never start a line of its own, move the cursor, clear the screen or retitle the window.
 *
 * Step output is not passed through this: it is printed as the step wrote it.
 */

/**
 * The characters escaped: C0 controls, DEL, C1 controls, the line and paragraph separators, and the
 * bidirectional embeddings, overrides and isolates (which can reorder what a terminal shows).
 */
const CONTROL = /[\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g;
const CONTROL_TEST = /[\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/;

const NAMED: Readonly<Record<string, string>> = {
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
  '\v': '\\v',
  '\0': '\\0',
};

function escapeOne(char: string): string {
  const named = NAMED[char];
  if (named !== undefined) return named;
  const code = char.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Whether `text` holds a character that `visible` would escape. */
export function hasControlCharacters(text: string): boolean {
  return CONTROL_TEST.test(text);
}

/**
 * `text` with every control character shown as an escape (`a\nb` prints as `a\nb` on one line).
 * Characters listed in `keep` (e.g. `'\t'`) are left as they are.
 */
export function visible(text: string, keep = ''): string {
  if (!CONTROL_TEST.test(text)) return text;
  return text.replace(CONTROL, (char) => (keep.includes(char) ? char : escapeOne(char)));
}
