/**
 * Files written whole or not at all: the content goes to a temporary sibling that is flushed to disk
 * (fsync) and then renamed over the name, so that a reader sees the old file or the new one, and a
 * crash never leaves a half-written file under the name. Temporary siblings are named
 * `<name>.tmp-<pid>-<random>`; one left by a crash is never read, and {@link removeStaleTemps} clears
 * them.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** Flush the file (and, after the rename, its folder) to disk. Default true. */
  readonly fsync?: boolean;
  /** The new file's mode. Default 0o644. */
  readonly mode?: number;
}

/** The temporary sibling a write of `path` uses. */
export function tempSibling(path: string): string {
  return join(dirname(path), `${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** Is this name one of {@link tempSibling}'s? */
export function isTempSibling(name: string): boolean {
  return /\.tmp-\d+-[0-9a-f]{12}$/.test(name);
}

/** Writes `data` to a new temporary sibling of `path`, flushed; returns the sibling's path. */
export async function writeTemp(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<string> {
  const temp = tempSibling(path);
  let handle;
  try {
    handle = await open(temp, 'wx', options.mode ?? 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(dirname(path), { recursive: true });
    handle = await open(temp, 'wx', options.mode ?? 0o644);
  }
  try {
    await handle.writeFile(data);
    if (options.fsync !== false) await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  return temp;
}

/** Flushes a folder's entries (a rename or link in it) to disk; where folders cannot be opened, nothing. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch {
    // some file systems refuse fsync on a folder; the rename is still atomic
  } finally {
    await handle.close();
  }
}

/** Replaces `path` with `data` atomically (see the module's comment). */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temp = await writeTemp(path, data, options);
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  if (options.fsync !== false) await fsyncDir(dirname(path));
}

/**
 * Creates `path` with `data` only if no file has that name yet, atomically: the content is complete
 * before the name appears (a hard link of a flushed temporary file, which fails if the name exists).
 * Returns false, leaving the existing file alone, when it exists.
 */
export async function createFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<boolean> {
  const temp = await writeTemp(path, data, options);
  try {
    await link(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(temp, { force: true });
  }
  if (options.fsync !== false) await fsyncDir(dirname(path));
  return true;
}

/** Removes the temporary siblings in `dir` older than `olderThanMs` (left by a process that died). */
export async function removeStaleTemps(dir: string, olderThanMs: number, now = Date.now()): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!isTempSibling(name)) continue;
    const path = join(dir, name);
    try {
      if (now - (await stat(path)).mtimeMs < olderThanMs) continue;
      await rm(path, { force: true });
      removed++;
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}
