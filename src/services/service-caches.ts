/**
 * The cache volumes a job's services mount: made (or found) and registered as in use like a job's shared
 * caches (mounts/kinds/cache.ts), under the job's name with `:services`, so that the job itself can mount
 * the same cache; their releases go on the job's stack.
 */
import type { CompiledCacheMount, CompiledJob } from '../graph/types.js';
import { cacheVolumeName } from '../mounts/cache-volume-name.js';
import { cacheKind, type PlannedCacheMount } from '../mounts/kinds/cache.js';
import type { AcquireMountsContext } from '../mounts/kinds/index.js';
import type { DockerMount } from '../runtime/containers.js';

/** The volume mount of each cache, by id. */
export async function acquireServiceCaches(
  job: CompiledJob,
  caches: readonly CompiledCacheMount[],
  ctx: AcquireMountsContext,
): Promise<ReadonlyMap<string, string>> {
  if (caches.length === 0) return new Map();
  const planned: PlannedCacheMount[] = caches.map((mount) => ({
    kind: 'cache',
    mount,
    volume: cacheVolumeName(ctx.graph.project, mount.id),
  }));
  const engineMount = await cacheKind.acquire(planned, { ...job, name: `${job.name}:services` }, ctx);
  const volumes = new Map<string, string>();
  for (const p of planned) {
    const made = engineMount(p);
    if ('mount' in made && made.mount.Source !== undefined) volumes.set(p.mount.id, made.mount.Source);
  }
  return volumes;
}

/** A service's cache mounts, on the volumes acquired. */
export function serviceCacheMounts(
  caches: readonly CompiledCacheMount[],
  volumes: ReadonlyMap<string, string>,
): DockerMount[] {
  return caches.map((mount) => ({
    Type: 'volume',
    Source: volumes.get(mount.id)!,
    Target: mount.target,
    ReadOnly: mount.readonly,
    VolumeOptions: { NoCopy: false },
  }));
}
