/**
 * acquireMounts: makes what a job's mount plan needs, each kind its own (cache volumes, their locks, the
 * registrations of shared caches' users; secrets' values), every acquire pushing its release on the
 * job's stack. Then it tells one `mount.prepare` per mount, in the plan's order.
 */
import type { MountPrepareEvent } from '../events.js';
import type { CompiledJob } from '../graph/types.js';
import { CONTAINER_MOUNT_KINDS, containerMountKind, STEP_MOUNT_KINDS } from './kinds/index.js';
import type { AcquireMountsContext, EngineMount } from './kinds/kind.js';
import type {
  ContainerFile,
  DockerMount,
  MountPlan,
  PlannedMount,
  PreparedMounts,
  PreparedStepMounts,
} from './types.js';

export type { AcquireMountsContext } from './kinds/kind.js';

export async function acquireMounts(
  job: CompiledJob,
  plan: MountPlan,
  ctx: AcquireMountsContext,
): Promise<PreparedMounts> {
  const engineMounts = new Map<string, (planned: PlannedMount) => EngineMount>();
  for (const kind of CONTAINER_MOUNT_KINDS) {
    const planned = plan.container.filter((p) => p.kind === kind.type);
    engineMounts.set(kind.type, await containerMountKind(kind.type).acquire(planned, job, ctx));
  }
  const steps = await prepareSteps(plan, ctx);

  const mounts: DockerMount[] = [];
  const files: ContainerFile[] = [];
  const tmpfs: Record<string, string> = {};
  const tell = (
    mount: MountPrepareEvent['mount'],
    target: string,
    source?: string,
    step?: string,
    uploadedBytes?: number,
  ) =>
    ctx.emit({
      type: 'mount.prepare',
      job: job.name,
      ...(step === undefined ? {} : { step }),
      mount,
      target,
      ...(source === undefined ? {} : { source }),
      ...(uploadedBytes === undefined ? {} : { uploadedBytes }),
    });
  for (const planned of plan.container) {
    const given = engineMounts.get(planned.kind)!(planned);
    const { target } = planned.mount;
    if ('tmpfs' in given) tmpfs[target] = given.tmpfs;
    else if ('file' in given) files.push(given.file);
    else mounts.push(given.mount);
    const uploaded = 'uploadedBytes' in given ? given.uploadedBytes : undefined;
    const source = 'source' in given ? given.source : undefined;
    tell(containerMountKind(planned.kind).event, target, source, undefined, uploaded);
  }
  mounts.push(...plan.sshBinds);
  for (const step of job.steps) {
    const prepared = steps[step.index]!;
    for (const kind of STEP_MOUNT_KINDS) {
      for (const entry of prepared[kind.list]) tell(kind.event, entry.target, entry.id, step.name);
    }
  }
  return { mounts, tmpfs, steps, ...(files.length > 0 ? { files } : {}) };
}

/** The plan's step mounts made ready, each by its kind (a secret's value, read once per run already). */
async function prepareSteps(plan: MountPlan, ctx: AcquireMountsContext): Promise<PreparedStepMounts[]> {
  return Promise.all(
    plan.steps.map(async (step) => {
      const lists = await Promise.all(
        STEP_MOUNT_KINDS.map(async (kind) => {
          // Each kind prepares the entries of its own list, which the type system cannot tie to the loop.
          const prepare = kind.prepare as (planned: unknown, ctx: AcquireMountsContext) => Promise<unknown>;
          return [kind.list, await Promise.all(step[kind.list].map((p) => prepare(p, ctx)))] as const;
        }),
      );
      return Object.fromEntries(lists) as unknown as PreparedStepMounts;
    }),
  );
}
