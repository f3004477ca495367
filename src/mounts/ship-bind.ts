/**
 * One bind on a remote engine, acquired: its source digested as the job cache digests it, then
 * - a read-only folder: the source volume of that digest, uploaded only when the engine lacks it
 *   (runtime/source-volumes.ts), mounted read-only;
 * - a read-write folder: a run-scoped copy, uploaded each time, mounted writable; its release (pushed
 *   now, so it runs after the container is gone, on every path) applies what the job wrote back to the
 *   host source and removes the copy (ship-binds.ts says how);
 * - a file, either way: put into the container before it starts; a writable one is read back when the
 *   job ends (executor/acquire-container.ts).
 */
import { cancelledError, MountError } from '../errors.js';
import type { HostOwner } from '../host-paths.js';
import type { TreeListing } from '../results/tree-format.js';
import { createRunCopy, readVolume, shipSource, sourceMount } from '../runtime/source-volumes.js';
import type { AcquireMountsContext, EngineMount, RemoteBinds } from './kinds/kind.js';
import type { PlannedBindMount } from './kinds/bind.js';
import { copyBackTree, packListing, SourceChangedError } from './ship-binds.js';

export interface ShipBindContext extends AcquireMountsContext {
  readonly job: string;
  /** The mount as errors name it. */
  readonly named: string;
  readonly owner: HostOwner;
  readonly remote: RemoteBinds;
}

/** The size of a tar stream of one file: its header, its blocks, the end of the archive. */
function fileTarBytes(size: number): number {
  return 512 + Math.ceil(size / 512) * 512 + 1024;
}

export async function shipBind(p: PlannedBindMount, ctx: ShipBindContext): Promise<EngineMount> {
  const { remote, owner } = ctx;
  const writable = !p.mount.readonly;
  const listing = await remote.digest(p.realPath, p.mount.exclude, writable);
  const isFile = listing.entries.length === 1 && listing.entries[0]!.path === '';
  const fail = (error: unknown): never => {
    if (ctx.signal.aborted) throw cancelledError(ctx.signal);
    if (error instanceof SourceChangedError) {
      throw new MountError(ctx.job, ctx.named, `${error.message}; run again`, error);
    }
    throw error;
  };
  if (isFile) {
    const name = p.mount.target.replace(/^\/+/, '');
    return {
      file: {
        target: p.mount.target,
        hostPath: p.realPath,
        tar: () => packListing(p.realPath, listing, owner, name, ctx.signal),
        ...(writable ? { writeBack: { listing } } : {}),
      },
      source: p.realPath,
      uploadedBytes: fileTarBytes(listing.entries[0]!.size),
    };
  }
  const common = { image: remote.image, runId: ctx.runId, project: ctx.graph.project, job: ctx.job };
  const tar = () => packListing(p.realPath, listing, owner, undefined, ctx.signal);
  if (!writable) {
    let pending = remote.shipped.get(listing.digest);
    const first = pending === undefined;
    if (pending === undefined) {
      pending = shipSource(remote.engine, { ...common, digest: listing.digest, tar });
      remote.shipped.set(listing.digest, pending);
      // A failed upload is not remembered: the next job tries again.
      pending.catch(() => remote.shipped.delete(listing.digest));
    }
    const shipped = await pending.catch(fail);
    return {
      mount: sourceMount(shipped.volume, p.mount.target, true),
      source: p.realPath,
      uploadedBytes: first ? shipped.uploadedBytes : 0,
    };
  }
  const copy = await createRunCopy(remote.engine, { ...common, target: p.mount.target, tar }).catch(fail);
  ctx.stack.push('volume', copy.volume, () => copyBack(copy.volume, common, p, listing, ctx));
  return {
    mount: sourceMount(copy.volume, p.mount.target, false),
    source: p.realPath,
    uploadedBytes: copy.uploadedBytes,
  };
}

/**
 * Applies a read-write bind's copy to its host source (read through a container made as `reader` says),
 * then removes the copy.
 */
async function copyBack(
  volume: string,
  reader: Parameters<typeof readVolume>[2],
  p: PlannedBindMount,
  shipped: TreeListing,
  ctx: ShipBindContext,
): Promise<void> {
  const { engine } = ctx.remote;
  try {
    const read = await readVolume(engine, volume, reader);
    try {
      const done = await copyBackTree(read.archive, p.realPath, shipped, ctx.owner);
      for (const warning of done.warnings) {
        ctx.emit({ type: 'warning', job: ctx.job, message: `${ctx.named}: ${warning}` });
      }
    } finally {
      await read.done();
    }
  } finally {
    await engine.volumes.remove(volume);
  }
}
