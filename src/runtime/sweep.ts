/**
 * No orphans: what a run creates carries its run id and the pid and host of the kiln process that owns
 * it. At start, kiln sweeps what belongs to runs whose process is gone; never what belongs to a live run,
 * a reused container or a cache. `kiln prune` removes kiln's containers (reused ones with `--all`) and
 * unused run-scoped volumes.
 */
import type Docker from 'dockerode';
import { Label, ownerIsGone } from '../labels.js';
import { describeHolder, readLockState } from '../mounts/cache-locks.js';
import { stateDir } from '../state-dir.js';
import { dockerMessage, statusOf, translate } from './docker-errors.js';
import type { Engine } from './engine.js';
import { containerLockPath } from './reuse.js';

export interface SweptResource {
  readonly kind: 'container' | 'volume';
  readonly id: string;
  readonly name: string;
  readonly run?: string;
  readonly scope?: string;
  readonly project?: string;
}

async function listManaged(
  docker: Docker,
): Promise<{ containers: Docker.ContainerInfo[]; volumes: Docker.VolumeInspectInfo[] }> {
  const filters = { label: [`${Label.managed}=true`] };
  const [containers, volumes] = await Promise.all([
    docker.listContainers({ all: true, filters }),
    docker.listVolumes({ filters }),
  ]);
  return { containers, volumes: volumes.Volumes ?? [] };
}

function describeContainer(c: Docker.ContainerInfo): SweptResource {
  const labels = c.Labels ?? {};
  return {
    kind: 'container',
    id: c.Id,
    name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''),
    ...(labels[Label.run] ? { run: labels[Label.run] } : {}),
    ...(labels[Label.scope] ? { scope: labels[Label.scope] } : {}),
    ...(labels[Label.project] ? { project: labels[Label.project] } : {}),
  };
}

function describeVolume(v: Docker.VolumeInspectInfo): SweptResource {
  const labels = v.Labels ?? {};
  return {
    kind: 'volume',
    id: v.Name,
    name: v.Name,
    ...(labels[Label.run] ? { run: labels[Label.run] } : {}),
    ...(labels[Label.scope] ? { scope: labels[Label.scope] } : {}),
    ...(labels[Label.project] ? { project: labels[Label.project] } : {}),
  };
}

async function removeContainer(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (error) {
    // Gone already, or another kiln is removing it at this moment (409 "removal already in progress").
    const status = statusOf(error);
    if (status === 404 || (status === 409 && /already in progress/i.test(dockerMessage(error)))) return;
    throw error;
  }
}

async function removeVolume(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getVolume(name).remove();
    return true;
  } catch (error) {
    const status = statusOf(error);
    if (status === 404) return true;
    if (status === 409) return false; // still in use
    throw error;
  }
}

/** Removes run-scoped containers and volumes whose owning kiln process is gone. Returns what it removed. */
export async function sweepOrphans(engine: Engine): Promise<SweptResource[]> {
  const { docker } = engine;
  try {
    const { containers, volumes } = await listManaged(docker);
    const removed: SweptResource[] = [];
    for (const c of containers) {
      if (c.Labels?.[Label.scope] !== 'run' || !ownerIsGone(c.Labels)) continue;
      await removeContainer(docker, c.Id);
      removed.push(describeContainer(c));
    }
    for (const v of volumes) {
      if (v.Labels?.[Label.scope] !== 'run' || !ownerIsGone(v.Labels)) continue;
      if (await removeVolume(docker, v.Name)) removed.push(describeVolume(v));
    }
    return removed;
  } catch (error) {
    throw translate(error, 'sweeping what dead runs left', engine.endpoint);
  }
}

export interface PruneOptions {
  /** Also remove reused containers. Default false. */
  readonly all?: boolean;
  /** Only list what would be removed. Default false. */
  readonly dryRun?: boolean;
  /** Where reused containers' locks are (a reused container a run holds is kept). Default stateDir(). */
  readonly stateDirectory?: string;
  /** Told of each container kept because a run uses it. */
  readonly onKept?: (resource: SweptResource, reason: string) => void;
}

/**
 * Removes kiln's containers (not those of live runs; reused ones only with `all`) and unused run-scoped
 * volumes. Caches are pruned by the mounts' own cache pruning.
 */
export async function pruneContainers(engine: Engine, options: PruneOptions = {}): Promise<SweptResource[]> {
  const { docker } = engine;
  try {
    const { containers, volumes } = await listManaged(docker);
    const chosen: SweptResource[] = [];
    for (const c of containers) {
      const scope = c.Labels?.[Label.scope];
      if (scope === 'reuse' && !options.all) continue;
      if (scope === 'reuse') {
        // A run that holds a reused container would see its step killed under it.
        const name = describeContainer(c).name;
        const lock = await readLockState(containerLockPath(options.stateDirectory ?? stateDir(), name));
        if (lock.kind === 'held' || lock.kind === 'unknown') {
          const who = lock.kind === 'held' ? describeHolder(lock.holder) : 'a kiln process taking it';
          options.onKept?.(describeContainer(c), `in use by ${who}`);
          continue;
        }
      }
      if (scope === 'run' && !ownerIsGone(c.Labels) && c.Labels?.[Label.pid] !== undefined) {
        // A live run's container is left to that run.
        continue;
      }
      if (!options.dryRun) await removeContainer(docker, c.Id);
      chosen.push(describeContainer(c));
    }
    for (const v of volumes) {
      if (v.Labels?.[Label.scope] !== 'run') continue;
      if (!ownerIsGone(v.Labels)) continue;
      if (options.dryRun || (await removeVolume(docker, v.Name))) chosen.push(describeVolume(v));
    }
    return chosen;
  } catch (error) {
    throw translate(error, 'pruning kiln containers', engine.endpoint);
  }
}
