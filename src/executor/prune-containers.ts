/**
 * `kiln prune`'s containers and run volumes: kiln's containers (reused ones only with `all`, and never
 * one a run holds), and run-scoped volumes whose run is gone. Caches are pruned by mounts/cache-volumes.ts.
 */
import { Label, ownerIsGone } from '../labels.js';
import { describeHolder, readLockState } from '../lock-files.js';
import {
  describeContainer,
  describeVolume,
  isOrphan,
  listManaged,
  liveKeepers,
  removeOrphanNetworks,
  type SweptResource,
} from '../runtime/sweep.js';
import type { ContainerSummary } from '../runtime/containers.js';
import { describeLockHolder, lockContainerName } from '../runtime/engine-locks.js';
import type { Engine } from '../runtime/engine.js';
import { stateDir } from '../state-dir.js';
import { containerLockPath } from './reuse-lock.js';

export interface PruneOptions {
  /** Also remove reused containers. Default false. */
  readonly all?: boolean;
  /** Only list what would be removed. Default false. */
  readonly dryRun?: boolean;
  /** Where reused containers' locks are (a reused container a run holds is kept). Default stateDir(). */
  readonly stateDirectory?: string;
  /** Told of each container kept because a run uses it. */
  readonly onKept?: (resource: SweptResource, reason: string) => void;
  /** Only what is labelled with this project (`kiln prune --project`). Default: every project. */
  readonly project?: string;
}

/** Why a reused container must be kept (a run holds its lock), or undefined when it may go. */
async function heldBy(name: string, stateDirectory: string): Promise<string | undefined> {
  const lock = await readLockState(containerLockPath(stateDirectory, name));
  if (lock.kind === 'held') return `in use by ${describeHolder(lock.holder)}`;
  if (lock.kind === 'unknown') return 'in use by a kiln process taking it';
  return undefined;
}

/** Why a reused container must be kept (a live run holds its lock container), or undefined. */
function heldOnEngine(
  name: string,
  containers: readonly ContainerSummary[],
  live: ReadonlySet<string> | undefined,
): string | undefined {
  const lock = containers.find((c) => c.name === lockContainerName(name) && c.labels[Label.scope] === 'lock');
  if (lock === undefined || ownerIsGone(lock.labels, live)) return undefined;
  return `in use by ${describeLockHolder(lock.labels)}`;
}

/**
 * Removes kiln's containers (not those of live runs; reused ones only with `all`, and not while a run
 * holds them), unused run-scoped volumes and the networks of dead runs' jobs with services, of every project or of `options.project`. Returns what it removed (or, in a dry run, would).
 */
export async function pruneContainers(
  engine: Pick<Engine, 'containers' | 'volumes' | 'keepers'> & Partial<Pick<Engine, 'networks'>>,
  options: PruneOptions = {},
): Promise<SweptResource[]> {
  const managed = await listManaged(engine);
  const ofProject = (labels: Readonly<Record<string, string>>) =>
    options.project === undefined || labels[Label.project] === options.project;
  const containers = managed.containers.filter((c) => ofProject(c.labels));
  const volumes = managed.volumes.filter((v) => ofProject(v.labels));
  const live = await liveKeepers(engine);
  const chosen: SweptResource[] = [];
  for (const c of containers) {
    const scope = c.labels[Label.scope];
    // A keeper goes when its run ends, and a lock when its holder releases it or another run finds it
    // stale: a running keeper is a live run, and a lock is its holder's.
    if (scope === 'keeper' && live?.has(c.name)) continue;
    if (scope === 'lock' && !ownerIsGone(c.labels, live)) continue;
    if (scope === 'reuse') {
      if (!options.all) continue;
      // A run that holds a reused container would see its step killed under it.
      const kept =
        heldOnEngine(c.name, containers, live) ??
        (await heldBy(c.name, options.stateDirectory ?? stateDir()));
      if (kept !== undefined) {
        options.onKept?.(describeContainer(c), kept);
        continue;
      }
    }
    // A live run's container is left to that run.
    if (scope === 'run' && !ownerIsGone(c.labels, live) && c.labels[Label.pid] !== undefined) continue;
    if (!options.dryRun) await engine.containers.remove(c.id);
    chosen.push(describeContainer(c));
  }
  for (const v of volumes) {
    if (!isOrphan(v.labels, live)) continue;
    if (options.dryRun || (await engine.volumes.remove(v.name)) !== 'in-use') chosen.push(describeVolume(v));
  }
  // The networks of dead runs' jobs with services, once their containers are gone.
  if (engine.networks) {
    chosen.push(
      ...(await removeOrphanNetworks(engine.networks, live, {
        ...(options.dryRun ? { dryRun: true } : {}),
        ...(options.project !== undefined ? { project: options.project } : {}),
      })),
    );
  }
  return chosen;
}
