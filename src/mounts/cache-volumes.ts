/**
 * Cache volumes on the engine: created idempotently and labelled (kept across runs, so no run or pid
 * label), listed with their size, last use and whether they are in use, and removed by `kiln prune`.
 */
import type Dockerode from 'dockerode';
import { EngineUnavailableError, InfrastructureError, MountError } from '../errors.js';
import { Label } from '../labels.js';
import { stateDir } from '../state-dir.js';
import {
  acquireCacheLock,
  cacheGuardPath,
  cacheLockPath,
  describeHolder,
  liveCacheUsers,
  readLockState,
} from './cache-locks.js';
import { forgetCacheUse, readCacheUse } from './cache-usage.js';
import { hostname } from 'node:os';

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
  docker: Dockerode,
  options: EnsureCacheVolumeOptions,
): Promise<'created' | 'existing'> {
  const { name, project, id } = options;
  let labels: Record<string, string> | null | undefined;
  try {
    labels = (await docker.getVolume(name).inspect()).Labels;
  } catch (error) {
    if (statusCode(error) !== 404) throw dockerFault(docker, `inspect volume ${name}`, error);
    try {
      await docker.createVolume({ Name: name, Labels: cacheVolumeLabels(project, id) });
      return 'created';
    } catch (createError) {
      if (statusCode(createError) !== 409) throw dockerFault(docker, `create volume ${name}`, createError);
      return 'existing';
    }
  }
  if (labels?.[Label.managed] !== 'true' || labels[Label.cache] !== id || labels[Label.project] !== project) {
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

/** How long diskUsage waits, in all, for another client's disk usage operation to end. */
const DISK_USAGE_PATIENCE_MS = 30_000;

/**
 * The engine's disk usage (`docker system df`), for volume sizes and reference counts. An engine that
 * is computing it for another client refuses a second request (moby 20.10: "a disk usage operation is
 * already running"); that request is tried again until the first is done.
 */
async function diskUsage(docker: Dockerode): Promise<{ Volumes?: Dockerode.VolumeInspectInfo[] | null }> {
  const until = Date.now() + DISK_USAGE_PATIENCE_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return (await docker.df()) as { Volumes?: Dockerode.VolumeInspectInfo[] | null };
    } catch (error) {
      const busy = /disk usage operation is already running/i.test(String((error as Error)?.message));
      if (!busy || Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 500)));
    }
  }
}

/** Every cache volume kiln made on this engine, of every project. */
export async function listCaches(docker: Dockerode, options: CacheStateOptions = {}): Promise<CacheInfo[]> {
  const directory = stateDir(options.env ?? process.env);
  let volumes: Dockerode.VolumeInspectInfo[];
  let usage: Map<string, { Size: number; RefCount: number }>;
  try {
    const [list, df] = await Promise.all([
      docker.listVolumes({ filters: CACHE_VOLUME_FILTER }),
      diskUsage(docker),
    ]);
    volumes = list.Volumes ?? [];
    usage = new Map((df.Volumes ?? []).flatMap((v) => (v.UsageData ? [[v.Name, v.UsageData] as const] : [])));
  } catch (error) {
    throw dockerFault(docker, 'list cache volumes', error);
  }

  const caches = await Promise.all(
    volumes.map(async (volume): Promise<CacheInfo> => {
      const labels = volume.Labels ?? {};
      const data = usage.get(volume.Name);
      const recorded = await readCacheUse(directory, volume.Name);
      const createdAt = (volume as { CreatedAt?: string }).CreatedAt;
      const lock = await readLockState(cacheLockPath(directory, volume.Name));
      const users = await liveCacheUsers(directory, volume.Name);
      let usedBy: string | undefined;
      if (lock.kind === 'held') usedBy = describeHolder(lock.holder);
      else if (lock.kind === 'unknown') usedBy = 'a kiln process taking its lock';
      else if (users.length > 0) usedBy = users.join(', ');
      else if (data && data.RefCount > 0) usedBy = `${data.RefCount} container(s)`;
      return {
        name: volume.Name,
        id: labels[Label.cache] ?? '',
        project: labels[Label.project] ?? '',
        ...(data && data.Size >= 0 ? { sizeBytes: data.Size } : {}),
        ...(recorded ? { lastUsed: recorded.lastUsed } : createdAt ? { lastUsed: createdAt } : {}),
        inUse: usedBy !== undefined,
        ...(usedBy ? { usedBy } : {}),
      };
    }),
  );
  return caches.sort((a, b) => a.name.localeCompare(b.name));
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
  docker: Dockerode,
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
        try {
          await docker.getVolume(cache.name).remove();
        } catch (error) {
          const status = statusCode(error);
          if (status === 409) {
            kept.push({ cache, reason: 'in use by a container' });
            continue;
          }
          if (status !== 404) throw dockerFault(docker, `remove volume ${cache.name}`, error);
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

function statusCode(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

/** Translates a failed Docker call: an unreachable engine, or another engine fault. */
function dockerFault(docker: Dockerode, action: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (statusCode(error) === undefined && code !== undefined && UNREACHABLE.has(code)) {
    const modem = (docker as unknown as { modem?: { socketPath?: string; host?: string } }).modem;
    const endpoint = modem?.socketPath ?? modem?.host ?? 'the Docker engine';
    return new EngineUnavailableError(
      `cannot reach the Docker engine at ${endpoint} to ${action} (${message}); is it running?`,
      endpoint,
      error,
    );
  }
  return new InfrastructureError(`the Docker engine could not ${action}: ${message}`, error);
}
