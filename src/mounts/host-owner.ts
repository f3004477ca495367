/**
 * What a job leaves in the user's folders belongs to the user: a read-write bind's missing source is
 * made as the user, so is the empty folder (or file) the engine would make as root inside a read-write
 * bind for a mount nested in it, and what the job wrote into a read-write bind is handed back to the
 * user once the job ends (see {@link handBackCommand}).
 *
 * The user is the one who runs kiln, or who ran `sudo kiln` (SUDO_UID/SUDO_GID): see {@link hostOwner}.
 * Missing sources are made when the job acquires its mounts, not when it is planned (planning, which
 * `kiln plan` uses, makes nothing) nor by `kiln validate` (which reads only the step file: the folder
 * is on the engine's host, which validation does not look at).
 */
import { lstat, mkdir, stat, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { CompiledJob } from '../graph/types.js';
import { exists, isInside, makeOwnedFolder, owned, type HostOwner } from '../host-paths.js';

import { exportOwner } from '../runtime/output-volumes.js';

export { makeOwnedFolder, type HostOwner };

/** Who owns what kiln makes and hands back in the user's folders: the user, or the one who ran sudo. */
export function hostOwner(env: NodeJS.ProcessEnv = process.env): HostOwner {
  return exportOwner(env);
}

/**
 * Makes the mount point `target` of a mount nested in a read-write bind, on the host, owned by `owner`,
 * before the engine makes it as root: `hostRoot` is the bind's source as this process sees it, mounted
 * at `bindTarget`. Folders are made down to it; the last is an empty file when `file`. Nothing is made
 * through a symlink or over a file: the engine is left to deal with those.
 */
export async function makeMountPoint(
  hostRoot: string,
  bindTarget: string,
  target: string,
  file: boolean,
  owner: HostOwner,
): Promise<void> {
  const parts = posix.relative(bindTarget, target).split('/').filter(Boolean);
  let current = hostRoot;
  for (const [index, part] of parts.entries()) {
    const next = join(current, part);
    const last = index === parts.length - 1;
    const found = await lstat(next).catch(() => undefined);
    if (found === undefined) {
      try {
        if (last && file) await writeFile(next, '', { flag: 'wx' });
        else await mkdir(next);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      await owned(next, owner);
    } else if (!found.isDirectory()) {
      return;
    }
    current = next;
  }
}

/** A read-write bind of the job and the container paths of the mounts nested in it. */
export interface HandedBack {
  readonly target: string;
  readonly nested: readonly string[];
}

/**
 * The targets of the job's read-write binds that are handed back to `owner` after the job: none when
 * the owner is root (what the job made as root is the user's already), when every step runs as the
 * owner's uid, or for a bind with `keep-owner: true`. `targets` are every mount target of the container
 * (to leave the mounts nested in a bind alone).
 */
export function handedBack(
  job: CompiledJob,
  binds: readonly { readonly target: string; readonly readonly: boolean; readonly keepOwner: boolean }[],
  targets: readonly string[],
  owner: HostOwner,
): HandedBack[] {
  if (owner.uid === 0) return [];
  const users = job.steps.length > 0 ? job.steps.map((s) => s.user ?? job.user) : [job.user];
  if (users.every((user) => user !== undefined && uidOf(user) === owner.uid)) return [];
  return binds
    .filter((b) => !b.readonly && !b.keepOwner)
    .map((b) => ({
      target: b.target,
      nested: targets.filter((t) => t !== b.target && isInside(t, b.target)),
    }));
}

/** The uid of a `user` (`1000`, `1000:1000`), or undefined when it is a name. */
function uidOf(user: string): number | undefined {
  const uid = user.split(':')[0]!;
  return /^\d+$/.test(uid) ? Number(uid) : undefined;
}

/**
 * The command (run as root in the job's container) that hands what is in the binds back to `owner`:
 * `chown -hR`, which changes symlinks themselves and never follows one out of the bind; with `find`
 * instead when a bind holds other mounts (a cache, a tmpfs, an output), which it leaves alone.
 */
export function handBackCommand(binds: readonly HandedBack[], owner: HostOwner): string[] {
  const ids = `${owner.uid}:${owner.gid}`;
  const targets = binds.map((b) => b.target);
  const nested = [...new Set(binds.flatMap((b) => b.nested))];
  if (nested.length === 0) return ['chown', '-hR', ids, '--', ...targets];
  const pruned = nested.flatMap((path, i) => [...(i === 0 ? [] : ['-o']), '-path', globEscape(path)]);
  return ['find', ...targets, '(', ...pruned, ')', '-prune', '-o', '-exec', 'chown', '-h', ids, '{}', '+'];
}

/** A path as a `find -path` pattern that matches only itself. */
function globEscape(path: string): string {
  return path.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

/**
 * Makes, as `owner`, the mount points the engine would make as root in the user's folders: those of the
 * container's mounts (`targets`, with the host source of each bind when it has one) nested in one of
 * its read-write binds (`binds`, with their sources as this process sees them). A bind whose source
 * cannot be seen from here is left to the engine (its mount point may have to be a file).
 */
export async function makeNestedMountPoints(
  binds: readonly { readonly target: string; readonly realPath: string }[],
  targets: readonly { readonly target: string; readonly bindSource?: string }[],
  owner: HostOwner,
): Promise<void> {
  for (const { target, bindSource } of targets) {
    let holder: { readonly target: string; readonly realPath: string } | undefined;
    for (const bind of binds) {
      if (bind.target === target || !isInside(target, bind.target)) continue;
      if (holder === undefined || bind.target.length > holder.target.length) holder = bind;
    }
    if (holder === undefined) continue;
    let file = false;
    if (bindSource !== undefined) {
      const folder = await stat(bindSource).then(
        (s) => s.isDirectory(),
        () => undefined,
      );
      if (folder === undefined) continue;
      file = !folder;
    }
    await makeMountPoint(holder.realPath, holder.target, target, file, owner);
  }
}
