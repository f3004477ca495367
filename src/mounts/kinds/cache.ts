/**
 * A named volume kept across runs (one per project and id). Acquiring takes its lock (`locked`: waiting
 * for it; `private`: a free slot, else another volume) or registers a user (`shared`), then makes the
 * volume. What it holds is not in the key; its id, sharing and readonly are.
 */
import { hostname } from 'node:os';
import { acquireEngineLock, locksOnEngine, type EngineLock } from '../../runtime/engine-locks.js';
import { cancelledError } from '../../errors.js';
import type { CompiledCacheMount, CompiledJob } from '../../graph/types.js';
import {
  acquireCacheLock,
  cacheLockPath,
  registerCacheUser,
  type CacheLock,
  type LockOwner,
} from '../../lock-files.js';
import { stateDir } from '../../state-dir.js';
import { recordCacheUse } from '../cache-usage.js';
import { cacheVolumeName } from '../cache-volume-name.js';
import { ensureCacheVolume } from '../cache-volumes.js';
import type { AcquireMountsContext, ContainerMountKind } from './kind.js';

/** `volume`: the cache's own volume; a `private` cache in use elsewhere gets another slot when acquired. */
export interface PlannedCacheMount {
  readonly kind: 'cache';
  readonly mount: CompiledCacheMount;
  readonly volume: string;
}

export const cacheKind: ContainerMountKind<CompiledCacheMount, PlannedCacheMount> = {
  type: 'cache',
  life: 'container',
  event: 'cache',
  describe: (mount) => `cache ${mount.id} -> ${mount.target}`,
  plan: (mount, ctx) => ({ kind: 'cache', mount, volume: cacheVolumeName(ctx.graph.project, mount.id) }),
  async acquire(planned, job, ctx) {
    const volumes = await acquireCaches(
      job,
      planned.map((p) => p.mount),
      ctx,
    );
    return ({ mount }) => {
      const volume = volumes.get(mount.id)!;
      return {
        mount: {
          Type: 'volume',
          Source: volume,
          Target: mount.target,
          ReadOnly: mount.readonly,
          VolumeOptions: { NoCopy: false },
        },
        source: volume,
      };
    };
  },
  key: ({ mount }) => ({
    mount: {
      type: 'cache',
      target: mount.target,
      id: mount.id,
      sharing: mount.sharing,
      readonly: mount.readonly,
    },
  }),
};

/**
 * Makes the job's cache volumes and takes their locks; returns the volume of each cache id. A cache id
 * mounted twice in one job is one volume (and one lock). Locks are taken in the order of the volume
 * names, the same in every job, so two jobs with the same locked caches cannot hold one each and wait
 * for each other.
 */
async function acquireCaches(
  job: CompiledJob,
  mounts: readonly CompiledCacheMount[],
  ctx: AcquireMountsContext,
): Promise<Map<string, string>> {
  const { project, projectDir } = ctx.graph;
  const directory = stateDir(ctx.env ?? process.env);
  const byId = new Map<string, CompiledCacheMount>();
  for (const mount of mounts) if (!byId.has(mount.id)) byId.set(mount.id, mount);
  const ordered = [...byId.values()].sort((a, b) =>
    cacheVolumeName(project, a.id).localeCompare(cacheVolumeName(project, b.id)),
  );
  const owner: LockOwner = { pid: process.pid, host: hostname(), runId: ctx.runId, job: job.name };
  await registerSharedUsers(ordered, owner, directory, ctx);

  const volumes = new Map<string, string>();
  for (const mount of ordered) {
    if (ctx.signal.aborted) throw cancelledError(ctx.signal);
    volumes.set(mount.id, await lockCache(job, mount, owner, directory, ctx));
  }

  // With every lock held, the volumes are made (or found) all at once.
  await Promise.all(
    ordered.map(async (mount) => {
      const volume = volumes.get(mount.id)!;
      await ensureCacheVolume(ctx.volumes, {
        name: volume,
        project,
        id: mount.id,
        job: job.name,
        mount: cacheKind.describe(mount, projectDir),
      });
      try {
        await recordCacheUse(directory, volume, { project, id: mount.id });
      } catch (error) {
        ctx.emit({
          type: 'warning',
          job: job.name,
          message: `could not record the use of cache ${mount.id} under ${directory}: ${(error as Error).message}`,
        });
      }
    }),
  );
  return volumes;
}

/**
 * Shared caches take no lock but register as users, so that kiln prune leaves their volumes alone.
 * Registrations wait for nobody but a prune's check, so they are made all at once.
 */
async function registerSharedUsers(
  caches: readonly CompiledCacheMount[],
  owner: LockOwner,
  directory: string,
  ctx: AcquireMountsContext,
): Promise<void> {
  const { project } = ctx.graph;
  const shared = caches.filter((mount) => mount.sharing === 'shared');
  const registered = await Promise.allSettled(
    shared.map((mount) =>
      registerCacheUser(directory, cacheVolumeName(project, mount.id), owner, ctx.signal),
    ),
  );
  registered.forEach((result, i) => {
    if (result.status !== 'fulfilled') return;
    const user = result.value;
    ctx.stack.push('cache-user', cacheVolumeName(project, shared[i]!.id), () => user.release());
  });
  const failed = registered.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Takes the lock of a `locked` cache (waiting for it) or of a free slot of a `private` one; returns the
 * volume to mount. A `shared` cache takes none.
 */
async function lockCache(
  job: CompiledJob,
  mount: CompiledCacheMount,
  owner: LockOwner,
  directory: string,
  ctx: AcquireMountsContext,
): Promise<string> {
  const { project } = ctx.graph;
  if (mount.sharing !== 'locked' && mount.sharing !== 'private') return cacheVolumeName(project, mount.id);
  const onWait = (holder: string, heldForMs: number, lock: string) =>
    ctx.emit({ type: 'mount.wait', job: job.name, cache: mount.id, holder, heldForMs, lock });
  // On an engine other hosts share, the locks are on the engine, where their kilns see them too.
  const take = (volume: string, wait: boolean): Promise<CacheLock | EngineLock | undefined> =>
    locksOnEngine(ctx.runId)
      ? acquireEngineLock({
          runId: ctx.runId,
          job: job.name,
          signal: ctx.signal,
          object: volume,
          wait,
          ...(wait
            ? { onWait: (holder, heldForMs, name) => onWait(holder, heldForMs, `the container ${name}`) }
            : {}),
        })
      : acquireCacheLock({
          path: cacheLockPath(directory, volume),
          owner,
          wait,
          ...(wait ? { signal: ctx.signal, onWait } : {}),
        });
  const hold = (volume: string, lock: CacheLock | EngineLock): string => {
    ctx.stack.push('lock', volume, () => lock.release());
    return volume;
  };
  if (mount.sharing === 'locked') {
    const volume = cacheVolumeName(project, mount.id);
    return hold(volume, (await take(volume, true))!);
  }
  for (let slot = 0; ; slot++) {
    const volume = cacheVolumeName(project, mount.id, slot);
    const lock = await take(volume, false);
    if (lock !== undefined) return hold(volume, lock);
  }
}
