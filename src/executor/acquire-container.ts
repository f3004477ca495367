/**
 * The job's container, from its plan and its acquired mounts: reused (in reuse mode, under its lock,
 * when it matches), else created; its release is pushed before it is started, so that one that fails to
 * start is removed all the same. A reused container is not removed at the end but handed over: no
 * process or secret of this run outlives it.
 */
import type { Emit } from '../events.js';
import type { PreparedMounts } from '../mounts/types.js';
import type { ReleaseStack } from '../release.js';
import type { Engine } from '../runtime/engine.js';
import { handOver } from '../runtime/hand-over.js';
import {
  createJobContainer,
  JobContainer,
  startJobContainer,
  type JobContainerSpec,
} from '../runtime/job-container.js';
import { decideReuse } from '../runtime/reuse.js';
import { KILN_VERSION } from '../runtime/version.js';
import type { JobPlan } from './plan-job.js';
import { reuseFingerprint } from './reuse-fingerprint.js';
import { lockReusedContainer } from './reuse-lock.js';

export interface AcquireContainerContext {
  readonly engine: Pick<Engine, 'containers' | 'exec'>;
  readonly project: string;
  readonly runId: string;
  readonly emit: Emit;
  readonly stack: ReleaseStack;
  /** Waiting for a reused container held by another run stops with a CancelledError when this aborts. */
  readonly signal: AbortSignal;
  /** kiln's state folder, where reused containers' lock files are. */
  readonly stateDirectory: string;
}

export async function acquireContainer(
  plan: JobPlan,
  mounts: PreparedMounts,
  ctx: AcquireContainerContext,
): Promise<JobContainer> {
  const { job } = plan;
  const { engine } = ctx;
  const spec = containerSpec(plan, mounts, ctx);
  let id: string | undefined;
  let recreated: string | undefined;
  if (spec.reuse) {
    const { name, fingerprint } = spec.reuse;
    await lockReusedContainer({ ...ctx, name, derived: plan.reuse!.derived, job: job.name });
    const decision = await decideReuse(engine, { ...spec, name, fingerprint });
    if (decision.kind === 'reuse') id = decision.id;
    if (decision.kind === 'recreate') {
      recreated = decision.reason;
      ctx.emit({
        type: 'warning',
        job: job.name,
        message: `reused container ${name} is recreated: ${recreated}`,
      });
      await engine.containers.remove(decision.id, `container ${name}`);
    }
  }
  const reused = id !== undefined;
  id ??= await createJobContainer(engine, spec);
  const shortId = id.slice(0, 12);
  const name = spec.reuse?.name ?? shortId;
  pushRelease(id, name, spec, ctx);
  if (!reused) await startJobContainer(engine, id, spec);
  ctx.emit({
    type: reused ? 'container.reuse' : recreated ? 'container.recreate' : 'container.create',
    job: job.name,
    container: shortId,
    ...(spec.reuse ? { name } : {}),
    ...(recreated ? { reason: recreated } : {}),
  });
  return new JobContainer(engine, id, name, reused, job.name, plan.secretDirs);
}

function containerSpec(
  plan: JobPlan,
  mounts: PreparedMounts,
  ctx: AcquireContainerContext,
): JobContainerSpec {
  const { job } = plan;
  const fingerprint = reuseFingerprint({
    imageId: plan.imageId,
    mounts: mounts.mounts,
    tmpfs: plan.tmpfs,
    kilnVersion: KILN_VERSION,
    ...(job.network ? { network: job.network } : {}),
    ...(job.user ? { user: job.user } : {}),
  });
  return {
    project: ctx.project,
    job: job.name,
    runId: ctx.runId,
    image: job.image,
    imageId: plan.imageId,
    mounts: mounts.mounts,
    tmpfs: plan.tmpfs,
    ...(job.network ? { network: job.network } : {}),
    workdirs: plan.workdirs,
    ...(plan.reuse ? { reuse: { name: plan.reuse.name, fingerprint } } : {}),
  };
}

/**
 * A run's container is removed. A reused one lives on, but no process or secret of this run may outlive
 * it: one that cannot be emptied (a step removed its shell, say) goes, and the next run makes it afresh.
 */
function pushRelease(id: string, name: string, spec: JobContainerSpec, ctx: AcquireContainerContext): void {
  const { engine } = ctx;
  if (spec.reuse) {
    ctx.stack.push('container', name, async () => {
      const handed = await handOver(engine, id, []).catch(() => undefined);
      if (handed?.code !== 0) await engine.containers.remove(id).catch(() => {});
    });
  } else {
    ctx.stack.push('container', name, async () => {
      await engine.containers.remove(id);
    });
  }
}
