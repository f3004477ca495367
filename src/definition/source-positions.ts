/**
 * Where each value of a step file stands in its text: a tree of offsets (of each value and, for entries
 * of maps, of its key) that mirrors the document, looked up by JSON pointer; and the conversion of
 * offsets to 1-based lines and columns.
 */
import type { Alias, Document, Node, Pair } from 'yaml';
import { yamlPackage } from './yaml-package.js';
import type { SourcePosition } from '../errors.js';
import { escapeToken, splitPointer } from './pointer.js';

/**
 * The offsets of one value: where the value starts, where the key that holds it starts (entries of
 * maps), and those of its entries (a map) or items (a list).
 */
export class OffsetNode {
  /** Offset of the key that holds this value, or -1 (items of lists, the document). */
  key = -1;
  /** A map's entries by key, or a list's items; undefined for scalars. */
  children: Map<string, OffsetNode> | OffsetNode[] | undefined = undefined;

  constructor(readonly value: number) {}
}

/** The offsets of a whole document, looked up by JSON pointer. */
export class SourceOffsets {
  constructor(readonly root: OffsetNode | undefined) {}

  /** The node at `pointer`, or undefined. */
  node(pointer: string): OffsetNode | undefined {
    return this.descend(pointer, false);
  }

  /** The node at `pointer`, or its nearest ancestor that exists. */
  nearest(pointer: string): OffsetNode | undefined {
    return this.descend(pointer, true);
  }

  private descend(pointer: string, nearest: boolean): OffsetNode | undefined {
    let node = this.root;
    for (const token of splitPointer(pointer)) {
      const children: Map<string, OffsetNode> | OffsetNode[] | undefined = node?.children;
      const child = children instanceof Map ? children.get(token) : children?.[Number(token)];
      if (child === undefined) return nearest ? node : undefined;
      node = child;
    }
    return node;
  }

  /** Every pointer with its node, parents first, in document order. */
  *entries(): Generator<[string, OffsetNode]> {
    if (this.root === undefined) return;
    const stack: [string, OffsetNode][] = [['', this.root]];
    for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
      yield top;
      const [pointer, node] = top;
      const children = node.children;
      const entries: [string, OffsetNode][] =
        children instanceof Map
          ? [...children].map(([key, child]) => [`${pointer}/${escapeToken(key)}`, child])
          : (children ?? []).map((child, index) => [`${pointer}/${index}`, child]);
      for (let i = entries.length - 1; i >= 0; i--) stack.push(entries[i] as [string, OffsetNode]);
    }
  }
}

export interface DuplicateKey {
  /** Pointer of the map that holds the key twice. */
  readonly mapPointer: string;
  readonly key: string;
  readonly firstOffset: number;
  readonly offset: number;
}

/** What a walk of a `yaml` document finds. */
export interface CollectedOffsets {
  readonly offsets: SourceOffsets;
  readonly duplicates: DuplicateKey[];
  /** Aliases whose anchor is not defined before them. */
  readonly unresolvedAliases: { pointer: string; name: string; offset: number }[];
}

const MAX_ALIAS_DEPTH = 16;

/**
 * Walks a `yaml` document's nodes and records the offsets of every value and key. `targets` gives the
 * node each alias refers to (measureAliases finds them all in one pass; without it, each alias is
 * resolved by the `yaml` package, which searches the whole document for it).
 */
export function collectOffsets(document: Document, targets?: ReadonlyMap<Alias, Node>): CollectedOffsets {
  const found: CollectedOffsets = {
    offsets: new SourceOffsets(undefined),
    duplicates: [],
    unresolvedAliases: [],
  };
  if (document.contents === null) return found;
  const resolve = (alias: Alias): Node | undefined =>
    targets === undefined ? alias.resolve(document) : targets.get(alias);
  const root = walk(resolve, document.contents as Node, '', found, 0, undefined);
  return { ...found, offsets: new SourceOffsets(root) };
}

/**
 * Records `node` at `pointer` and returns its offsets. With `into`, the node is the source of a merge
 * key (`<<: *base`): its entries are added to `into` where `into` does not have them.
 */
function walk(
  resolve: (alias: Alias) => Node | undefined,
  node: Node,
  pointer: string,
  found: CollectedOffsets,
  aliasDepth: number,
  into: OffsetNode | undefined,
): OffsetNode {
  const { isAlias, isMap, isScalar, isSeq } = yamlPackage();
  const here = into ?? new OffsetNode(node.range?.[0] ?? 0);
  if (isAlias(node)) {
    const target = resolve(node);
    if (target === undefined) {
      found.unresolvedAliases.push({ pointer, name: node.source, offset: node.range?.[0] ?? 0 });
    } else if (aliasDepth < MAX_ALIAS_DEPTH) {
      const resolved = walk(resolve, target, pointer, found, aliasDepth + 1, into);
      if (into === undefined) here.children = resolved.children;
    }
    return here;
  }
  if (isMap(node)) {
    const children = here.children instanceof Map ? here.children : new Map<string, OffsetNode>();
    here.children = children;
    const seen = new Map<string, number>();
    for (const pair of node.items as Pair<unknown, unknown>[]) {
      const key = pair.key;
      if (!isScalar(key)) continue;
      if (typeof key.value === 'symbol' && key.source === '<<') {
        if (pair.value) walk(resolve, pair.value as Node, pointer, found, aliasDepth + 1, here);
        continue;
      }
      const keyText = String(key.value);
      const keyOffset = key.range?.[0] ?? 0;
      const first = seen.get(keyText);
      if (first !== undefined) {
        found.duplicates.push({ mapPointer: pointer, key: keyText, firstOffset: first, offset: keyOffset });
        continue;
      }
      seen.set(keyText, keyOffset);
      if (into !== undefined && children.has(keyText)) continue;
      const child = `${pointer}/${escapeToken(keyText)}`;
      const entry = pair.value
        ? walk(resolve, pair.value as Node, child, found, aliasDepth, undefined)
        : new OffsetNode(keyOffset);
      entry.key = keyOffset;
      children.set(keyText, entry);
    }
    return here;
  }
  if (isSeq(node) && into === undefined) {
    here.children = node.items.map((item, index) =>
      walk(resolve, item as Node, `${pointer}/${index}`, found, aliasDepth, undefined),
    );
  }
  return here;
}

/**
 * Line starts of a text, to turn offsets into 1-based lines and columns. Not yaml's LineCounter: that
 * one is filled by the yaml parser, which a plain step file never loads (js-yaml reads it, and the map
 * of positions is built only when asked for), and it answers line 0 before the first newline.
 */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  position(file: string, offset: number): SourcePosition {
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.starts[middle] as number) <= offset) low = middle;
      else high = middle - 1;
    }
    return { file, line: low + 1, column: offset - (this.starts[low] as number) + 1 };
  }
}

/** Converts offsets to 1-based positions, with the file name positions carry. */
export class PositionFinder {
  constructor(
    private readonly lines: LineIndex,
    private readonly file: string,
    private readonly offsets: SourceOffsets,
  ) {}

  at(offset: number): SourcePosition {
    return this.lines.position(this.file, offset);
  }

  /** The value's position, or the nearest ancestor's. */
  value(pointer: string): SourcePosition | undefined {
    const node = this.offsets.nearest(pointer);
    return node === undefined ? undefined : this.at(node.value);
  }

  /** The position of the key that holds the value, else of the value, else of the nearest ancestor. */
  key(pointer: string): SourcePosition | undefined {
    const node = this.offsets.nearest(pointer);
    if (node === undefined) return undefined;
    const exact = this.offsets.node(pointer) === node;
    return this.at(exact && node.key >= 0 ? node.key : node.value);
  }

  /** The definition's source map (see OffsetSourceMap). */
  sourceMap(): ReadonlyMap<string, SourcePosition> {
    return new OffsetSourceMap(this.lines, this.file, this.offsets);
  }
}

/** A map or list held under a key is placed at the key; any other value at the value itself. */
function placeOf(node: OffsetNode): number {
  return node.children !== undefined && node.key >= 0 ? node.key : node.value;
}

/**
 * Every pointer of the file with its position: a map or list held under a key is placed at the key
 * (where a job or a list is named), every other value at the value itself. Positions are computed when
 * asked for, so that a large file does not pay for all of them.
 */
class OffsetSourceMap implements ReadonlyMap<string, SourcePosition> {
  private count: number | undefined;

  constructor(
    private readonly lines: LineIndex,
    private readonly file: string,
    private readonly offsets: SourceOffsets,
  ) {}

  get size(): number {
    if (this.count === undefined) {
      let count = 0;
      for (const _ of this.offsets.entries()) count++;
      this.count = count;
    }
    return this.count;
  }

  get(pointer: string): SourcePosition | undefined {
    const node = this.offsets.node(pointer);
    return node === undefined ? undefined : this.lines.position(this.file, placeOf(node));
  }

  has(pointer: string): boolean {
    return this.offsets.node(pointer) !== undefined;
  }

  *entries(): MapIterator<[string, SourcePosition]> {
    for (const [pointer, node] of this.offsets.entries()) {
      yield [pointer, this.lines.position(this.file, placeOf(node))];
    }
  }

  *keys(): MapIterator<string> {
    for (const [pointer] of this.offsets.entries()) yield pointer;
  }

  *values(): MapIterator<SourcePosition> {
    for (const [, position] of this.entries()) yield position;
  }

  forEach(
    callback: (value: SourcePosition, key: string, map: ReadonlyMap<string, SourcePosition>) => void,
  ): void {
    for (const [pointer, position] of this.entries()) callback(position, pointer, this);
  }

  [Symbol.iterator](): MapIterator<[string, SourcePosition]> {
    return this.entries();
  }
}
