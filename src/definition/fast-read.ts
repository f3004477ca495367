/**
 * The fast way to read a step file: js-yaml (the YAML 1.2 core schema) reads a large
 * file about ten times faster than the `yaml` package's document API, but keeps no positions. The loader
 * takes this path first; when it fails, or the data does not validate, the `yaml` package reads the file
 * again to place every problem at its line and column, and it builds the source map lazily, the first
 * time a position is asked for (an error of the compiler).
 */
import jsyaml from 'js-yaml';
import type { SourcePosition } from '../errors.js';

const SCHEMA = jsyaml.CORE_SCHEMA;

/**
 * Aliases can expand a small file into a huge graph ("billion laughs"); js-yaml has no limit on them,
 * so a file that may use them goes through the `yaml` package, which has one. (A false alarm, such as
 * `rm *.o`, only costs the slower path.)
 */
const MAY_HAVE_ALIAS = /(^|[\s,[{:-])\*[^\s,[\]{}]/m;
/** Merge keys (`<<:`) are left to the `yaml` package too, whose merging the loader relies on. */
const MAY_HAVE_MERGE = /<</;
/** A collection used as a key (`{x}: 1`): the two libraries turn it into different strings. */
const MAY_HAVE_COLLECTION_KEY = /[\]}]\s*:(\s|$)/m;
/**
 * A null key (`null:`, `~:` or none at all): `''` for the `yaml` package, `'null'` for js-yaml. Only
 * blanks within a line are skipped, each run from one place: the test stays linear in the text's length
 * (`\s*` after `\s` would try every start in a long run of blanks, quadratic time).
 */
const MAY_HAVE_NULL_KEY = /(^|[{[,?-])[ \t]*((null|Null|NULL|~)[ \t]*)?:(\s|$)|(^|[\s{[,-])\?(\s|$)/m;

/** The data of a plain step file, or undefined when the careful path must read it. */
export function readFast(text: string): Record<string, unknown> | undefined {
  if (
    [MAY_HAVE_ALIAS, MAY_HAVE_MERGE, MAY_HAVE_COLLECTION_KEY, MAY_HAVE_NULL_KEY].some((r) => r.test(text))
  ) {
    return undefined;
  }
  let data: unknown;
  try {
    data = jsyaml.load(text, { schema: SCHEMA, json: false });
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  return isTree(data) ? (data as Record<string, unknown>) : undefined;
}

/**
 * Whether no list or map is reached twice: an alias that got past the checks above would share one
 * value between two places, and the walks after loading would go through it once per place (a
 * "billion laughs" file). Such a file goes through the `yaml` package, which measures its aliases.
 */
function isTree(root: object): boolean {
  const seen = new Set<object>();
  const stack: object[] = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (seen.has(node)) return false;
    seen.add(node);
    for (const value of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof value === 'object' && value !== null) stack.push(value);
    }
  }
  return true;
}

/** A source map computed on first use. */
export class LazySourceMap implements ReadonlyMap<string, SourcePosition> {
  #map: ReadonlyMap<string, SourcePosition> | undefined;

  constructor(private readonly build: () => ReadonlyMap<string, SourcePosition>) {}

  get #inner(): ReadonlyMap<string, SourcePosition> {
    this.#map ??= this.build();
    return this.#map;
  }
  get size(): number {
    return this.#inner.size;
  }
  get(key: string): SourcePosition | undefined {
    return this.#inner.get(key);
  }
  has(key: string): boolean {
    return this.#inner.has(key);
  }
  forEach(
    fn: (value: SourcePosition, key: string, map: ReadonlyMap<string, SourcePosition>) => void,
    thisArg?: unknown,
  ): void {
    this.#inner.forEach((v, k) => fn.call(thisArg, v, k, this));
  }
  entries(): MapIterator<[string, SourcePosition]> {
    return this.#inner.entries() as MapIterator<[string, SourcePosition]>;
  }
  keys(): MapIterator<string> {
    return this.#inner.keys() as MapIterator<string>;
  }
  values(): MapIterator<SourcePosition> {
    return this.#inner.values() as MapIterator<SourcePosition>;
  }
  [Symbol.iterator](): MapIterator<[string, SourcePosition]> {
    return this.entries();
  }
}
