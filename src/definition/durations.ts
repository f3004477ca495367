/**
 * Durations as a step file writes them (`timeout: 90s`), turned into milliseconds.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const COMPONENT = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
const PLAIN_NUMBER = /^\d+(?:\.\d+)?$/;

/**
 * Parse a duration into milliseconds (rounded to a whole millisecond).
 *
 * - a number, or a string of digits, is a number of seconds: `90`, `"1.5"`;
 * - otherwise one or more `<number><unit>` parts, largest first or not, with the units `ms`, `s`, `m`
 *   (minutes), `h`, `d`: `500ms`, `90s`, `10m`, `1h30m`, `1m30.5s`.
 *
 * Throws a plain Error whose message names the value and the accepted forms when the value is not a
 * duration (empty, negative, unknown unit, stray characters).
 *
 * Not the `ms` package: it reads a bare number as milliseconds, knows no `1h30m`, and says NaN or
 * undefined where a step file needs a message that names the forms.
 */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw invalidDuration(value);
    return Math.round(value * 1_000);
  }
  if (typeof value !== 'string') throw invalidDuration(value);
  const text = value.trim().toLowerCase();
  if (PLAIN_NUMBER.test(text)) return Math.round(Number(text) * 1_000);
  if (text === '') throw invalidDuration(value);

  let total = 0;
  let offset = 0;
  COMPONENT.lastIndex = 0;
  while (offset < text.length) {
    COMPONENT.lastIndex = offset;
    const match = COMPONENT.exec(text);
    if (!match) throw invalidDuration(value);
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    offset = COMPONENT.lastIndex;
  }
  return Math.round(total);
}

function invalidDuration(value: unknown): Error {
  return new Error(
    `invalid duration ${JSON.stringify(value)}: write a number of seconds or parts with units ` +
      `ms, s, m, h, d (e.g. 90s, 10m, 1h30m, 500ms)`,
  );
}
