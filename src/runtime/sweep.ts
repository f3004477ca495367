/**
 * No orphans: what a run creates carries its run id and the pid and host of the kiln process that owns
 * it (and, on an engine many hosts share, the name of its run's keeper: keepers.ts). At start, kiln sweeps
 * what belongs to runs whose process is gone; never what belongs to a live run, a reused container or a
 * cache. (`kiln prune`, in executor/prune-containers.ts, removes more.)
 */
import { Label, MANAGED_FILTER, ownerIsGone } from '../labels.js';
import type { ContainerSummary } from './containers.js';
import type { Engine } from './engine.js';
import type { NetworkRuntime, NetworkSummary } from './networks.js';
import type { VolumeInfo } from './volumes.js';

export interface SweptResource {
  readonly kind: 'container' | 'volume' | 'network';
  readonly id: string;
  readonly name: string;
  readonly run?: string;
  readonly scope?: string;
  readonly project?: string;
}

/** Everything kiln made on the engine (labelled `dev.kiln.managed=true`). */
export async function listManaged(
  engine: Pick<Engine, 'containers' | 'volumes'>,
): Promise<{ containers: ContainerSummary[]; volumes: VolumeInfo[] }> {
  const [containers, volumes] = await Promise.all([
    engine.containers.list(MANAGED_FILTER.label),
    engine.volumes.list(MANAGED_FILTER.label),
  ]);
  return { containers, volumes };
}

function ownership(labels: Readonly<Record<string, string>>): Partial<SweptResource> {
  return {
    ...(labels[Label.run] ? { run: labels[Label.run] } : {}),
    ...(labels[Label.scope] ? { scope: labels[Label.scope] } : {}),
    ...(labels[Label.project] ? { project: labels[Label.project] } : {}),
  };
}

export function describeContainer(c: ContainerSummary): SweptResource {
  return { kind: 'container', id: c.id, name: c.name, ...ownership(c.labels) };
}

export function describeVolume(v: VolumeInfo): SweptResource {
  return { kind: 'volume', id: v.name, name: v.name, ...ownership(v.labels) };
}

/**
 * Is this a run-scoped resource whose kiln process is gone? `liveKeepers`: the keepers that run (see
 * liveKeepers), which tell of another host's runs.
 */
export function isOrphan(
  labels: Readonly<Record<string, string>>,
  liveKeepers?: ReadonlySet<string>,
): boolean {
  const scope = labels[Label.scope];
  // A lock container (engine-locks.ts) is its holder's, as a run's container is its run's.
  return (scope === 'run' || scope === 'lock') && ownerIsGone(labels, liveKeepers);
}

/**
 * The names of the keepers that run on the engine (keepers.ts), or undefined when it keeps none. Ask after
 * listing the resources to judge: a run starts its keeper before it makes anything, so a resource listed
 * before has its keeper in this answer while its run lives.
 */
export async function liveKeepers(engine: Pick<Engine, 'keepers'>): Promise<ReadonlySet<string> | undefined> {
  return engine.keepers ? engine.keepers.live() : undefined;
}

/**
 * Removes run-scoped containers and volumes whose owning kiln process is gone (of this host: its pid is
 * gone; of another host: its run's keeper no longer runs). Returns what it removed.
 */
export async function sweepOrphans(
  engine: Pick<Engine, 'containers' | 'volumes' | 'keepers'> & Partial<Pick<Engine, 'networks'>>,
): Promise<SweptResource[]> {
  const { containers, volumes } = await listManaged(engine);
  const live = await liveKeepers(engine);
  const removed: SweptResource[] = [];
  for (const c of containers) {
    if (!isOrphan(c.labels, live)) continue;
    await engine.containers.remove(c.id);
    removed.push(describeContainer(c));
  }
  for (const v of volumes) {
    if (!isOrphan(v.labels, live)) continue;
    if ((await engine.volumes.remove(v.name)) !== 'in-use') removed.push(describeVolume(v));
  }
  if (engine.networks) removed.push(...(await removeOrphanNetworks(engine.networks, live)));
  return removed;
}

/**
 * Removes the networks of jobs with services (services/) whose run is gone, once their containers are
 * (an orphan's containers were removed before): those still in use are left for a later sweep.
 */
export async function removeOrphanNetworks(
  networks: NetworkRuntime,
  live: ReadonlySet<string> | undefined,
  options: { readonly dryRun?: boolean; readonly project?: string } = {},
): Promise<SweptResource[]> {
  const removed: SweptResource[] = [];
  for (const n of await networks.list(MANAGED_FILTER.label)) {
    if (!isOrphan(n.labels, live)) continue;
    if (options.project !== undefined && n.labels[Label.project] !== options.project) continue;
    if (options.dryRun || (await networks.remove(n.id)) !== 'in-use') removed.push(describeNetwork(n));
  }
  return removed;
}

export function describeNetwork(n: NetworkSummary): SweptResource {
  return { kind: 'network', id: n.id, name: n.name, ...ownership(n.labels) };
}
