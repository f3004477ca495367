/**
 * One Aho–Corasick automaton over bytes for every pattern a masker hides, and a streaming scanner that
 * finds the matches leftmost-longest: scanning left to right, the match that starts first wins, and of
 * those starting there the longest; the scan goes on after it. The work per byte does not grow with the
 * number of patterns (a secret of 3000 lines is 3000 patterns), only with how often the scan has to look
 * again at bytes after a match that could still have been longer (at most the longest pattern's length
 * per match).
 */

/**
 * Nodes this shallow, or with at least DENSE_CHILDREN children, get a full table of 256 transitions
 * (where the scan spends its time), shallowest first, up to MAX_TABLES tables (4 MiB); the root always.
 */
const DENSE_DEPTH = 2;
const DENSE_CHILDREN = 4;
const MAX_TABLES = 4096;
const NONE = -1;

// A node is a record of FIELDS int32 in one array, so that a step of the scan touches one cache line.
const FIELDS = 8;
/** Offset of the node's 256-entry table in `dense`, or NONE. */
const DENSE_AT = 0;
const FIRST_CHILD = 1;
const NEXT_SIBLING = 2;
/** The byte on the edge from the parent. */
const LABEL = 3;
/** The node of the longest proper suffix of the node's prefix that is a prefix of some pattern. */
const FAIL = 4;
/** The length of the longest pattern that ends at the node (its own or a suffix's), 0 if none. */
const OUT = 5;
/** The length of the node's prefix. */
const DEPTH = 6;
/** The label of the first child (most nodes have one child at most): read without leaving the node. */
const FIRST_LABEL = 7;

/** The trie of the patterns, its nodes numbered as they are made (node 0 the root). */
interface Trie {
  readonly firstChild: Int32Array;
  readonly nextSibling: Int32Array;
  readonly label: Uint8Array;
  /** The length of the pattern that ends at the node, 0 if none. */
  readonly out: Int32Array;
  readonly childCount: Int32Array;
  readonly count: number;
  readonly longest: number;
}

function buildTrie(patterns: readonly Buffer[]): Trie {
  const total = patterns.reduce((sum, p) => sum + p.length, 0);
  const firstChild = new Int32Array(total + 1).fill(NONE);
  const nextSibling = new Int32Array(total + 1).fill(NONE);
  const label = new Uint8Array(total + 1);
  const out = new Int32Array(total + 1);
  const childCount = new Int32Array(total + 1);
  let count = 1;
  let longest = 0;
  for (const pattern of patterns) {
    if (pattern.length === 0) continue;
    longest = Math.max(longest, pattern.length);
    let node = 0;
    for (let i = 0; i < pattern.length; i++) {
      const byte = pattern[i]!;
      let child = firstChild[node]!;
      while (child !== NONE && label[child] !== byte) child = nextSibling[child]!;
      if (child === NONE) {
        child = count++;
        label[child] = byte;
        nextSibling[child] = firstChild[node]!;
        firstChild[node] = child;
        childCount[node]!++;
      }
      node = child;
    }
    out[node] = pattern.length;
  }
  return { firstChild, nextSibling, label, out, childCount, count, longest };
}

/**
 * The trie's nodes as records, numbered again breadth first, so that the shallow nodes, where a scan
 * spends its time, lie together, and so that a node's parent and failure node come before it; and which
 * of them get a full table (`tables` in all).
 */
function layOut(trie: Trie): { nodes: Int32Array; tables: number } {
  const { firstChild, nextSibling, label, out, childCount, count } = trie;
  const order = new Int32Array(count);
  const renumbered = new Int32Array(count);
  const depth = new Int32Array(count);
  let tail = 1;
  for (let head = 0; head < tail; head++) {
    const parent = order[head]!;
    for (let child = firstChild[parent]!; child !== NONE; child = nextSibling[child]!) {
      renumbered[child] = tail;
      depth[child] = depth[parent]! + 1;
      order[tail++] = child;
    }
  }
  const nodes = new Int32Array(count * FIELDS);
  let tables = 0;
  for (let id = 0; id < count; id++) {
    const old = order[id]!;
    const n = id * FIELDS;
    const first = firstChild[old]!;
    const next = nextSibling[old]!;
    nodes[n + FIRST_CHILD] = first === NONE ? NONE : renumbered[first]!;
    nodes[n + FIRST_LABEL] = first === NONE ? NONE : label[first]!;
    nodes[n + NEXT_SIBLING] = next === NONE ? NONE : renumbered[next]!;
    nodes[n + LABEL] = label[old]!;
    nodes[n + OUT] = out[old]!;
    const dense =
      id === 0 || (tables < MAX_TABLES && (depth[old]! <= DENSE_DEPTH || childCount[old]! >= DENSE_CHILDREN));
    nodes[n + DENSE_AT] = dense ? 256 * tables++ : NONE;
  }
  return { nodes, tables };
}

export class MaskAutomaton {
  /** The nodes, FIELDS int32 each; node 0 is the root. */
  readonly nodes: Int32Array;
  /** The full transition tables (256 entries each) of the root and of nodes with many children. */
  readonly dense: Int32Array;
  /** The longest pattern's length. */
  readonly longest: number;

  constructor(patterns: readonly Buffer[]) {
    const trie = buildTrie(patterns);
    this.longest = trie.longest;
    const { nodes, tables } = layOut(trie);
    this.nodes = nodes;
    this.dense = new Int32Array(256 * tables).fill(NONE);
    this.#fillChildTables(trie.count);
    this.#linkFailures(trie.count);
    this.#completeTables(trie.count);
  }

  /** Full tables for the root and for nodes with many children: their children first. */
  #fillChildTables(count: number): void {
    const { nodes } = this;
    for (let id = 0; id < count; id++) {
      const at = nodes[id * FIELDS + DENSE_AT]!;
      if (at === NONE) continue;
      for (let child = nodes[id * FIELDS + FIRST_CHILD]!; child !== NONE;) {
        this.dense[at + nodes[child * FIELDS + LABEL]!] = child;
        child = nodes[child * FIELDS + NEXT_SIBLING]!;
      }
    }
  }

  /** Depths, failure links and outputs, in breadth-first order. */
  #linkFailures(count: number): void {
    const { nodes } = this;
    for (let id = 0; id < count; id++) {
      const n = id * FIELDS;
      for (let child = nodes[n + FIRST_CHILD]!; child !== NONE;) {
        const c = child * FIELDS;
        nodes[c + DEPTH] = nodes[n + DEPTH]! + 1;
        let fail = 0;
        if (id !== 0) {
          const byte = nodes[c + LABEL]!;
          let f = nodes[n + FAIL]!;
          let target = this.child(f, byte);
          while (target === NONE && f !== 0) {
            f = nodes[f * FIELDS + FAIL]!;
            target = this.child(f, byte);
          }
          if (target !== NONE) fail = target;
        }
        nodes[c + FAIL] = fail;
        if (nodes[c + OUT] === 0) nodes[c + OUT] = nodes[fail * FIELDS + OUT]!;
        child = nodes[c + NEXT_SIBLING]!;
      }
    }
  }

  /**
   * The full tables get every transition, failures included, so that the scan takes one step there.
   * A node's failure node comes before it, its table (if any) already complete.
   */
  #completeTables(count: number): void {
    const { nodes } = this;
    for (let id = 0; id < count; id++) {
      const at = nodes[id * FIELDS + DENSE_AT]!;
      if (at === NONE) continue;
      for (let byte = 0; byte < 256; byte++) {
        if (this.dense[at + byte] !== NONE) continue;
        this.dense[at + byte] = id === 0 ? 0 : this.next(nodes[id * FIELDS + FAIL]!, byte);
      }
    }
  }

  /** Whether there is nothing to find. */
  get empty(): boolean {
    return this.longest === 0;
  }

  /** The node after reading `byte` in `node`. */
  next(node: number, byte: number): number {
    for (;;) {
      const child = this.child(node, byte);
      if (child !== NONE) return child;
      if (node === 0) return 0;
      node = this.nodes[node * FIELDS + FAIL]!;
    }
  }

  /** The child of `node` along `byte`, or -1 (before the full tables are complete; after, the transition). */
  child(node: number, byte: number): number {
    const nodes = this.nodes;
    const at = nodes[node * FIELDS + DENSE_AT]!;
    if (at !== NONE) return this.dense[at + byte]!;
    let child = nodes[node * FIELDS + FIRST_CHILD]!;
    while (child !== NONE && nodes[child * FIELDS + LABEL] !== byte) {
      child = nodes[child * FIELDS + NEXT_SIBLING]!;
    }
    return child;
  }

  /** The length of node's prefix. */
  depth(node: number): number {
    return this.nodes[node * FIELDS + DEPTH]!;
  }
}

/**
 * Finds the leftmost-longest matches in a stream of bytes, fed in chunks. Offsets count the bytes fed
 * since the start. Besides its state it keeps only the bytes after a match that may still grow.
 */
export class MaskScanner {
  readonly #automaton: MaskAutomaton;
  #state = 0;
  /** The offset of the next byte to read. */
  #position = 0;
  /** The best match found and not yet final (a longer one, or one that starts earlier, may come). */
  #bestStart = NONE;
  #bestEnd = NONE;
  /** The bytes from #bestEnd to #position, read again once the best match is final. */
  #tail: Buffer = Buffer.alloc(0);

  constructor(automaton: MaskAutomaton) {
    this.#automaton = automaton;
  }

  /** How many bytes were fed. */
  get length(): number {
    return this.#position;
  }

  /**
   * Everything before this offset is decided: no match found later starts before it. After `end()`,
   * the end of the stream.
   */
  get frontier(): number {
    const inProgress = this.#position - this.#automaton.depth(this.#state);
    return this.#bestStart !== NONE ? Math.min(this.#bestStart, inProgress) : inProgress;
  }

  /**
   * A scanner in this one's state, for a stream that holds the same bytes since this one's frontier at
   * offsets `shift` more than here.
   */
  fork(shift: number): MaskScanner {
    const fork = new MaskScanner(this.#automaton);
    fork.#state = this.#state;
    fork.#position = this.#position + shift;
    fork.#bestStart = this.#bestStart === NONE ? NONE : this.#bestStart + shift;
    fork.#bestEnd = this.#bestEnd === NONE ? NONE : this.#bestEnd + shift;
    fork.#tail = this.#tail;
    return fork;
  }

  /**
   * Whether, fed the same bytes from now on, this scanner finds what `other` finds: both are in the
   * same state with no match pending (the bytes since the frontiers must be the same, as the caller knows).
   */
  inStep(other: MaskScanner): boolean {
    return this.#bestStart === NONE && other.#bestStart === NONE && this.#state === other.#state;
  }

  /** Reads a chunk; returns the matches that became final, as pairs of offsets [start, end), in order. */
  feed(chunk: Buffer): number[] {
    return this.#scan(chunk, false);
  }

  /** The stream has ended: returns the matches that remained. */
  end(): number[] {
    return this.#scan(Buffer.alloc(0), true);
  }

  #scan(chunk: Buffer, final: boolean): number[] {
    const { nodes, dense } = this.#automaton;
    const matches: number[] = [];
    const carried = this.#tail.length;
    const buffer = carried === 0 ? chunk : Buffer.concat([this.#tail, chunk]);
    const length = buffer.length;
    // The offset of buffer[0]: the tail starts at the best match's end.
    const base = this.#position - carried;
    let i = carried;
    let state = this.#state;
    let bestStart = this.#bestStart;
    let bestEnd = this.#bestEnd;
    for (;;) {
      while (i < length) {
        const byte = buffer[i++]!;
        // The transition: from a full table at once, else the child along `byte` or the same from the
        // failure node (the root's table is full, so this ends).
        for (;;) {
          const s = state * FIELDS;
          const at = nodes[s + DENSE_AT]!;
          if (at !== NONE) {
            state = dense[at + byte]!;
            break;
          }
          let child = nodes[s + FIRST_CHILD]!;
          if (child !== NONE && nodes[s + FIRST_LABEL] !== byte) {
            do child = nodes[child * FIELDS + NEXT_SIBLING]!;
            while (child !== NONE && nodes[child * FIELDS + LABEL] !== byte);
          }
          if (child !== NONE) {
            state = child;
            break;
          }
          state = nodes[s + FAIL]!;
        }
        const s = state * FIELDS;
        const found = nodes[s + OUT]!;
        const offset = base + i;
        if (found !== 0 && (bestStart === NONE || offset - found <= bestStart)) {
          bestStart = offset - found;
          bestEnd = offset;
        }
        // No match still in progress starts at or before the best one: it is final.
        if (bestStart !== NONE && offset - nodes[s + DEPTH]! > bestStart) {
          matches.push(bestStart, bestEnd);
          i = bestEnd - base;
          state = 0;
          bestStart = NONE;
        }
      }
      if (!final || bestStart === NONE) break;
      matches.push(bestStart, bestEnd);
      i = bestEnd - base;
      state = 0;
      bestStart = NONE;
    }
    this.#position = base + length;
    this.#state = final ? 0 : state;
    this.#bestStart = bestStart;
    this.#bestEnd = bestEnd;
    this.#tail = bestStart === NONE ? Buffer.alloc(0) : Buffer.from(buffer.subarray(bestEnd - base));
    return matches;
  }
}
