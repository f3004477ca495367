/**
 * Cache volumes on the engine: created idempotently and labelled (kept across runs, so no run or pid
 * label), listed with their size, last use and whether they are in use, and removed by `kiln prune`.
 */
import { hostname } from 'node:os';
import { MountError } from '../errors.js';
import { Label } from '../labels.js';
import type { VolumeRuntime } from '../runtime/volumes.js';
import { stateDir } from '../state-dir.js';
import {
  acquireCacheLock,
  cacheGuardPath,
  cacheLockPath,
  describeHolder,
  liveCacheUsers,
  readLockState,
} from '../lock-files.js';
import { forgetCacheUse, readCacheUse } from './cache-usage.js';

/** The labels of a cache volume. */
export function cacheVolumeLabels(project: string, id: string): Record<string, string> {
  return {
    [Label.managed]: 'true',
    [Label.scope]: 'cache',
    [Label.cache]: id,
    [Label.project]: project,
  };
}

export const CACHE_VOLUME_FILTER = { label: [`${Label.managed}=true`, `${Label.scope}=cache`] };

export interface EnsureCacheVolumeOptions {
  readonly name: string;
  readonly project: string;
  /** The cache id. */
  readonly id: string;
  /** For errors: the job and the mount that wanted the volume. */
  readonly job: string;
  readonly mount: string;
}

/**
 * Makes sure the cache volume exists: inspects it and creates it when missing (creating one that
 * appeared meanwhile is harmless: Docker returns the existing volume). A volume of that name that is
 * not this cache's is refused rather than shared.
 */
export async function ensureCacheVolume(
  volumes: VolumeRuntime,
  options: EnsureCacheVolumeOptions,
): Promise<'created' | 'existing'> {
  const { name, project, id } = options;
  const existing = await volumes.inspect(name);
  if (existing === undefined) return volumes.create(name, cacheVolumeLabels(project, id));
  const labels = existing.labels;
  if (labels[Label.managed] !== 'true' || labels[Label.cache] !== id || labels[Label.project] !== project) {
    throw new MountError(
      options.job,
      options.mount,
      `volume ${name} exists but is not cache ${id} of project ${project}; remove it ` +
        `(docker volume rm ${name}) or use another cache id`,
    );
  }
  return 'existing';
}

/** A cache volume as `kiln prune` shows it. */
export interface CacheInfo {
  /** The volume name. */
  readonly name: string;
  /** The cache id. */
  readonly id: string;
  readonly project: string;
  /** Bytes on disk, when the engine reports it. */
  readonly sizeBytes?: number;
  /** ISO 8601: the last recorded use, else when the volume was created. */
  readonly lastUsed?: string;
  /** Held by a live kiln process's lock, or mounted by a container. */
  readonly inUse: boolean;
  /** Who uses it, when in use: "job build of run r-1 (pid 123)", "2 container(s)". */
  readonly usedBy?: string;
}

export interface CacheStateOptions {
  /** For the state folder (KILN_STATE_DIR...). Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Every cache volume kiln made on this engine, of every project. */
export async function listCaches(
  volumes: VolumeRuntime,
  options: CacheStateOptions = {},
): Promise<CacheInfo[]> {
  const directory = stateDir(options.env ?? process.env);
  const [list, usage] = await Promise.all([volumes.list(CACHE_VOLUME_FILTER.label), volumes.usage()]);
  const caches = await Promise.all(
    list.map(async (volume): Promise<CacheInfo> => {
      const data = usage.get(volume.name);
      const recorded = await readCacheUse(directory, volume.name);
      const usedBy = await cacheUsedBy(directory, volume.name, data?.containers ?? 0);
      const lastUsed = recorded?.lastUsed ?? volume.createdAt;
      return {
        name: volume.name,
        id: volume.labels[Label.cache] ?? '',
        project: volume.labels[Label.project] ?? '',
        ...(data?.sizeBytes !== undefined ? { sizeBytes: data.sizeBytes } : {}),
        ...(lastUsed ? { lastUsed } : {}),
        inUse: usedBy !== undefined,
        ...(usedBy ? { usedBy } : {}),
      };
    }),
  );
  return caches.sort((a, b) => a.name.localeCompare(b.name));
}

/** Who uses a cache volume now (its lock's holder, its registered users, containers), or undefined. */
async function cacheUsedBy(
  directory: string,
  volume: string,
  containers: number,
): Promise<string | undefined> {
  const lock = await readLockState(cacheLockPath(directory, volume));
  // Read (and so cleared of registrations whose process is gone) whether or not the lock is held.
  const users = await liveCacheUsers(directory, volume);
  if (lock.kind === 'held') return describeHolder(lock.holder);
  if (lock.kind === 'unknown') return 'a kiln process taking its lock';
  if (users.length > 0) return users.join(', ');
  if (containers > 0) return `${containers} container(s)`;
  return undefined;
}

export interface RemoveCachesOptions extends CacheStateOptions {
  /** Report what would be removed, remove nothing. Default false. */
  readonly dryRun?: boolean;
}

export interface RemoveCachesResult {
  /** Removed (or, in a dry run, would be). */
  readonly removed: readonly CacheInfo[];
  /** Kept, with the reason (in use). */
  readonly kept: readonly { readonly cache: CacheInfo; readonly reason: string }[];
}

/**
 * Removes the given caches that are not in use. Each is removed while holding its lock (never
 * waiting), so a kiln run cannot take a locked or private cache while it goes, and its guard, under
 * which a cache with a registered shared user is kept (a job about to mount it); a volume a container
 * still mounts is kept.
 */
export async function removeCaches(
  volumes: VolumeRuntime,
  caches: readonly CacheInfo[],
  options: RemoveCachesOptions = {},
): Promise<RemoveCachesResult> {
  const directory = stateDir(options.env ?? process.env);
  const removed: CacheInfo[] = [];
  const kept: { cache: CacheInfo; reason: string }[] = [];
  for (const cache of caches) {
    if (cache.inUse) {
      kept.push({ cache, reason: `in use by ${cache.usedBy ?? 'a run'}` });
      continue;
    }
    const owner = { pid: process.pid, host: hostname(), runId: 'prune', job: 'prune' };
    const lock = await acquireCacheLock({ path: cacheLockPath(directory, cache.name), owner, wait: false });
    if (lock === undefined) {
      const state = await readLockState(cacheLockPath(directory, cache.name));
      kept.push({
        cache,
        reason: `in use by ${state.kind === 'held' ? describeHolder(state.holder) : 'a run'}`,
      });
      continue;
    }
    // Under the guard, no shared user can register between the check and the removal.
    const guard = await acquireCacheLock({
      path: cacheGuardPath(directory, cache.name),
      owner,
      wait: true,
      pollMs: [10, 50],
    });
    try {
      const users = await liveCacheUsers(directory, cache.name);
      if (users.length > 0) {
        kept.push({ cache, reason: `in use by ${users.join(', ')}` });
        continue;
      }
      if (!options.dryRun) {
        if ((await volumes.remove(cache.name)) === 'in-use') {
          kept.push({ cache, reason: 'in use by a container' });
          continue;
        }
        await forgetCacheUse(directory, cache.name);
      }
      removed.push(cache);
    } finally {
      await guard!.release();
      await lock.release();
    }
  }
  return { removed, kept };
}
