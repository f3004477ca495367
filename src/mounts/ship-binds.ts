/**
 * The host side of bind sources on a remote engine (see runtime/source-volumes.ts for the engine side):
 * a digested tree packed as a tar stream, exactly the entries its listing names (so what `exclude`,
 * `.kilnignore` and kiln's state folder leave out of the key is not shipped either), and what a job
 * wrote into a read-write bind's copy applied back to the host source.
 *
 * Packing checks every file against the listing as it reads it: a file that changed since it was
 * digested stops the upload (a volume keyed by a digest holds exactly that content).
 *
 * Copying back compares the copy with the listing that was shipped: an entry that is new or changed
 * (content, mode, type, link target) is written to a temporary sibling and renamed into place, so each
 * file is replaced whole, never half written; an entry that was shipped and is gone from the copy (the
 * job deleted it) is deleted on the host; an unchanged entry is not touched (its mtime stays). What was
 * never shipped (excluded) is never touched. Everything written is owned by the user (hostOwner).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lchown, link, lstat, mkdir, open, rename, rm, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { cancelledError } from '../errors.js';
import type { HostOwner } from '../host-paths.js';
import { drain, readTar, tarEntryPath, tarEntryType, type TarBody } from '../results/tar-digest.js';
import type { TreeEntry, TreeListing } from '../results/tree-format.js';

/** A file changed between its digest and its upload. */
export class SourceChangedError extends Error {
  constructor(readonly path: string) {
    super(`${path} changed while it was being sent to the engine`);
  }
}

/**
 * A tar stream of the tree at `root` as `listing` names it: folders, files and symlinks (fifos, sockets
 * and devices are left out), owned by `owner`. A listing whose root is a file (`path` '') gives one
 * entry named `fileName`. The stream fails with a CancelledError once `signal` is aborted.
 */
export function packListing(
  root: string,
  listing: TreeListing,
  owner: HostOwner,
  fileName?: string,
  signal?: AbortSignal,
): Readable {
  const pack = tar.pack();
  void (async () => {
    try {
      for (const entry of listing.entries) {
        if (signal?.aborted) throw cancelledError(signal);
        const name = entry.path === '' ? (fileName ?? basename(root)) : entry.path;
        const path = entry.path === '' ? root : join(root, entry.path);
        await packEntry(pack, entry, name, path, owner);
      }
      pack.finalize();
    } catch (error) {
      // The reader of the stream gets the error; the stream itself must not throw it again.
      pack.on('error', () => undefined);
      pack.destroy(error as Error);
    }
  })();
  return Readable.from(pack as unknown as AsyncIterable<Buffer>, { objectMode: false });
}

async function packEntry(
  pack: tar.Pack,
  entry: TreeEntry,
  name: string,
  path: string,
  owner: HostOwner,
): Promise<void> {
  // The file's own time, so that tools that compare times (make) see what they would see in a bind.
  const mtime = (await lstat(path).catch(() => undefined))?.mtime ?? new Date(0);
  const base = { name, mode: entry.mode, uid: owner.uid, gid: owner.gid, mtime };
  if (entry.type === 'dir') {
    await add(pack, { ...base, type: 'directory' });
  } else if (entry.type === 'symlink') {
    await add(pack, { ...base, type: 'symlink', linkname: entry.content ?? '' });
  } else if (entry.type === 'file') {
    const hash = createHash('sha256');
    let sink: ReturnType<tar.Pack['entry']> | undefined;
    const done = new Promise<void>((resolve, reject) => {
      sink = pack.entry({ ...base, type: 'file', size: entry.size }, (error) =>
        error ? reject(error) : resolve(),
      );
    });
    // A stream destroyed midway (a changed file, a cancel) reports through `done` and the pack.
    sink!.on('error', () => undefined);
    done.catch(() => undefined);
    let read = 0;
    if (entry.size > 0) {
      for await (const chunk of createReadStream(path, { start: 0, end: entry.size - 1 })) {
        const buffer = chunk as Buffer;
        read += buffer.length;
        hash.update(buffer);
        if (!sink!.write(buffer)) await new Promise<void>((r) => sink!.once('drain', () => r()));
      }
    }
    if (read !== entry.size || hash.digest('hex') !== entry.content) {
      throw new SourceChangedError(path);
    }
    (sink as unknown as { end(): void }).end();
    await done;
  }
}

function add(pack: tar.Pack, header: Parameters<tar.Pack['entry']>[0]): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (error) => (error ? reject(error) : resolve())));
}

/** What copying back did. */
export interface CopyBack {
  readonly written: number;
  readonly deleted: number;
  readonly warnings: readonly string[];
}

/**
 * Applies the copy of a read-write bind (`archive`: Docker's archive of the copy's folder, its root
 * component stripped) to the host folder `root`, against `shipped`, the listing that was sent (see the
 * module's comment).
 */
export async function copyBackTree(
  archive: Readable,
  root: string,
  shipped: TreeListing,
  owner: HostOwner,
  signal?: AbortSignal,
): Promise<CopyBack> {
  const before = new Map(shipped.entries.map((e) => [e.path, e]));
  const seen = new Set<string>();
  const warnings: string[] = [];
  let written = 0;
  const tag = randomBytes(4).toString('hex');
  await readTar(
    archive,
    async (header, body) => {
      const path = tarEntryPath(header.name, true);
      const type = tarEntryType(header);
      const mode = (header.mode ?? 0) & 0o7777;
      if (path === '') return drain(body);
      seen.add(path);
      const old = before.get(path);
      const target = join(root, path);
      if (type === 'dir') {
        await drain(body);
        if (old?.type === 'dir' && old.mode === mode) return;
        const there = await lstat(target).catch(() => undefined);
        if (there !== undefined && !there.isDirectory()) await rm(target, { recursive: true, force: true });
        if (there === undefined || !there.isDirectory()) {
          await mkdir(target, { mode: 0o700 });
          await lchown(target, owner.uid, owner.gid);
        }
        await chmod(target, mode);
        written++;
        return;
      }
      const temp = join(dirname(target), `.${basename(target)}.kiln-${tag}`);
      if (type === 'file') {
        if (!(await writeChangedFile(temp, body, old, mode, owner))) return;
      } else if (type === 'symlink') {
        await drain(body);
        if (old?.type === 'symlink' && old.content === header.linkname) return;
        await symlink(header.linkname ?? '', temp);
        await lchown(temp, owner.uid, owner.gid);
      } else if (type === 'hardlink') {
        await drain(body);
        await link(join(root, tarEntryPath(header.linkname ?? '', true)), temp);
      } else {
        await drain(body);
        warnings.push(`${path} (${header.type}) was not copied back: only files, folders and links are`);
        return;
      }
      await replace(temp, target);
      written++;
    },
    signal,
  );
  // What was shipped and is gone from the copy was deleted by the job; deepest first.
  let deleted = 0;
  const gone = shipped.entries.filter((e) => e.path !== '' && !seen.has(e.path)).reverse();
  for (const entry of gone) {
    const target = join(root, entry.path);
    const there = await lstat(target).catch(() => undefined);
    if (there === undefined) continue;
    await rm(target, { recursive: entry.type === 'dir', force: true }).catch((error: Error) =>
      warnings.push(`${entry.path} was deleted in the job but could not be deleted here: ${error.message}`),
    );
    deleted++;
  }
  return { written, deleted, warnings };
}

/**
 * Writes what a read-write single-file bind holds after the job (`archive`: Docker's archive of the
 * file) over the host file `path`, atomically, owned by `owner`; untouched when its content and mode
 * did not change.
 */
export async function copyBackFile(
  archive: Readable,
  path: string,
  shipped: TreeListing,
  owner: HostOwner,
): Promise<boolean> {
  const old = shipped.entries[0];
  const temp = join(dirname(path), `.${basename(path)}.kiln-${randomBytes(4).toString('hex')}`);
  let changed = false;
  await readTar(archive, async (header, body) => {
    if (tarEntryType(header) !== 'file' || changed) return drain(body);
    const mode = (header.mode ?? 0) & 0o7777;
    if (!(await writeChangedFile(temp, body, old, mode, owner))) return;
    await replace(temp, path);
    changed = true;
  });
  return changed;
}

/**
 * Writes a file's `body` to `temp`, owned by `owner` with `mode`, and says true; when it has the
 * content and mode of `old`, the file that was sent, removes `temp` instead and says false.
 */
async function writeChangedFile(
  temp: string,
  body: TarBody,
  old: TreeListing['entries'][number] | undefined,
  mode: number,
  owner: HostOwner,
): Promise<boolean> {
  const hex = await writeBody(temp, body);
  if (old?.type === 'file' && old.content === hex && old.mode === mode) {
    await unlink(temp);
    return false;
  }
  await lchown(temp, owner.uid, owner.gid);
  await chmod(temp, mode);
  return true;
}

/** Renames `temp` over `target`; a folder in the way is removed first. */
async function replace(temp: string, target: string): Promise<void> {
  try {
    await rename(temp, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') {
      await rm(temp, { force: true });
      throw error;
    }
    await rm(target, { recursive: true, force: true });
    await rename(temp, target);
  }
}

/** Writes a tar entry's body to a new file; the sha256 hex of its bytes. */
async function writeBody(path: string, body: TarBody): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'wx', 0o600);
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      await handle.write(chunk);
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}
