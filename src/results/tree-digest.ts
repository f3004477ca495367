/**
 * The content digest of a host path (a file or a folder), as tree-format.ts defines content, with the
 * listing of its entries so that a later comparison can say which files changed.
 *
 * The walk lstats every entry (symlinks are never followed; the root itself is followed, as a bind
 * mount follows it) and takes a file's content digest from the stat index when its stat is unchanged
 * (see stat-index.ts); other files are read: small ones at once, big ones streaming, a few at a time. Excluded paths (see
 * ignore-rules.ts) are left out and excluded folders not walked.
 *
 * The walk makes its system calls synchronously, which is several times faster than Node's thread pool
 * for many small lstats, and gives the event loop a turn every {@link YIELD_EVERY} entries.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  statSync,
  type BigIntStats,
} from 'node:fs';
import { open } from 'node:fs/promises';
import PQueue from 'p-queue';
import { cancelledError } from '../errors.js';
import { SourceReadError } from './errors.js';
import { NO_EXCLUDES, type ExcludeRules } from './ignore-rules.js';
import { StatIndex, type StatIndexCounts } from './stat-index.js';
import { TreeHasher, type EntryType, type TreeEntry, type TreeListing } from './tree-format.js';

/** Entries walked between two turns of the event loop. */
export const YIELD_EVERY = 2048;
/** Bytes read synchronously between two turns of the event loop. */
const YIELD_EVERY_BYTES = 16 * 1024 * 1024;
/**
 * Files up to this size are read synchronously during the walk: for small files that is several times
 * faster than Node's thread pool (a page-cached file costs a few microseconds). Bigger ones are read
 * asynchronously, {@link DEFAULT_READ_CONCURRENCY} at once.
 */
const SYNC_READ_MAX = 128n * 1024n;
/** Big files read at once. */
export const DEFAULT_READ_CONCURRENCY = 4;
/** Files up to this size are read in one read; bigger ones in chunks of this size. */
const CHUNK_BYTES = 1024 * 1024;

export interface TreeDigestOptions {
  /** The path to digest, absolute. */
  readonly root: string;
  /** What to leave out. Default: nothing. */
  readonly rules?: ExcludeRules;
  /** The stat index file to use and update; without one, every file is read and nothing is kept. */
  readonly indexPath?: string;
  /** Files read at once. Default {@link DEFAULT_READ_CONCURRENCY}. */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  /** The scan's start for the racy-clean rule, ns since the epoch (tests). Default: now. */
  readonly scanStartNs?: bigint;
}

export interface TreeDigestCounts extends StatIndexCounts {
  /** Entries in the listing. */
  entries: number;
  /** Paths left out by the rules (an excluded folder counts once). */
  excluded: number;
  /** Bytes read from files this time. */
  bytesRead: number;
}

export interface TreeDigestResult extends TreeListing {
  /** The root as given. */
  readonly root: string;
  /** Things worth telling the user that did not stop the digest (a discarded stat index). */
  readonly warnings: readonly string[];
  readonly counts: TreeDigestCounts;
  /** Whether the stat index was written. */
  readonly indexSaved: boolean;
}

interface MutableEntry {
  path: string;
  type: EntryType;
  mode: number;
  size: number;
  content?: string;
}

/** Computes the content digest and listing of `options.root`. */
export async function treeDigest(options: TreeDigestOptions): Promise<TreeDigestResult> {
  const { root } = options;
  const warnings: string[] = [];
  const index = await openIndex(options, warnings);
  const walk = new TreeWalk(index, options);
  await walk.run(root);
  const hasher = new TreeHasher();
  // The walk sorted every folder's names: the entries are in tree order.
  for (const entry of walk.entries) hasher.add(entry, true);
  const counts: TreeDigestCounts = { ...walk.counts, ...index.counts, entries: walk.entries.length };
  let indexSaved = false;
  try {
    indexSaved = await index.save();
  } catch (error) {
    warnings.push(
      `the stat index ${index.path} could not be written (${(error as NodeJS.ErrnoException).code ?? String(error)}); ` +
        `the next digest of ${root} reads every file again`,
    );
  }
  return {
    root,
    digest: hasher.digest(),
    entries: walk.entries as TreeEntry[],
    size: hasher.size,
    warnings,
    counts,
    indexSaved,
  };
}

/** The stat index at `options.indexPath` (a discarded one's warning goes to `warnings`), else one in memory. */
async function openIndex(options: TreeDigestOptions, warnings: string[]): Promise<StatIndex> {
  const indexOptions = options.scanStartNs === undefined ? {} : { scanStartNs: options.scanStartNs };
  if (options.indexPath === undefined) return StatIndex.memory(options.root, indexOptions);
  const opened = await StatIndex.open(options.indexPath, options.root, indexOptions);
  if (opened.warning) warnings.push(opened.warning);
  return opened.index;
}

/** One walk of a tree: its entries in tree order, each file's content taken from the index or read. */
class TreeWalk {
  readonly entries: MutableEntry[] = [];
  readonly counts = { excluded: 0, bytesRead: 0 };
  readonly #index: StatIndex;
  readonly #rules: ExcludeRules;
  readonly #signal: AbortSignal | undefined;
  /** Big files' reads, a few at a time. */
  readonly #reading: PQueue;
  readonly #reads: Promise<void>[] = [];
  #failure: unknown;
  readonly #smallBuffer = Buffer.allocUnsafe(Number(SYNC_READ_MAX) + 1);
  /** Bytes read synchronously since the last turn of the event loop. */
  #syncBytes = 0;

  constructor(index: StatIndex, options: TreeDigestOptions) {
    this.#index = index;
    this.#rules = options.rules ?? NO_EXCLUDES;
    this.#signal = options.signal;
    this.#reading = new PQueue({ concurrency: options.concurrency ?? DEFAULT_READ_CONCURRENCY });
  }

  /** Walks `root` (followed if it is a link) and waits for every file read. */
  async run(root: string): Promise<void> {
    const rootStat = statOrThrow(root, true);
    if (!rootStat.isDirectory()) {
      const entry = entryOf('', rootStat, root);
      this.entries.push(entry);
      if (entry.type === 'file') this.#visitFile(entry, root, rootStat);
    } else {
      await this.#walkFolders(root);
    }
    await Promise.all(this.#reads);
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#signal?.aborted) throw cancelledError(this.#signal);
  }

  /** Depth first, each folder's names sorted: the entries come out in tree order. */
  async #walkFolders(root: string): Promise<void> {
    const stack: Array<{
      readonly dir: string;
      readonly rel: string;
      readonly names: string[];
      next: number;
    }> = [{ dir: root, rel: '', names: listDir(root, false)!, next: 0 }];
    let sinceYield = 0;
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (frame.next >= frame.names.length) {
        stack.pop();
        continue;
      }
      const name = frame.names[frame.next++]!;
      const rel = frame.rel === '' ? name : `${frame.rel}/${name}`;
      const absolute = `${frame.dir}/${name}`;
      const stat = lstatOrThrow(absolute);
      if (stat === undefined) continue; // removed while walked
      const isDir = stat.isDirectory();
      if (!this.#rules.empty && this.#rules.excludes(rel, isDir)) {
        this.counts.excluded++;
        continue;
      }
      const entry = entryOf(rel, stat, absolute);
      this.entries.push(entry);
      if (entry.type === 'file') this.#visitFile(entry, absolute, stat);
      else if (isDir) {
        const names = listDir(absolute, true);
        if (names !== undefined) stack.push({ dir: absolute, rel, names, next: 0 });
      }
      if (++sinceYield >= YIELD_EVERY || this.#syncBytes >= YIELD_EVERY_BYTES) {
        sinceYield = 0;
        this.#syncBytes = 0;
        await new Promise((resolve) => setImmediate(resolve));
        if (this.#signal?.aborted) throw cancelledError(this.#signal);
        if (this.#failure !== undefined) return;
      }
    }
  }

  /** A file's content: from the index when its stat is unchanged, else read (a big one in the background). */
  #visitFile(entry: MutableEntry, absolute: string, stat: BigIntStats): void {
    const known = this.#index.lookup(entry.path, stat);
    if (known !== undefined) {
      entry.content = known;
      return;
    }
    const take = ({ digest, stable, bytes }: FileHash) => {
      entry.content = digest;
      this.counts.bytesRead += bytes;
      if (stable) this.#index.record(entry.path, stat, digest);
    };
    if (stat.size <= SYNC_READ_MAX) {
      const hashed = hashSmallFile(absolute, stat, this.#smallBuffer);
      this.#syncBytes += hashed.bytes;
      take(hashed);
      return;
    }
    this.#reads.push(
      this.#reading
        .add(() => hashFile(absolute, stat), { throwOnTimeout: true })
        .then(take, (error: unknown) => {
          this.#failure ??= error;
        }),
    );
  }
}

function entryOf(path: string, stat: BigIntStats, absolute: string): MutableEntry {
  const mode = Number(stat.mode & 0o7777n);
  if (stat.isFile()) return { path, type: 'file', mode, size: Number(stat.size) };
  if (stat.isDirectory()) return { path, type: 'dir', mode, size: 0 };
  if (stat.isSymbolicLink()) {
    let target: string;
    try {
      target = readlinkSync(absolute);
    } catch (error) {
      throw new SourceReadError(absolute, 'read the symlink', error);
    }
    return { path, type: 'symlink', mode: 0, size: 0, content: target };
  }
  if (stat.isFIFO()) return { path, type: 'fifo', mode, size: 0 };
  if (stat.isSocket()) return { path, type: 'socket', mode, size: 0 };
  const type: EntryType = stat.isCharacterDevice() ? 'char' : 'block';
  return { path, type, mode, size: 0, content: deviceNumbers(stat.rdev) };
}

/** `major:minor` of a device number as Linux encodes it. */
export function deviceNumbers(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

function statOrThrow(path: string, follow: boolean): BigIntStats {
  try {
    return follow ? statSync(path, { bigint: true }) : lstatSync(path, { bigint: true });
  } catch (error) {
    throw new SourceReadError(path, 'stat', error);
  }
}

function lstatOrThrow(path: string): BigIntStats | undefined {
  try {
    return lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new SourceReadError(path, 'stat', error);
  }
}

/** A folder's names in tree order; undefined when it went away meanwhile (only below the root). */
function listDir(dir: string, mayVanish: boolean): string[] | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (mayVanish && (code === 'ENOENT' || code === 'ENOTDIR')) return undefined;
    throw new SourceReadError(dir, 'list the folder', error);
  }
  // A name has no '/': the default order (UTF-16 code units) is tree order, and faster than a comparator.
  return names.sort();
}

/**
 * A file's digest: `stable` is false when the file did not have the size its stat said (it changed while
 * it was read: its digest is not recorded).
 */
interface FileHash {
  readonly digest: string;
  readonly stable: boolean;
  readonly bytes: number;
}

/** The read loop of {@link hashSmallFile} and {@link hashFile}: hashes each read and sees the file's end. */
class FileHasher {
  readonly #hash = createHash('sha256');
  #total = 0;

  constructor(
    readonly buffer: Buffer,
    readonly expected: number,
  ) {}

  /** Takes one read of `bytesRead` bytes into the buffer; false once the file's end is reached. */
  take(bytesRead: number): boolean {
    if (bytesRead === 0) return false;
    this.#hash.update(this.buffer.subarray(0, bytesRead));
    this.#total += bytesRead;
    return bytesRead === this.buffer.length || this.#total < this.expected;
  }

  result(): FileHash {
    return { digest: this.#hash.digest('hex'), stable: this.#total === this.expected, bytes: this.#total };
  }
}

/** {@link hashFile} for a small file, synchronously, into `buffer` (at least one byte longer than the file). */
function hashSmallFile(path: string, before: BigIntStats, buffer: Buffer): FileHash {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new SourceReadError(path, 'open', error);
  }
  try {
    const hasher = new FileHasher(buffer, Number(before.size));
    while (hasher.take(readSync(fd, buffer, 0, buffer.length, null)));
    return hasher.result();
  } catch (error) {
    throw new SourceReadError(path, 'read', error);
  } finally {
    closeSync(fd);
  }
}

/** Reads a file, in the thread pool, and returns the sha256 hex of its bytes. */
async function hashFile(path: string, before: BigIntStats): Promise<FileHash> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new SourceReadError(path, 'open', error);
  }
  try {
    const expected = Number(before.size);
    // One read for a small file (one byte more than its size, to see its end), chunks for a big one.
    const hasher = new FileHasher(Buffer.allocUnsafe(Math.min(expected + 1, CHUNK_BYTES)), expected);
    while (hasher.take((await handle.read(hasher.buffer, 0, hasher.buffer.length, null)).bytesRead));
    return hasher.result();
  } catch (error) {
    throw new SourceReadError(path, 'read', error);
  } finally {
    await handle.close();
  }
}
