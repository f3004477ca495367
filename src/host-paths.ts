/** Paths on kiln's host: whether one is inside a folder, and how far one exists. */
import { chown, lstat, mkdir, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';

/** Is `path` the folder `folder` or inside it? Both must be absolute and normalised. */
export function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * The path with its longest existing prefix resolved through symlinks and the rest as it is (for
 * messages about a missing path, and for where something not made yet would land).
 */
export async function resolveExisting(path: string): Promise<string> {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      const real = await realpath(current);
      return missing.length === 0 ? real : join(real, ...missing.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return path;
      missing.push(current.slice(parent.length).replace(/^\/+/, ''));
      current = parent;
    }
  }
}

/** A numeric owner on the host. */
export interface HostOwner {
  readonly uid: number;
  readonly gid: number;
}

/** An entry kiln makes: owned by `owner` when this process may give it away (it runs as root). */
export async function owned(path: string, owner: HostOwner): Promise<void> {
  if (process.getuid?.() === 0) await chown(path, owner.uid, owner.gid);
}

/** Whether `path` exists (not through a last symlink). */
export async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}

/**
 * Makes the folder `path` and the missing folders above it, each owned by `owner` (what `mkdir -p`
 * would make, handed to the user). Returns the first folder made, or undefined when it existed.
 */
export async function makeOwnedFolder(path: string, owner: HostOwner): Promise<string | undefined> {
  const missing: string[] = [];
  let current = path;
  while (!(await exists(current))) {
    missing.push(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const folder of missing.reverse()) {
    await mkdir(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    await owned(folder, owner);
  }
  return missing[0];
}
