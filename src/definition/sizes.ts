/**
 * Sizes (`size: 256m`) and file modes (`mode: "0400"`) as a step file writes them, turned into numbers.
 */

const SIZE = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?b)?|(b))?$/;
const UNIT_BYTES: Readonly<Record<string, number>> = {
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/**
 * Parse a size into bytes. Units are binary and case-insensitive, as Docker reads them: `512k`, `256m`,
 * `1g`, `64mb`, `1GiB`, `2t`; `b` or no unit means bytes (`1024`, `1024b`). A fractional size (`1.5g`)
 * is rounded down to a whole byte. A number is a count of bytes.
 *
 * Throws a plain Error naming the value and the accepted forms on anything else.
 *
 * Not the `bytes` package: it refuses Docker's one-letter units (`256m`) and `GiB`, and answers null
 * instead of a message.
 */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw invalidSize(value);
    return value;
  }
  if (typeof value !== 'string') throw invalidSize(value);
  const match = SIZE.exec(value.trim().toLowerCase());
  if (!match) throw invalidSize(value);
  const unit = match[2];
  const bytes = Math.floor(Number(match[1]) * (unit === undefined ? 1 : UNIT_BYTES[unit]!));
  if (!Number.isSafeInteger(bytes)) throw invalidSize(value);
  return bytes;
}

function invalidSize(value: unknown): Error {
  return new Error(
    `invalid size ${JSON.stringify(value)}: write a number of bytes or a number with a unit ` +
      `k, m, g, t (e.g. 512k, 256m, 1g, 64mb, 1GiB)`,
  );
}

const OCTAL_STRING = /^(?:0o)?([0-7]{1,5})$/;
const MAX_MODE = 0o7777;

/**
 * Parse a file mode into its numeric value (`"1777"` -> 0o1777).
 *
 * - A string is octal digits, with or without a leading `0` or `0o`: `"1777"`, `"0400"`, `"0o755"`.
 * - A number is read as the digits it is written with, taken as octal: YAML 1.2 reads `mode: 0400` and
 *   `mode: 400` as the integer 400, which is meant as 0o400. A number with a digit 8 or 9 is refused.
 *   So in code (the builder API) write the mode as a string (`'0400'`): the literal `0o400` is the
 *   integer 256, which this function reads as 0o256. In a step file, `0o400` (YAML's own octal) has the
 *   same trap; write `"0400"` or `0400`.
 *
 * The result is at most 0o7777. Throws a plain Error naming the value otherwise.
 */
export function parseMode(value: string | number): number {
  let digits: string;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw invalidMode(value);
    digits = String(value);
  } else if (typeof value === 'string') {
    digits = value.trim().toLowerCase();
  } else {
    throw invalidMode(value);
  }
  const match = OCTAL_STRING.exec(digits);
  if (!match) throw invalidMode(value);
  const mode = Number.parseInt(match[1]!, 8);
  if (mode > MAX_MODE) throw invalidMode(value);
  return mode;
}

function invalidMode(value: unknown): Error {
  return new Error(
    `invalid mode ${JSON.stringify(value)}: write octal digits as a string, at most 7777 ` +
      `(e.g. "0400", "0755", "1777")`,
  );
}
