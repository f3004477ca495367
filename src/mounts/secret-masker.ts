/**
 * Masks secret values in a step's output, one masker per output stream.
 *
 * What is masked: every non-empty secret value as a whole, and, for a value with line breaks inside
 * (a key file, a token file ending in a newline), each of its lines that is at least
 * {@link MIN_MASKED_LINE_LENGTH} bytes long, since tools often print a single line of such a value.
 * Every occurrence is replaced by {@link MASK}. At each position the longest pattern that matches wins,
 * scanning left to right, so the streamed result is the same however the output is split into chunks.
 */

/** What replaces a secret in output. */
export const MASK = '***';

/** A line of a multi-line secret shorter than this is not masked on its own (it would mask too much). */
export const MIN_MASKED_LINE_LENGTH = 4;

const MASK_BYTES = Buffer.from(MASK);

export interface OutputMasker {
  /**
   * Takes the next chunk of the stream and returns what can be shown now, secrets masked. Bytes that
   * may be the start of a secret continued in the next chunk are held back (fewer than the longest
   * secret's length).
   */
  push(chunk: Buffer): Buffer;
  /** Ends the stream: returns whatever was held back, masked. */
  flush(): Buffer;
}

/** The byte patterns a masker hides for these secret values: unique, non-empty, longest first. */
export function maskPatterns(values: readonly Buffer[]): Buffer[] {
  const seen = new Set<string>();
  const patterns: Buffer[] = [];
  const add = (pattern: Buffer) => {
    if (pattern.length === 0) return;
    const key = pattern.toString('hex');
    if (seen.has(key)) return;
    seen.add(key);
    patterns.push(pattern);
  };
  for (const value of values) {
    add(value);
    if (!value.includes(0x0a)) continue;
    for (let line of splitLines(value)) {
      if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
      if (line.length >= MIN_MASKED_LINE_LENGTH) add(line);
    }
  }
  return patterns.sort((a, b) => b.length - a.length);
}

function splitLines(value: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = value.indexOf(0x0a); i !== -1; i = value.indexOf(0x0a, start)) {
    lines.push(value.subarray(start, i));
    start = i + 1;
  }
  lines.push(value.subarray(start));
  return lines;
}

/** Creates a masker for one output stream. With no (non-empty) values it passes chunks through. */
export function createMasker(values: readonly Buffer[]): OutputMasker {
  const patterns = maskPatterns(values);
  if (patterns.length === 0) {
    return { push: (chunk) => chunk, flush: () => Buffer.alloc(0) };
  }
  const longest = patterns[0]!.length;
  let pending: Buffer = Buffer.alloc(0);

  return {
    push(chunk) {
      const buffer = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const { output, rest } = maskBuffer(buffer, patterns, longest, false);
      pending = rest.length === 0 ? Buffer.alloc(0) : Buffer.from(rest);
      return output;
    },
    flush() {
      const { output } = maskBuffer(pending, patterns, longest, true);
      pending = Buffer.alloc(0);
      return output;
    },
  };
}

/**
 * Masks `buffer`. Unless `final`, stops at the first position where a secret may begin but continues
 * past the end of the buffer, and returns the bytes from there as `rest`.
 */
function maskBuffer(
  buffer: Buffer,
  patterns: readonly Buffer[],
  longest: number,
  final: boolean,
): { output: Buffer; rest: Buffer } {
  let partialAt = final ? buffer.length : firstPartialMatch(buffer, patterns, longest, 0);
  const parts: Buffer[] = [];
  let position = 0;
  for (;;) {
    const match = firstFullMatch(buffer, patterns, position);
    // A match at or after a possible partial one waits: a longer secret may start there.
    if (match === undefined || match.index >= partialAt) break;
    if (match.index > position) parts.push(buffer.subarray(position, match.index));
    parts.push(MASK_BYTES);
    position = match.index + match.length;
    // The possible partial match was inside this one: look again after it.
    if (position > partialAt) partialAt = firstPartialMatch(buffer, patterns, longest, position);
  }
  const end = Math.max(position, partialAt);
  if (end > position) parts.push(buffer.subarray(position, end));
  return { output: Buffer.concat(parts), rest: buffer.subarray(end) };
}

/** The leftmost position where a pattern matches in full, with the longest pattern matching there. */
function firstFullMatch(
  buffer: Buffer,
  patterns: readonly Buffer[],
  from: number,
): { index: number; length: number } | undefined {
  let best: { index: number; length: number } | undefined;
  for (const pattern of patterns) {
    const index = buffer.indexOf(pattern, from);
    // Patterns are sorted longest first: at an equal index the earlier (longer) one stays.
    if (index !== -1 && (best === undefined || index < best.index)) best = { index, length: pattern.length };
  }
  return best;
}

/**
 * The first position (from `from`) near the end of `buffer` from which the remaining bytes are a proper prefix of
 * some pattern (so more bytes could complete it), or `buffer.length` when there is none.
 */
function firstPartialMatch(
  buffer: Buffer,
  patterns: readonly Buffer[],
  longest: number,
  from: number,
): number {
  for (let start = Math.max(from, buffer.length - longest + 1); start < buffer.length; start++) {
    const remaining = buffer.length - start;
    for (const pattern of patterns) {
      if (pattern.length <= remaining) break; // sorted longest first: no longer pattern follows
      if (pattern.compare(buffer, start, buffer.length, 0, remaining) === 0) return start;
    }
  }
  return buffer.length;
}

/** Masks a whole text at once; the same result as streaming it through a masker. */
export function maskAll(values: readonly Buffer[], data: Buffer): Buffer {
  const masker = createMasker(values);
  return Buffer.concat([masker.push(data), masker.flush()]);
}
