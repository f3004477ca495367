/**
 * What the content of a file tree is, for the job cache, and how it is digested: the one definition that
 * the digest of a host path (tree-digest.ts) and the digest of a tar stream (tar-digest.ts) share, so
 * that the same content has the same digest wherever it is read from.
 *
 * Content is the list of entries under the root, each with its path relative to the root ('/'-separated),
 * its type, its permission bits (`mode & 0o7777`: read, write, exec, setuid, setgid, sticky) and, for a
 * file, the sha256 of its bytes, for a symlink its target (never followed), for a device its numbers.
 * Not content: modification times, owners, the order a folder lists or a tar stream carries its entries,
 * and the root folder itself (its name and mode belong to where it is mounted, not to what it holds).
 * A root that is a file is one entry whose path is the empty string.
 *
 * The digest is `sha256:` of the format line `kiln-tree-v1` and one line per entry in tree order
 * (parents before children, siblings by their names' UTF-16 code units):
 * `<path as a JSON string> <descriptor>`, the descriptor being
 * `file 0644 <size> <sha256 hex>`, `dir 0755`, `symlink <target as a JSON string>`, `fifo 0644`,
 * `socket 0755`, or `char 0666 1:3` / `block 0660 8:0` (major:minor).
 */
import { createHash, type Hash } from 'node:crypto';

/** The version of the tree format; part of every tree digest. */
export const TREE_FORMAT = 1;
const HEADER = `kiln-tree-v${TREE_FORMAT}\n`;

export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

export interface TreeEntry {
  /** Relative to the root, '/'-separated, no leading './'; '' for a root that is a file. */
  readonly path: string;
  readonly type: EntryType;
  /** `mode & 0o7777`; 0 for a symlink (whose own mode means nothing on Linux). */
  readonly mode: number;
  /** A file's size in bytes; 0 for the other types. */
  readonly size: number;
  /**
   * A file: the sha256 hex of its bytes. A symlink: its target. A char or block device: `major:minor`.
   * Absent for folders, fifos and sockets.
   */
  readonly content?: string;
}

/** The digest of a tree and its entries in tree order. */
export interface TreeListing {
  /** `sha256:<hex>` of the tree (see the module's comment). */
  readonly digest: string;
  readonly entries: readonly TreeEntry[];
  /** The sum of the files' sizes, in bytes. */
  readonly size: number;
}

/** A mode as 4 octal digits, e.g. `0755`. */
export function octalMode(mode: number): string {
  return OCTAL[mode & 0o7777]!;
}

const OCTAL: readonly string[] = Array.from({ length: 0o10000 }, (_, mode) =>
  mode.toString(8).padStart(4, '0'),
);

/**
 * What an entry is, apart from its path: the text that the tree digest covers for it, and what a later
 * comparison tells apart (`file 0644 12 <sha256 hex>`). A file's size is implied by its bytes; it is
 * written so that a stored listing says it.
 */
export function entryDescriptor(entry: Pick<TreeEntry, 'type' | 'mode' | 'size' | 'content'>): string {
  switch (entry.type) {
    case 'file':
      return `file ${octalMode(entry.mode)} ${entry.size} ${entry.content ?? ''}`;
    case 'symlink':
      return `symlink ${quote(entry.content ?? '')}`;
    case 'char':
    case 'block':
      return `${entry.type} ${octalMode(entry.mode)} ${entry.content ?? '0:0'}`;
    default:
      return `${entry.type} ${octalMode(entry.mode)}`;
  }
}

/** The line of one entry in the digested text (and in a stored listing), without its newline. */
export function entryLine(entry: TreeEntry): string {
  return `${quote(entry.path)} ${entryDescriptor(entry)}`;
}

/** Characters that JSON.stringify escapes in a string (controls, quote, backslash, lone surrogates). */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/** JSON.stringify of a string, without its cost for the usual path. */
function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * Orders paths in tree order: component by component, each by UTF-16 code units, so that a folder's
 * children come right after it (`a`, `a/x`, `a-b`), as a walk that sorts each folder's names yields them.
 */
export function compareTreePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 47) return -1; // '/' sorts before every other character
    if (y === 47) return 1;
    return x - y;
  }
  return a.length - b.length;
}

/** Digests entries that come in tree order, one at a time, without holding them. */
export class TreeHasher {
  private readonly hash: Hash = createHash('sha256').update(HEADER);
  private last: string | undefined;
  private bytes = 0;
  /** Lines not yet given to the hash (hashing them in batches is much cheaper). */
  private pending = '';

  /**
   * Adds the next entry; throws when it does not come after the previous one in tree order (unless
   * `ordered`: the caller walked the tree in order and vouches for it).
   */
  add(entry: TreeEntry, ordered = false): void {
    if (!ordered && this.last !== undefined && compareTreePaths(this.last, entry.path) >= 0) {
      throw new Error(
        `tree entries out of order: ${JSON.stringify(entry.path)} after ${JSON.stringify(this.last)}`,
      );
    }
    this.last = entry.path;
    if (entry.type === 'file') this.bytes += entry.size;
    this.pending += `${entryLine(entry)}\n`;
    if (this.pending.length > 65536) {
      this.hash.update(this.pending);
      this.pending = '';
    }
  }

  /** The sum of the files' sizes so far. */
  get size(): number {
    return this.bytes;
  }

  digest(): string {
    this.hash.update(this.pending);
    this.pending = '';
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** The listing of entries given in any order: sorts them into tree order and digests them. */
export function listingOf(entries: readonly TreeEntry[]): TreeListing {
  const sorted = [...entries].sort((a, b) => compareTreePaths(a.path, b.path));
  const hasher = new TreeHasher();
  for (const entry of sorted) hasher.add(entry);
  return { digest: hasher.digest(), entries: sorted, size: hasher.size };
}

/** The listing as text: one entry line per entry, in tree order (what a stored listing holds). */
export function encodeListing(listing: TreeListing): string {
  let text = '';
  for (const entry of listing.entries) text += `${entryLine(entry)}\n`;
  return text;
}

/**
 * Reads a listing back from {@link encodeListing}'s text and checks it against the digest it was stored
 * under. Returns undefined when the text is damaged or is not that tree's.
 */
export function decodeListing(text: string, digest: string): TreeListing | undefined {
  const hasher = new TreeHasher();
  const entries: TreeEntry[] = [];
  const lines = text.split('\n');
  if (lines.pop() !== '') return undefined;
  try {
    for (const line of lines) {
      const entry = parseEntryLine(line);
      if (entry === undefined) return undefined;
      hasher.add(entry);
      entries.push(entry);
    }
  } catch {
    return undefined;
  }
  if (hasher.digest() !== digest) return undefined;
  return { digest, entries, size: hasher.size };
}

const TYPES = new Set<EntryType>(['file', 'dir', 'symlink', 'fifo', 'socket', 'char', 'block']);

function parseEntryLine(line: string): TreeEntry | undefined {
  // The path is a JSON string: find where it ends (a quote not escaped).
  if (!line.startsWith('"')) return undefined;
  let end = 1;
  while (end < line.length) {
    const c = line[end];
    if (c === '\\') end += 2;
    else if (c === '"') break;
    else end += 1;
  }
  if (end >= line.length) return undefined;
  const path = JSON.parse(line.slice(0, end + 1)) as unknown;
  if (typeof path !== 'string' || line[end + 1] !== ' ') return undefined;
  const rest = line.slice(end + 2);
  const space = rest.indexOf(' ');
  const type = (space < 0 ? rest : rest.slice(0, space)) as EntryType;
  if (!TYPES.has(type)) return undefined;
  const args = space < 0 ? '' : rest.slice(space + 1);
  if (type === 'symlink') {
    const target = JSON.parse(args) as unknown;
    return typeof target === 'string' ? { path, type, mode: 0, size: 0, content: target } : undefined;
  }
  const fields = args.split(' ');
  const modeText = fields[0];
  if (modeText === undefined || !/^[0-7]{4}$/.test(modeText)) return undefined;
  const mode = parseInt(modeText, 8);
  if (type === 'file') {
    const [, sizeText, hex, extra] = fields;
    if (sizeText === undefined || !/^\d+$/.test(sizeText) || hex === undefined || extra !== undefined)
      return undefined;
    if (!/^[0-9a-f]{64}$/.test(hex)) return undefined;
    return { path, type, mode, size: Number(sizeText), content: hex };
  }
  const [, content, extra] = fields;
  if (extra !== undefined) return undefined;
  if (type === 'char' || type === 'block') {
    if (content === undefined || !/^\d+:\d+$/.test(content)) return undefined;
    return { path, type, mode, size: 0, content };
  }
  return content === undefined ? { path, type, mode, size: 0 } : undefined;
}
