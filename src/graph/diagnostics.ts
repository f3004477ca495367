/**
 * Collects the problems found while compiling, each with the JSON pointer of the offending value and,
 * when the definition came from a step file, the position found for that pointer (or for its nearest
 * ancestor) in the definition's source map.
 */
import { MAX_REPORTED_PROBLEMS } from '../definition/diagnostic-limit.js';
import { DefinitionError, type Diagnostic } from '../errors.js';
import type { SourceMap } from '../definition/types.js';

/** A JSON pointer (RFC 6901) from its segments: `pointer('jobs', 'a/b', 0)` is `/jobs/a~1b/0`. */
export function pointer(...segments: ReadonlyArray<string | number>): string {
  let out = '';
  for (const segment of segments) {
    out += '/' + String(segment).replaceAll('~', '~0').replaceAll('/', '~1');
  }
  return out;
}

export class DiagnosticCollector {
  readonly #diagnostics: Diagnostic[] = [];
  readonly #sourceMap: SourceMap | undefined;
  readonly #seen = new Set<string>();

  constructor(sourceMap?: SourceMap) {
    this.#sourceMap = sourceMap;
  }

  get size(): number {
    return this.#diagnostics.length;
  }

  /** The problems recorded so far, in the order they were found. */
  get diagnostics(): readonly Diagnostic[] {
    return this.#diagnostics;
  }

  /**
   * Whether problems recorded from now on are among the first MAX_REPORTED_PROBLEMS, those the CLI
   * shows: costly extras such as "did you mean" suggestions are skipped past them.
   */
  get reporting(): boolean {
    return this.#diagnostics.length < MAX_REPORTED_PROBLEMS;
  }

  /** Record a problem. `at` is the JSON pointer of the offending value, when it has one. */
  add(message: string, at?: string, jobs?: readonly string[]): void {
    const position = at === undefined ? undefined : this.#positionOf(at);
    this.#diagnostics.push({
      message,
      ...(position ? { position } : {}),
      ...(at !== undefined ? { pointer: at } : {}),
      ...(jobs ? { jobs } : {}),
    });
  }

  /** Record a problem unless the same message at the same pointer was recorded before. */
  addOnce(message: string, at?: string, jobs?: readonly string[]): void {
    const key = `${at ?? ''}\n${message}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.add(message, at, jobs);
  }

  /** Throw one DefinitionError holding every problem recorded, if there is any. */
  throwIfAny(): void {
    if (this.#diagnostics.length > 0) throw new DefinitionError(this.#diagnostics);
  }

  #positionOf(at: string) {
    const map = this.#sourceMap;
    if (!map) return undefined;
    for (let current = at; ;) {
      const position = map.get(current);
      if (position) return position;
      if (current === '') return undefined;
      current = current.slice(0, current.lastIndexOf('/'));
    }
  }
}
