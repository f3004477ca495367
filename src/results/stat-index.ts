/**
 * The stat index of a bind source: for each file, the stat it had (size, mtime and ctime in
 * nanoseconds, inode, device) when its content was last read, and the sha256 of that content. A file
 * whose stat is unchanged is not read again, which is what makes an unchanged tree of 100,000 files
 * re-hash in a fraction of a second.
 *
 * Correctness, by git's racy-clean rule: a file may change again within the granularity of its
 * timestamps without its mtime moving. So an entry is trusted only if its mtime and ctime are older, by
 * {@link RACY_MARGIN_NS}, than the moment the scan that recorded it started (and than the index file's
 * own write time, whichever is earlier); a newer one is read again, and a later scan, for which it is old
 * enough, records it as trusted.
 *
 * The file, `<stateDir>/results/stat-index/<hash of the root's real path>.idx`, is binary (see
 * {@link encodeStatIndex}): a header, the entries, and the sha256 of all of it. It
 * is replaced atomically. One that is damaged, truncated, of another format or of another root is
 * discarded with a warning (every file is then read again): never an error, never a wrong digest.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { endianness } from 'node:os';
import { writeFileAtomic } from './atomic-file.js';
import { compareTreePaths } from './tree-format.js';

/** The stat of a file as the index compares it (the fields of a bigint `fs.Stats`). */
export interface IndexedStat {
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly dev: bigint;
}

export interface IndexEntry extends IndexedStat {
  /** sha256 hex of the file's content. */
  readonly digest: string;
}

/**
 * How much older than the scan's start an mtime or ctime must be for its entry to be trusted: covers
 * coarse kernel clocks (a jiffy), file systems that keep seconds (ext3, HFS+) or two seconds (FAT), and
 * a little clock difference between this machine and a file server.
 */
export const RACY_MARGIN_NS = 2_000_000_000n;

const MAGIC = Buffer.from('KILNSIX1', 'latin1');
const FORMAT = 1;
/** The fixed fields of an entry: size, mtimeNs, ctimeNs, ino, dev, digest. */
const ENTRY_FIXED_BYTES = 5 * 8 + 32;
const EMPTY = Buffer.alloc(0);

/** Is an entry with this stat too recent to be trusted against `referenceNs`? */
export function isRacy(
  entry: Pick<IndexedStat, 'mtimeNs' | 'ctimeNs'>,
  referenceNs: bigint,
  marginNs: bigint = RACY_MARGIN_NS,
): boolean {
  return entry.mtimeNs + marginNs >= referenceNs || entry.ctimeNs + marginNs >= referenceNs;
}

/** Does a file's current stat match the one an entry was recorded with? */
export function sameStat(a: IndexedStat, b: IndexedStat): boolean {
  return (
    a.mtimeNs === b.mtimeNs &&
    a.size === b.size &&
    a.ctimeNs === b.ctimeNs &&
    a.ino === b.ino &&
    a.dev === b.dev
  );
}

/** What a scan did with the index, for tests and the bench. */
export interface StatIndexCounts {
  /** Files whose digest came from the index. */
  trusted: number;
  /** Files with an unchanged stat that were read again because their entry was too recent. */
  racy: number;
  /** Files read because the index had no entry or a different stat. */
  missing: number;
}

export interface OpenStatIndexOptions {
  /** The time the scan starts, in nanoseconds since the epoch. Default: now. */
  readonly scanStartNs?: bigint;
  readonly marginNs?: bigint;
}

/** The current time in nanoseconds since the epoch. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * One scan's use of a stat index: it looks entries up in what the previous scan saved and records what
 * this scan saw; {@link save} then writes this scan's entries (only the paths it saw).
 */
export class StatIndex {
  readonly path: string;
  readonly root: string;
  readonly counts: StatIndexCounts = { trusted: 0, racy: 0, missing: 0 };
  /** The previous scan's entries, in tree order: paths and the offsets of their fixed fields in `data`. */
  private readonly previous: PreviousEntries;
  /** Where the next lookup starts in `previous` (lookups come in tree order, as the walk goes). */
  private cursor = 0;
  /** Built only if lookups come out of order. */
  private byPath: Map<string, number> | undefined;
  private readonly data: Buffer;
  private readonly u64: (offset: number) => bigint;
  /** Entries of the previous scan are trusted only if older than this (minus the margin). */
  private readonly referenceNs: bigint;
  private readonly marginNs: bigint;
  private readonly scanStartNs: bigint;
  /** This scan's entries: recorded ones, or the offset of a trusted previous entry. */
  private readonly next: Array<readonly [string, IndexEntry | number]> = [];
  private nextInOrder = true;
  private changed = false;

  private constructor(
    path: string,
    root: string,
    previous: PreviousEntries,
    data: Buffer,
    referenceNs: bigint,
    options: OpenStatIndexOptions,
  ) {
    this.path = path;
    this.root = root;
    this.previous = previous;
    this.data = data;
    this.u64 = u64Reader(data);
    this.referenceNs = referenceNs;
    this.marginNs = options.marginNs ?? RACY_MARGIN_NS;
    this.scanStartNs = options.scanStartNs ?? nowNs();
  }

  /**
   * Opens the index at `path` for a scan of `root`. A missing index is empty; a damaged one is empty
   * too, with a warning saying so.
   */
  static async open(
    path: string,
    root: string,
    options: OpenStatIndexOptions = {},
  ): Promise<{ index: StatIndex; warning?: string }> {
    let data: Buffer;
    let fileMtimeNs: bigint;
    try {
      [data, fileMtimeNs] = await Promise.all([
        readFile(path),
        stat(path, { bigint: true }).then((s) => s.mtimeNs),
      ]);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const index = new StatIndex(path, root, NONE, EMPTY, 0n, options);
      if (code === 'ENOENT') return { index };
      return {
        index,
        warning: `the stat index ${path} cannot be read (${code ?? String(error)}); every file is read again`,
      };
    }
    const decoded = decodeStatIndex(data, root);
    if (typeof decoded === 'string') {
      return {
        index: new StatIndex(path, root, NONE, EMPTY, 0n, options),
        warning: `the stat index ${path} is discarded (${decoded}); every file is read again`,
      };
    }
    const referenceNs = decoded.scanStartNs < fileMtimeNs ? decoded.scanStartNs : fileMtimeNs;
    return { index: new StatIndex(path, root, decoded.entries, data, referenceNs, options) };
  }

  /** An index that starts empty and is never saved (for a scan without a state folder). */
  static memory(root: string, options: OpenStatIndexOptions = {}): StatIndex {
    return new StatIndex('', root, NONE, EMPTY, 0n, options);
  }

  /**
   * The content digest of the file at `path` (relative to the root) if the index may be trusted for
   * its current stat, else undefined (the file must be read, then {@link record}ed).
   */
  lookup(path: string, current: IndexedStat): string | undefined {
    const offset = this.find(path);
    const u64 = this.u64;
    if (
      offset === undefined ||
      u64(offset + 8) !== current.mtimeNs ||
      u64(offset) !== current.size ||
      u64(offset + 16) !== current.ctimeNs ||
      u64(offset + 24) !== current.ino ||
      u64(offset + 32) !== current.dev
    ) {
      this.counts.missing++;
      return undefined;
    }
    if (isRacy(current, this.referenceNs, this.marginNs)) {
      this.counts.racy++;
      return undefined;
    }
    this.counts.trusted++;
    this.add(path, offset);
    return this.data.toString('hex', offset + 40, offset + 72);
  }

  /** Records the digest read for a file, with the stat it had before it was read. */
  record(path: string, before: IndexedStat, digest: string): void {
    this.changed = true;
    this.add(path, {
      size: before.size,
      mtimeNs: before.mtimeNs,
      ctimeNs: before.ctimeNs,
      ino: before.ino,
      dev: before.dev,
      digest,
    });
  }

  private add(path: string, value: IndexEntry | number): void {
    const last = this.next[this.next.length - 1];
    if (last !== undefined && compareTreePaths(last[0], path) >= 0) this.nextInOrder = false;
    this.next.push([path, value]);
  }

  /** The offset of a path's previous entry: a merge with the walk's order, else a map. */
  private find(path: string): number | undefined {
    const { paths, offsets } = this.previous;
    let i = this.cursor;
    if (paths[i] === path) {
      // The usual case: the walk asks for the entry right after the last one.
      this.cursor = i + 1;
      return offsets[i];
    }
    while (i < paths.length && compareTreePaths(paths[i]!, path) < 0) i++;
    if (i < paths.length && paths[i] === path) {
      this.cursor = i + 1;
      return offsets[i];
    }
    if (this.cursor > 0 && compareTreePaths(paths[this.cursor - 1]!, path) >= 0) {
      // Asked out of order: look it up by name.
      this.byPath ??= new Map(paths.map((p, j) => [p, offsets[j]!]));
      return this.byPath.get(path);
    }
    this.cursor = i;
    return undefined;
  }

  /** Would {@link save} write anything: was a file read, or did one go away? */
  get dirty(): boolean {
    return this.changed || this.next.length !== this.previous.paths.length;
  }

  /** Writes this scan's entries when anything changed. Returns whether it wrote. */
  async save(): Promise<boolean> {
    if (this.path === '' || !this.dirty) return false;
    // No fsync: a stat index lost in a crash is rebuilt, and one that is cut short is discarded.
    if (!this.nextInOrder) this.next.sort(([a], [b]) => compareTreePaths(a, b));
    await writeFileAtomic(this.path, encodeStatIndex(this.root, this.scanStartNs, this.next, this.data), {
      fsync: false,
    });
    return true;
  }
}

/** A saved index's entries: paths (in tree order) and the offsets of their fixed fields. */
export interface PreviousEntries {
  readonly paths: readonly string[];
  readonly offsets: readonly number[];
}

const NONE: PreviousEntries = { paths: [], offsets: [] };

/** Bytes of padding that bring `n` to a multiple of 8. */
function pad8(n: number): number {
  return (8 - (n % 8)) % 8;
}

const HEADER_FIXED_BYTES = MAGIC.length + 4 + 4 + 8 + 4 + 4;

/**
 * The index file's bytes. Header: magic, format (u32), root length (u32), scan start (u64 ns), entry
 * count (u32), 4 zero bytes, the root's UTF-8 padded to 8 bytes. Each entry: path length (u32), path
 * (UTF-8), zero padding to a multiple of 8 bytes from the file's start, then the fixed fields (size,
 * mtimeNs, ctimeNs, ino, dev as u64, then the 32 bytes of the digest). Then the sha256 of all that. All
 * numbers little-endian; the fixed fields are 8-aligned so that they can be read as a BigUint64Array.
 */
export function encodeStatIndex(
  root: string,
  scanStartNs: bigint,
  entries: ReadonlyArray<readonly [string, IndexEntry | number]>,
  previous: Buffer = EMPTY,
): Buffer {
  const rootBytes = Buffer.from(root, 'utf8');
  let total = HEADER_FIXED_BYTES + rootBytes.length + pad8(rootBytes.length);
  const paths: Buffer[] = [];
  for (const [path] of entries) {
    const bytes = Buffer.from(path, 'utf8');
    paths.push(bytes);
    total += 4 + bytes.length + pad8(4 + bytes.length) + ENTRY_FIXED_BYTES;
  }
  const buffer = Buffer.alloc(total + 32);
  let offset = MAGIC.copy(buffer, 0);
  offset = buffer.writeUInt32LE(FORMAT, offset);
  offset = buffer.writeUInt32LE(rootBytes.length, offset);
  offset = buffer.writeBigUInt64LE(scanStartNs, offset);
  offset = buffer.writeUInt32LE(entries.length, offset);
  offset += 4;
  offset += rootBytes.copy(buffer, offset);
  offset += pad8(rootBytes.length);
  let i = 0;
  for (const [, entry] of entries) {
    const path = paths[i++]!;
    offset = buffer.writeUInt32LE(path.length, offset);
    offset += path.copy(buffer, offset);
    offset += pad8(4 + path.length);
    if (typeof entry === 'number') {
      offset += previous.copy(buffer, offset, entry, entry + ENTRY_FIXED_BYTES);
      continue;
    }
    offset = buffer.writeBigUInt64LE(entry.size, offset);
    offset = buffer.writeBigUInt64LE(entry.mtimeNs, offset);
    offset = buffer.writeBigUInt64LE(entry.ctimeNs, offset);
    offset = buffer.writeBigUInt64LE(entry.ino, offset);
    offset = buffer.writeBigUInt64LE(entry.dev, offset);
    offset += buffer.write(entry.digest, offset, 32, 'hex');
  }
  createHash('sha256').update(buffer.subarray(0, offset)).digest().copy(buffer, offset);
  return buffer;
}

/**
 * Reads an index file's bytes (see {@link encodeStatIndex}); a string says why they cannot be used.
 * Entries are decoded only as far as their paths: each maps to the offset of its fixed fields.
 */
export function decodeStatIndex(
  data: Buffer,
  root: string,
): { scanStartNs: bigint; entries: PreviousEntries } | string {
  if (data.length < HEADER_FIXED_BYTES + 32) return 'it is too short';
  if (!data.subarray(0, MAGIC.length).equals(MAGIC)) return 'it is not a stat index';
  const end = data.length - 32;
  if (!createHash('sha256').update(data.subarray(0, end)).digest().equals(data.subarray(end))) {
    return 'its checksum does not match: it is damaged or was cut short';
  }
  let offset = MAGIC.length;
  const format = data.readUInt32LE(offset);
  if (format !== FORMAT) return `it is of format ${format}, not ${FORMAT}`;
  const rootLength = data.readUInt32LE(offset + 4);
  const scanStartNs = data.readBigUInt64LE(offset + 8);
  const count = data.readUInt32LE(offset + 16);
  offset = HEADER_FIXED_BYTES;
  if (offset + rootLength > end) return 'its header is cut short';
  const indexedRoot = data.toString('utf8', offset, offset + rootLength);
  if (indexedRoot !== root) return `it indexes ${indexedRoot}, not ${root}`;
  offset += rootLength + pad8(rootLength);
  const paths: string[] = [];
  const offsets: number[] = [];
  for (let i = 0; i < count; i++) {
    if (offset + 4 > end) return 'an entry is cut short';
    const pathLength = data.readUInt32LE(offset);
    const fields = offset + 4 + pathLength + pad8(4 + pathLength);
    if (fields + ENTRY_FIXED_BYTES > end) return 'an entry is cut short';
    paths.push(data.toString('utf8', offset + 4, offset + 4 + pathLength));
    offsets.push(fields);
    offset = fields + ENTRY_FIXED_BYTES;
  }
  if (offset !== end) return 'it has bytes after its last entry';
  return { scanStartNs, entries: { paths, offsets } };
}

/** Reads the u64 at a byte offset (a multiple of 8) of an index's bytes, fast where the machine allows. */
function u64Reader(data: Buffer): (offset: number) => bigint {
  if (endianness() === 'LE' && data.byteOffset % 8 === 0) {
    const view = new BigUint64Array(data.buffer, data.byteOffset, Math.floor(data.length / 8));
    return (offset) => view[offset >>> 3]!;
  }
  return (offset) => data.readBigUInt64LE(offset);
}
