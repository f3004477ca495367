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
import { CancelledError } from '../errors.js';
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
  const { root, signal } = options;
  const rules = options.rules ?? NO_EXCLUDES;
  const warnings: string[] = [];
  let index: StatIndex;
  const indexOptions = options.scanStartNs === undefined ? {} : { scanStartNs: options.scanStartNs };
  if (options.indexPath !== undefined) {
    const opened = await StatIndex.open(options.indexPath, root, indexOptions);
    index = opened.index;
    if (opened.warning) warnings.push(opened.warning);
  } else {
    index = StatIndex.memory(root, indexOptions);
  }
  const counts: TreeDigestCounts = { entries: 0, excluded: 0, bytesRead: 0, ...index.counts };
  const limiter = new Limiter(options.concurrency ?? DEFAULT_READ_CONCURRENCY);
  const entries: MutableEntry[] = [];
  const reads: Promise<void>[] = [];
  let failure: unknown;
  const smallBuffer = Buffer.allocUnsafe(Number(SYNC_READ_MAX) + 1);
  /** Bytes read synchronously since the last turn of the event loop. */
  let syncBytes = 0;

  const visitFile = (entry: MutableEntry, absolute: string, stat: BigIntStats) => {
    const known = index.lookup(entry.path, stat);
    if (known !== undefined) {
      entry.content = known;
      return;
    }
    if (stat.size <= SYNC_READ_MAX) {
      const { digest, stable, bytes } = hashSmallFile(absolute, stat, smallBuffer);
      entry.content = digest;
      counts.bytesRead += bytes;
      syncBytes += bytes;
      if (stable) index.record(entry.path, stat, digest);
      return;
    }
    reads.push(
      limiter
        .run(() => hashFile(absolute, stat))
        .then(
          ({ digest, stable, bytes }) => {
            entry.content = digest;
            counts.bytesRead += bytes;
            if (stable) index.record(entry.path, stat, digest);
          },
          (error: unknown) => {
            failure ??= error;
          },
        ),
    );
  };

  const rootStat = statOrThrow(root, true);
  if (!rootStat.isDirectory()) {
    const entry = entryOf('', rootStat, root);
    entries.push(entry);
    if (entry.type === 'file') visitFile(entry, root, rootStat);
  } else {
    // Depth first, each folder's names sorted: the entries come out in tree order.
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
      if (!rules.empty && rules.excludes(rel, isDir)) {
        counts.excluded++;
        continue;
      }
      const entry = entryOf(rel, stat, absolute);
      entries.push(entry);
      if (entry.type === 'file') visitFile(entry, absolute, stat);
      else if (isDir) {
        const names = listDir(absolute, true);
        if (names !== undefined) stack.push({ dir: absolute, rel, names, next: 0 });
      }
      if (++sinceYield >= YIELD_EVERY || syncBytes >= YIELD_EVERY_BYTES) {
        sinceYield = 0;
        syncBytes = 0;
        await new Promise((resolve) => setImmediate(resolve));
        if (signal?.aborted) throw cancelled(signal);
        if (failure !== undefined) break;
      }
    }
  }
  await Promise.all(reads);
  if (failure !== undefined) throw failure;
  if (signal?.aborted) throw cancelled(signal);

  const hasher = new TreeHasher();
  // The walk sorted every folder's names: the entries are in tree order.
  for (const entry of entries) hasher.add(entry, true);
  Object.assign(counts, index.counts, { entries: entries.length });
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
    entries: entries as TreeEntry[],
    size: hasher.size,
    warnings,
    counts,
    indexSaved,
  };
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

/** {@link hashFile} for a small file, synchronously, into `buffer` (at least one byte longer than the file). */
function hashSmallFile(
  path: string,
  before: BigIntStats,
  buffer: Buffer,
): { digest: string; stable: boolean; bytes: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new SourceReadError(path, 'open', error);
  }
  try {
    const expected = Number(before.size);
    const hash = createHash('sha256');
    let total = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (bytesRead < buffer.length && total >= expected) break;
    }
    return { digest: hash.digest('hex'), stable: total === expected, bytes: total };
  } catch (error) {
    throw new SourceReadError(path, 'read', error);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a file and returns the sha256 hex of its bytes; `stable` is false when the file did not have
 * the size its stat said (it changed while it was read: its digest is not recorded).
 */
async function hashFile(
  path: string,
  before: BigIntStats,
): Promise<{ digest: string; stable: boolean; bytes: number }> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new SourceReadError(path, 'open', error);
  }
  try {
    const expected = Number(before.size);
    // One read for a small file (one byte more than its size, to see its end), chunks for a big one.
    const buffer = Buffer.allocUnsafe(Math.min(expected + 1, CHUNK_BYTES));
    const hash = createHash('sha256');
    let total = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (bytesRead < buffer.length && total >= expected) break;
    }
    return { digest: hash.digest('hex'), stable: total === expected, bytes: total };
  } catch (error) {
    throw new SourceReadError(path, 'read', error);
  } finally {
    await handle.close();
  }
}

function cancelled(signal: AbortSignal): CancelledError {
  const reason: unknown = signal.reason;
  if (reason instanceof CancelledError) return reason;
  return new CancelledError(
    reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'cancelled',
  );
}

/** Runs at most `limit` tasks at once. */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
