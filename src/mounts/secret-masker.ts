/**
 * Masks secret values in a step's output.
 *
 * What is masked: every non-empty secret value as a whole, and, for a value with line breaks inside
 * (a key file, a token file ending in a newline), each of its lines that is at least
 * {@link MIN_MASKED_LINE_LENGTH} bytes long, since tools often print a single line of such a value.
 * Every occurrence is replaced by {@link MASK}. At each position the longest pattern that matches wins,
 * scanning left to right, so the streamed result is the same however the output is split into chunks.
 *
 * All patterns are found by one automaton (see mask-automaton.ts), compiled once per set of secrets
 * ({@link compileMask}) and shared by every masker made from it, so the cost per byte of output does not
 * grow with the number of patterns.
 */
import { MaskAutomaton, MaskScanner } from './mask-automaton.js';

/** What replaces a secret in output. */
export const MASK = '***';

/** A line of a multi-line secret shorter than this is not masked on its own (it would mask too much). */
export const MIN_MASKED_LINE_LENGTH = 4;

const MASK_BYTES = Buffer.from(MASK);
const EMPTY = Buffer.alloc(0);

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
    const key = pattern.toString('latin1');
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

/** The secrets of a run, compiled once; every masker made from it shares the automaton. */
export interface CompiledMask {
  /** No secret to mask: maskers pass output through. */
  readonly empty: boolean;
  /** A masker for one stream. */
  createMasker(): OutputMasker;
  /** A masker for the streams of one step, masking each stream and their interleaving (see below). */
  createStreamsMasker<S extends string>(): StreamsMasker<S>;
}

/** Compiles the patterns of these secret values (see {@link maskPatterns}) into one automaton. */
export function compileMask(values: readonly Buffer[]): CompiledMask {
  const automaton = new MaskAutomaton(maskPatterns(values));
  return {
    empty: automaton.empty,
    createMasker: () => (automaton.empty ? passThrough() : new StreamMasker(automaton)),
    createStreamsMasker: <S extends string>() => new StreamsMasker<S>(automaton),
  };
}

/** Creates a masker for one output stream. With no (non-empty) values it passes chunks through. */
export function createMasker(values: readonly Buffer[]): OutputMasker {
  return compileMask(values).createMasker();
}

/** Masks a whole text at once; the same result as streaming it through a masker. */
export function maskAll(values: readonly Buffer[], data: Buffer): Buffer {
  const masker = createMasker(values);
  return Buffer.concat([masker.push(data), masker.flush()]);
}

function passThrough(): OutputMasker {
  return { push: (chunk) => chunk, flush: () => EMPTY };
}

class StreamMasker implements OutputMasker {
  readonly #scanner: MaskScanner;
  /** The bytes not shown yet, from offset #shown. */
  #pending: Buffer = EMPTY;
  #shown = 0;

  constructor(automaton: MaskAutomaton) {
    this.#scanner = new MaskScanner(automaton);
  }

  push(chunk: Buffer): Buffer {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    return this.#show(this.#scanner.feed(chunk));
  }

  flush(): Buffer {
    return this.#show(this.#scanner.end());
  }

  #show(matches: readonly number[]): Buffer {
    const until = this.#scanner.frontier;
    const parts: Buffer[] = [];
    let at = this.#shown;
    for (let m = 0; m < matches.length; m += 2) {
      const start = matches[m]!;
      if (start > at) parts.push(this.#slice(at, start));
      parts.push(MASK_BYTES);
      at = matches[m + 1]!;
    }
    if (until > at) parts.push(this.#slice(at, until));
    const rest = Math.max(at, until) - this.#shown;
    this.#pending = rest >= this.#pending.length ? EMPTY : Buffer.from(this.#pending.subarray(rest));
    this.#shown += rest;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  #slice(from: number, to: number): Buffer {
    return this.#pending.subarray(from - this.#shown, to - this.#shown);
  }
}

/** Output of one stream, as the streams masker hands it on, in the order to show it. */
export interface StreamChunk<S extends string> {
  readonly stream: S;
  readonly data: Buffer;
}

/** Bytes of one stream as they arrived; `at` is their offset among all streams, `offset` in their own. */
interface Segment<S extends string> {
  readonly stream: S;
  readonly data: Buffer;
  readonly at: number;
  readonly offset: number;
  /** How many of its bytes were handed on. */
  shown: number;
}

/** One match; matches that overlap are merged, so that one mask stands for them all. */
interface Cluster {
  parent: Cluster | undefined;
  shown: boolean;
}

/** Bytes to hide, [start, end) among all streams. */
interface Hidden {
  readonly start: number;
  readonly end: number;
  readonly cluster: Cluster;
}

function root(cluster: Cluster): Cluster {
  let top = cluster;
  while (top.parent) top = top.parent;
  while (cluster.parent && cluster.parent !== top) {
    const next: Cluster = cluster.parent;
    cluster.parent = top;
    cluster = next;
  }
  return top;
}

/**
 * Masks the streams of one step (stdout and stderr) together. A secret is hidden when it appears in one
 * stream (however the other stream's output falls between its pieces) and when it appears across the
 * streams in the order their bytes arrived (`printf half; echo rest >&2`), which is how a combined log
 * shows them. Each secret found is one {@link MASK} in each stream that holds some of its bytes (so a
 * reader of one stream sees where something was taken out, and a reader of both sees no piece of it);
 * in a stream, secrets found both ways that overlap count as one. A stream's bytes that may start a secret are
 * held back without holding back the other stream, so output may be reordered across streams by at most
 * the held bytes.
 */
export class StreamsMasker<S extends string> {
  readonly #automaton: MaskAutomaton;
  /** Finds secrets in all streams taken together, in arrival order. */
  readonly #all: MaskScanner;
  /**
   * Finds secrets in each stream alone; none (undefined) while the stream's bytes since the combined
   * scanner's frontier are all the scanner holds, where it finds exactly what the combined one finds.
   * Output that comes on one stream at a time is then scanned once.
   */
  readonly #own = new Map<S, MaskScanner | undefined>();
  /** How many bytes arrived on each stream. */
  readonly #lengths = new Map<S, number>();
  #segments: Segment<S>[] = [];
  #hidden: Hidden[] = [];
  /** How many bytes arrived, all streams together. */
  #length = 0;
  /** The stream of the latest bytes, and where its run of bytes without another stream's between began. */
  #runStream: S | undefined;
  #runStart = 0;

  constructor(automaton: MaskAutomaton) {
    this.#automaton = automaton;
    this.#all = new MaskScanner(automaton);
  }

  /** Takes the next chunk of one stream; returns what can be shown now, in order. */
  push(stream: S, chunk: Buffer): StreamChunk<S>[] {
    if (chunk.length === 0) return [];
    if (this.#automaton.empty) return [{ stream, data: chunk }];
    // Bytes of this stream come between those of a stream that followed the combined scanner: that
    // stream needs a scanner of its own from here, in the state the combined one is in.
    for (const [other, own] of this.#own) {
      if (other !== stream && own === undefined) {
        this.#own.set(other, this.#all.fork(this.#lengths.get(other)! - this.#length));
      }
    }
    if (!this.#own.has(stream)) {
      this.#own.set(stream, this.#length === 0 ? undefined : new MaskScanner(this.#automaton));
    }
    if (this.#runStream !== stream) {
      this.#runStream = stream;
      this.#runStart = this.#length;
    }
    const offset = this.#lengths.get(stream) ?? 0;
    this.#segments.push({ stream, data: chunk, at: this.#length, offset, shown: 0 });
    this.#length += chunk.length;
    this.#lengths.set(stream, offset + chunk.length);
    this.#hideAll(this.#all.feed(chunk));
    const own = this.#own.get(stream);
    if (own !== undefined) {
      this.#hideOwn(stream, own.feed(chunk));
      // Once the combined scanner holds only bytes of this run, and both are in step, one is enough.
      if (own.inStep(this.#all) && this.#all.frontier >= this.#runStart) this.#own.set(stream, undefined);
    }
    this.#merge();
    return this.#show();
  }

  /** Ends every stream: returns whatever was held back, masked. */
  flush(): StreamChunk<S>[] {
    if (this.#automaton.empty) return [];
    this.#hideAll(this.#all.end());
    for (const [stream, own] of this.#own) if (own !== undefined) this.#hideOwn(stream, own.end());
    this.#merge();
    return this.#show();
  }

  /** Matches of the streams together: each stream hides its part of one (with one mask of its own). */
  #hideAll(matches: readonly number[]): void {
    for (let m = 0; m < matches.length; m += 2) {
      const start = matches[m]!;
      const end = matches[m + 1]!;
      const parts = new Map<S, Array<[number, number]>>();
      for (const segment of this.#segments) {
        const from = Math.max(start, segment.at);
        const to = Math.min(end, segment.at + segment.data.length);
        if (from >= to) continue;
        const ranges = parts.get(segment.stream);
        if (ranges === undefined) parts.set(segment.stream, [[from, to]]);
        else ranges.push([from, to]);
      }
      for (const ranges of parts.values()) this.#hide(ranges);
    }
  }

  /** Matches of one stream alone: their offsets are in that stream; each is hidden where its bytes are. */
  #hideOwn(stream: S, matches: readonly number[]): void {
    for (let m = 0; m < matches.length; m += 2) {
      const start = matches[m]!;
      const end = matches[m + 1]!;
      const ranges: Array<[number, number]> = [];
      for (const segment of this.#segments) {
        if (segment.stream !== stream) continue;
        const from = Math.max(start, segment.offset);
        const to = Math.min(end, segment.offset + segment.data.length);
        if (from < to) ranges.push([segment.at + from - segment.offset, segment.at + to - segment.offset]);
      }
      this.#hide(ranges);
    }
  }

  #hide(ranges: ReadonlyArray<readonly [number, number]>): void {
    const cluster: Cluster = { parent: undefined, shown: false };
    for (const [start, end] of ranges) this.#hidden.push({ start, end, cluster });
  }

  /**
   * Sorts the hidden ranges and merges the clusters of those that overlap (the bytes of a stream found
   * both in the stream alone and in the streams together). Ranges of different streams never overlap.
   */
  #merge(): void {
    this.#hidden.sort((x, y) => x.start - y.start);
    let reach: Hidden | undefined;
    for (const hidden of this.#hidden) {
      if (reach !== undefined && hidden.start < reach.end) {
        const a = root(reach.cluster);
        const b = root(hidden.cluster);
        if (a !== b) {
          b.parent = a;
          a.shown ||= b.shown;
        }
      }
      if (reach === undefined || hidden.end > reach.end) reach = hidden;
    }
  }

  /** Where the bytes of `stream` are decided: before both the combined and the stream's own frontier. */
  #limit(stream: S): number {
    const all = this.#all.frontier;
    const own = this.#own.get(stream);
    if (own === undefined) return all;
    const frontier = own.frontier;
    for (const segment of this.#segments) {
      if (segment.stream !== stream) continue;
      if (frontier < segment.offset + segment.data.length) {
        return Math.min(all, segment.at + Math.max(0, frontier - segment.offset));
      }
    }
    return all;
  }

  #show(): StreamChunk<S>[] {
    const runs: Array<{ stream: S; parts: Buffer[] }> = [];
    const add = (stream: S, data: Buffer) => {
      const last = runs[runs.length - 1];
      if (last?.stream === stream) last.parts.push(data);
      else runs.push({ stream, parts: [data] });
    };
    const limits = new Map<S, number>();
    for (const segment of this.#segments) {
      let limit = limits.get(segment.stream);
      if (limit === undefined) {
        limit = this.#limit(segment.stream);
        limits.set(segment.stream, limit);
      }
      const from = segment.at + segment.shown;
      const to = Math.min(segment.at + segment.data.length, limit);
      if (to <= from) continue;
      let at = from;
      for (const hidden of this.#hidden) {
        if (hidden.end <= at) continue;
        if (hidden.start >= to) break;
        if (hidden.start > at)
          add(segment.stream, segment.data.subarray(at - segment.at, hidden.start - segment.at));
        const top = root(hidden.cluster);
        if (!top.shown) {
          add(segment.stream, MASK_BYTES);
          top.shown = true;
        }
        at = Math.min(hidden.end, to);
      }
      if (to > at) add(segment.stream, segment.data.subarray(at - segment.at, to - segment.at));
      segment.shown = to - segment.at;
    }
    // Forget what was handed on.
    this.#segments = this.#segments.filter((s) => s.shown < s.data.length);
    const low = this.#segments.reduce(
      (min, s) => (s.shown < s.data.length ? Math.min(min, s.at + s.shown) : min),
      this.#length,
    );
    this.#hidden = this.#hidden.filter((h) => h.end > low);
    return runs.map(({ stream, parts }) => ({
      stream,
      data: parts.length === 1 ? parts[0]! : Buffer.concat(parts),
    }));
  }
}
