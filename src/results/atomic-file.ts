/**
 * Files written whole or not at all: the content goes to a temporary sibling that is flushed to disk
 * (fsync) and then renamed over the name, so that a reader sees the old file or the new one, and a
 * crash never leaves a half-written file under the name. Temporary siblings are named
 * `<name>.tmp-<pid>-<random>`; one left by a crash is never read, and {@link removeStaleTemps} clears
 * them.
 *
 * Not write-file-atomic: kiln also needs create-if-absent (createFileAtomic, a link that fails on an
 * existing name), writes without fsync for what a crash may lose, and temp names it can sweep.
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
  await placeTemp(path, data, options, async (temp) => {
    await rename(temp, path);
    return true;
  });
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
  return placeTemp(path, data, options, async (temp) => {
    try {
      await link(temp, path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  });
}

/**
 * Writes `data` to a flushed temporary sibling of `path` and has `place` put it under the name (true)
 * or not (false); the sibling never outlives the call, and a placed name's folder is flushed.
 */
async function placeTemp(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions,
  place: (temp: string) => Promise<boolean>,
): Promise<boolean> {
  const temp = await writeTemp(path, data, options);
  let placed: boolean;
  try {
    placed = await place(temp);
  } finally {
    await rm(temp, { force: true }); // after a rename, nothing is left to remove
  }
  if (placed && options.fsync !== false) await fsyncDir(dirname(path));
  return placed;
}

/** Removes `path` if it was last modified `olderThanMs` or longer before `now`; false if younger or gone. */
export async function removeIfOlder(path: string, olderThanMs: number, now = Date.now()): Promise<boolean> {
  try {
    if (now - (await stat(path)).mtimeMs < olderThanMs) return false;
    await rm(path, { force: true });
    return true;
  } catch {
    return false; // gone meanwhile
  }
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
    if (isTempSibling(name) && (await removeIfOlder(join(dir, name), olderThanMs, now))) removed++;
  }
  return removed;
}
