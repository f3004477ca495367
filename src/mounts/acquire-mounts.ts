/**
 * acquireMounts: makes what a job's mount plan needs (cache volumes, their locks, the registrations of
 * shared caches' users) and reads its secrets' values; every acquire pushes its release on the job's
 * stack. Then it tells one `mount.prepare` per mount, in the plan's order.
 */
import { outputMount } from '../runtime/output-volumes.js';
import { hostname } from 'node:os';
import { cancelledError } from '../errors.js';
import type { Emit, MountPrepareEvent } from '../events.js';
import type { BuildGraph, CompiledCacheMount, CompiledJob } from '../graph/types.js';
import type { ReleaseStack } from '../release.js';
import type { VolumeRuntime } from '../runtime/volumes.js';
import { stateDir } from '../state-dir.js';
import {
  acquireCacheLock,
  cacheLockPath,
  registerCacheUser,
  type CacheLock,
  type LockOwner,
} from '../lock-files.js';
import { recordCacheUse } from './cache-usage.js';
import { cacheVolumeName } from './cache-volume-name.js';
import { ensureCacheVolume } from './cache-volumes.js';
import { describeMount } from './describe-mount.js';
import type { RunSecrets } from './run-secrets.js';
import type { DockerMount, MountPlan, PreparedMounts, PreparedSecret, PreparedStepMounts } from './types.js';

export interface AcquireMountsContext {
  /** Where cache volumes are made. */
  readonly volumes: VolumeRuntime;
  /** Gives the project folder and the project name. */
  readonly graph: BuildGraph;
  readonly runId: string;
  /** Receives `mount.prepare` per mount (and per step for secret and ssh), `mount.wait` while a lock is held. */
  readonly emit: Emit;
  /** Every release (cache locks, registrations) is pushed here. */
  readonly stack: ReleaseStack;
  /** Waiting for a cache lock stops with a CancelledError when this is aborted. */
  readonly signal: AbortSignal;
  /** For the state folder (`KILN_STATE_DIR`...). Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** The run's secrets, which planMounts read: their values. */
  readonly secrets: RunSecrets;
}

export async function acquireMounts(
  job: CompiledJob,
  plan: MountPlan,
  ctx: AcquireMountsContext,
): Promise<PreparedMounts> {
  const caches = plan.container.flatMap((p) => (p.kind === 'cache' ? [p.mount] : []));
  const volumes = await acquireCaches(job, caches, ctx);
  const steps = await secretValues(plan, ctx.secrets);

  const mounts: DockerMount[] = [];
  const tmpfs: Record<string, string> = {};
  const tell = (mount: MountPrepareEvent['mount'], target: string, source?: string, step?: string) =>
    ctx.emit({
      type: 'mount.prepare',
      job: job.name,
      ...(step === undefined ? {} : { step }),
      mount,
      target,
      ...(source === undefined ? {} : { source }),
    });
  for (const planned of plan.container) {
    const { mount } = planned;
    if (planned.kind === 'bind') {
      mounts.push({
        Type: 'bind',
        Source: planned.hostPath,
        Target: mount.target,
        ReadOnly: planned.mount.readonly,
      });
      tell('bind', mount.target, planned.hostPath);
    } else if (planned.kind === 'cache') {
      const volume = volumes.get(planned.mount.id)!;
      mounts.push({
        Type: 'volume',
        Source: volume,
        Target: mount.target,
        ReadOnly: planned.mount.readonly,
        VolumeOptions: { NoCopy: false },
      });
      tell('cache', mount.target, volume);
    } else if (planned.kind === 'output') {
      mounts.push(outputMount(planned.volume, mount.target, true));
      tell('bind', mount.target, planned.volume);
    } else {
      tmpfs[mount.target] = planned.options;
      tell('tmpfs', mount.target);
    }
  }
  mounts.push(...plan.sshBinds);
  for (const step of job.steps) {
    const prepared = steps[step.index]!;
    for (const secret of prepared.secrets) tell('secret', secret.target, secret.id, step.name);
    for (const ssh of prepared.ssh) tell('ssh', ssh.target, ssh.id, step.name);
  }
  return { mounts, tmpfs, steps };
}

/** The plan's step mounts with their secrets' values (read once per run, by planMounts already). */
async function secretValues(plan: MountPlan, secrets: RunSecrets): Promise<PreparedStepMounts[]> {
  return Promise.all(
    plan.steps.map(async (step) => ({
      ssh: step.ssh,
      secrets: await Promise.all(
        step.secrets.map(async (secret): Promise<PreparedSecret> => {
          const resolution = await secrets.resolve(secret.id)!;
          if (!resolution.found) throw new Error(`secret ${secret.id} was planned but has no value`);
          return { ...secret, value: resolution.value };
        }),
      ),
    })),
  );
}

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
        mount: describeMount(mount, projectDir),
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
  const hold = (volume: string, lock: CacheLock) => ctx.stack.push('lock', volume, () => lock.release());
  if (mount.sharing === 'locked') {
    const volume = cacheVolumeName(project, mount.id);
    const lock = await acquireCacheLock({
      path: cacheLockPath(directory, volume),
      owner,
      wait: true,
      signal: ctx.signal,
      onWait: (holder, heldForMs, path) =>
        ctx.emit({ type: 'mount.wait', job: job.name, cache: mount.id, holder, heldForMs, lock: path }),
    });
    hold(volume, lock!);
    return volume;
  }
  if (mount.sharing === 'private') {
    for (let slot = 0; ; slot++) {
      const volume = cacheVolumeName(project, mount.id, slot);
      const lock = await acquireCacheLock({ path: cacheLockPath(directory, volume), owner, wait: false });
      if (lock !== undefined) {
        hold(volume, lock);
        return volume;
      }
    }
  }
  return cacheVolumeName(project, mount.id);
}
